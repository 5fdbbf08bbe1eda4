"""Shared pieces of the proxy benchmarks: backends, the three proxies, process accounting, cleanup.

Used by proxy_compare.py and idle_connections.py. Standard library only (runs on /usr/bin/python3).
Every process started here lives in its own session so that cleanup can kill the whole tree
(nginx master + worker) by process group, whatever way the script ends.
"""

import atexit
import http.client
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
# The release build of this checkout (/work/main/build/release/switchboard on the dev machine).
DEFAULT_SB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "build", "release", "switchboard")

# Request paths on the backends; the proxies forward them unchanged, so all three proxies see the
# same path for a given BODY.
BODY_PATHS = {"0": "/", "1k": "/1k", "64k": "/64k"}
BODY_SIZES = {"1k": 1024, "64k": 65536}
SMALL_BODY = "hello, world\n"  # what `return 200` sends for BODY=0

_children = []  # subprocess.Popen, in start order


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_float(name, default):
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def env_str(name, default):
    value = os.environ.get(name, "")
    return value if value.strip() else default


# ---------------------------------------------------------------------------------------------
# process lifecycle


def _kill_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop(proc, grace=3.0):
    """Stops a process started by spawn() and everything in its process group."""
    if proc.poll() is None:
        _kill_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # nginx workers can outlive a master killed hard; the group catches them too.
    _kill_group(proc, signal.SIGKILL)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f"warning: pid {proc.pid} did not exit")
    if proc in _children:
        _children.remove(proc)


def cleanup():
    for proc in reversed(list(_children)):
        stop(proc, grace=2.0)


def _on_signal(signum, _frame):
    # Turn the signal into an exception so `finally` blocks and atexit run and every child dies.
    log(f"{signal.Signals(signum).name}: stopping and cleaning up")
    raise SystemExit(128 + signum)


def install_cleanup(max_seconds=None):
    """Kill all children on exit, on SIGINT/SIGTERM/SIGHUP and after max_seconds (time bound)."""
    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    if max_seconds:
        def _on_alarm(_signum, _frame):
            log(f"error: run exceeded its time bound of {int(max_seconds)} s; stopping")
            raise SystemExit(124)
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(int(max_seconds))


def spawn(cmd, cpu, logfile, cwd=None):
    """Starts cmd pinned to `cpu` (taskset execs it, so the pid is the command's own)."""
    out = open(logfile, "ab")
    full = ["taskset", "-c", str(cpu)] + list(cmd) if cpu is not None else list(cmd)
    proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            cwd=cwd, start_new_session=True)
    out.close()
    _children.append(proc)
    return proc


def make_tempdir(prefix):
    keep = os.environ.get("KEEP_TMP", "0") == "1"
    path = tempfile.mkdtemp(prefix=prefix)
    if keep:
        log(f"keeping temp dir {path}")
    else:
        atexit.register(shutil.rmtree, path, True)
    return path


def free_ports(count):
    """Ports the kernel considers free right now; all held open together so they are distinct."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def http_get(port, path, timeout=2.0):
    """(status, body) of one GET, or (None, error text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException) as exc:
        return None, str(exc).encode()
    finally:
        conn.close()


def wait_http(proc, port, path, want_status=200, timeout=8.0):
    """Polls until GET path answers want_status; returns None on success or a reason string."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            rc = proc.returncode
            return f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
        status, body = http_get(port, path, timeout=1.0)
        if status == want_status:
            return None
        last = f"status {status}: {body[:80]!r}" if status else body.decode(errors="replace")[:120]
        time.sleep(0.1)
    return f"GET {path} on port {port} did not return {want_status} within {timeout:.0f} s ({last})"


def tail(path, lines=15):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# /proc accounting


def process_tree(root_pid):
    """root_pid and all its descendants (nginx: master + worker)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(tree)


def cpu_ticks(pids):
    """utime+stime in clock ticks summed over pids (each covers all of that process's threads).
    Returns (ticks, pids that have gone away)."""
    total, gone = 0, []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            gone.append(pid)
            continue
        # Fields after the parenthesised comm; utime and stime are fields 14 and 15 of the line.
        rest = stat[stat.rindex(b")") + 2:].split()
        total += int(rest[11]) + int(rest[12])
    return total, gone


def cpu_busy_ticks():
    """{cpu index: user+nice+system ticks} from /proc/stat. irq/softirq are left out because the
    kernel accounts them to no process, so they cannot be split between ours and others'."""
    busy = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                user, nice, system = (int(x) for x in fields[:3])
                busy[int(name[3:])] = user + nice + system
    return busy


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def machine_line():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} CPUs, Linux {os.uname().release}, "
            f"{time.strftime('%Y-%m-%d %H:%M %Z')}")


def tool_version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
        text = (out.stdout + out.stderr).strip().splitlines()
        return text[0] if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------
# backends and proxies

# Paths nginx would otherwise take from its compiled-in prefix (/var/lib/nginx, /var/log/nginx);
# keeping them in the temp dir means no state leaks and no clash with a system nginx.
_NGINX_COMMON = """
daemon off;
master_process on;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_processes 1;
worker_rlimit_nofile {nofile};
events {{ worker_connections {conns}; }}
"""

_NGINX_HTTP_COMMON = """
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy_temp;
    fastcgi_temp_path {dir}/fastcgi_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
    # wrk and the proxies keep their connections for a whole run; nginx's default of 1000
    # requests per connection would add reconnects to one proxy and not the others.
    keepalive_requests 1000000;
    keepalive_timeout 300s;
"""


def _nofile_budget(conns):
    # nginx sets soft and hard limit to this; above our hard limit that fails (no CAP_SYS_RESOURCE).
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want = max(conns + 1024, 4096)
    return want if hard == resource.RLIM_INFINITY else min(want, hard)


def start_backends(tmp, ports, cpu, conns=4096, extra_locations=""):
    """One nginx, one worker, listening on every port in `ports`. `extra_locations`: more nginx
    `location` blocks for the server (registry_bench.py answers its routed prefixes this way)."""
    d = os.path.join(tmp, "backend")
    docroot = os.path.join(d, "www")
    os.makedirs(docroot)
    for name, size in BODY_SIZES.items():
        with open(os.path.join(docroot, name), "wb") as f:
            f.write(b"x" * (size - 1) + b"\n")
    listens = "\n".join(f"        listen 127.0.0.1:{p};" for p in ports)
    conf = _NGINX_COMMON.format(dir=d, nofile=_nofile_budget(conns), conns=conns) + f"""
http {{
{_NGINX_HTTP_COMMON.format(dir=d)}
    default_type application/octet-stream;
    sendfile on;
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 600s;
    server {{
{listens}
        root {docroot};
        location = / {{ return 200 "{SMALL_BODY.strip()}\\n"; }}
        location = /lb-health {{ return 200 "ok\\n"; }}
{extra_locations}
        location / {{ }}
    }}
}}
"""
    conf_path = os.path.join(d, "nginx.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    proc = spawn(["nginx", "-p", d, "-e", os.path.join(d, "error.log"), "-c", conf_path], cpu,
                 os.path.join(d, "stdout.log"))
    for port in ports:
        for path in ["/", "/1k", "/64k"]:
            reason = wait_http(proc, port, path)
            if reason:
                raise RuntimeError(f"backend nginx not serving: {reason}\n"
                                   f"{tail(os.path.join(d, 'error.log'))}")
    return proc


def start_nginx_proxy(tmp, port, backends, cpu, conns=4096):
    d = tempfile.mkdtemp(prefix="nginx-", dir=tmp)  # a proxy may be started more than once
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in backends)
    conf = _NGINX_COMMON.format(dir=d, nofile=_nofile_budget(conns), conns=conns) + f"""
http {{
{_NGINX_HTTP_COMMON.format(dir=d)}
    upstream backends {{
{servers}
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""
    conf_path = os.path.join(d, "nginx.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    proc = spawn(["nginx", "-p", d, "-e", os.path.join(d, "error.log"), "-c", conf_path], cpu,
                 os.path.join(d, "stdout.log"))
    return proc, os.path.join(d, "error.log")


def start_haproxy(tmp, port, backends, cpu, conns=4096):
    d = tempfile.mkdtemp(prefix="haproxy-", dir=tmp)  # a proxy may be started more than once
    servers = "\n".join(f"    server s{i} 127.0.0.1:{p}" for i, p in enumerate(backends, 1))
    # HAProxy wants 2 fds per connection (client + server side) and by default refuses to start
    # when setrlimit cannot give it that (no CAP_SYS_RESOURCE in containers); idle client
    # connections need only one, so a warning is enough.
    conf = f"""global
    nbthread 1
    maxconn {conns + 1024}
    no strict-limits

defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s

frontend fe
    bind 127.0.0.1:{port}
    default_backend be

backend be
    balance roundrobin
    http-reuse always
{servers}
"""
    conf_path = os.path.join(d, "haproxy.cfg")
    with open(conf_path, "w") as f:
        f.write(conf)
    log_path = os.path.join(d, "haproxy.log")
    proc = spawn(["haproxy", "-db", "-f", conf_path], cpu, log_path)
    return proc, log_path


def start_switchboard(tmp, port, backends, cpu, sb_path, extra_args=()):
    d = tempfile.mkdtemp(prefix="switchboard-", dir=tmp)  # a proxy may be started more than once
    log_path = os.path.join(d, "switchboard.log")
    cmd = [sb_path, "serve", "--listen", f"127.0.0.1:{port}",
           "--backends", ",".join(f"127.0.0.1:{p}" for p in backends),
           "--threads", "1", "--access-log", "off", *extra_args]
    # cwd is the temp dir so any default state file (registry database, ...) lands there.
    proc = spawn(cmd, cpu, log_path, cwd=d)
    return proc, log_path


class Proxy:
    """A started proxy: name, port, process, the log to show when it misbehaves."""

    def __init__(self, name, port, proc, log_path):
        self.name, self.port, self.proc, self.log_path = name, port, proc, log_path
        self.pids = [proc.pid]

    def refresh_pids(self):
        self.pids = process_tree(self.proc.pid)
        return self.pids


def start_proxy(name, tmp, port, backends, cpu, path, conns=4096):
    """Starts one proxy and checks it forwards `path`; returns a Proxy or None (reason logged).

    switchboard is optional (it may not be built yet): a missing binary or a failed health check
    skips it; nginx or HAProxy failing is an error."""
    if name == "sb":
        sb_path = os.path.abspath(env_str("SB", DEFAULT_SB))  # it runs with its temp dir as cwd
        if not (os.path.isfile(sb_path) and os.access(sb_path, os.X_OK)):
            log(f"skipping switchboard: no executable at {sb_path} (build it, or set SB=...)")
            return None
        extra = env_str("SB_ARGS", "").split()
        proc, log_path = start_switchboard(tmp, port, backends, cpu, sb_path, extra)
        checks = [("/lb-health", 200), (path, 200)]
    elif name == "nginx":
        proc, log_path = start_nginx_proxy(tmp, port, backends, cpu, conns)
        checks = [(path, 200)]
    elif name == "haproxy":
        proc, log_path = start_haproxy(tmp, port, backends, cpu, conns)
        checks = [(path, 200)]
    else:
        raise ValueError(f"unknown proxy {name!r} (want sb, nginx or haproxy)")
    for check_path, status in checks:
        reason = wait_http(proc, port, check_path, status)
        if reason:
            stop(proc)
            msg = f"{name}: {reason}\n--- {log_path} (tail) ---\n{tail(log_path)}"
            if name == "sb":
                log(f"skipping switchboard: {msg}")
                return None
            raise RuntimeError(msg)
    proxy = Proxy(name, port, proc, log_path)
    # nginx forks its worker after the master is up; let it settle before reading the tree.
    time.sleep(0.2)
    proxy.refresh_pids()
    return proxy


DISPLAY = {"sb": "switchboard", "nginx": "nginx", "haproxy": "HAProxy"}


# ---------------------------------------------------------------------------------------------
# reports


def publish(md_lines, results_dir, name):
    """Prints the markdown report and writes it to results_dir/<date>-<name>.md, never
    overwriting an earlier run of the same day (-2, -3, ... instead). Returns the path."""
    text = "\n".join(md_lines) + "\n"
    print(text)
    os.makedirs(results_dir, exist_ok=True)
    stem = os.path.join(results_dir, time.strftime("%Y-%m-%d") + "-" + name)
    path, n = stem + ".md", 2
    while os.path.exists(path):
        path, n = f"{stem}-{n}.md", n + 1
    with open(path, "w") as f:
        f.write(text)
    log(f"written to {path}")
    return path


def run_main(main):
    """The scripts' entry point: a RuntimeError is a one-line error and exit status 1."""
    try:
        main()
    except RuntimeError as exc:
        log(f"error: {exc}")
        sys.exit(1)

