"""The example services (examples/): the patch runner alone (patches, errors, path confinement, the
per-target file lock across threads and processes, the fail-open Redis cache), then runners that
register with switchboard, called by the relay (client-side round robin) and through the proxy."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import re
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from harness import REPO, AdminApi, Abort, free_port, switchboard_bin, wait_until

# CMake puts the examples in build/<preset>/examples/, beside the switchboard binary.
EXAMPLES_BIN = Path(switchboard_bin()).resolve().parent / "examples"
RUNNER_BIN = EXAMPLES_BIN / "runner"
RELAY_BIN = EXAMPLES_BIN / "relay"
RUNNER_LISTEN_RE = re.compile(r"runner (\S+) listening on http://([0-9.]+):(\d+)")


# --------------------------------------------------------------------------------------------
# Processes


class Runner:
    """One runner process; stderr goes to a file in the test's directory."""

    def __init__(self, workdir: Path, root: Path, args=()):
        if not RUNNER_BIN.exists():
            raise AssertionError(f"runner binary not found at {RUNNER_BIN} (build the examples)")
        workdir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = workdir / "runner.stderr"
        self._err = open(self.stderr_path, "wb")
        self.argv = [str(RUNNER_BIN), "--root", str(root), *args]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._err, cwd=workdir)
        self.id = None
        self.port = None
        self.returncode = None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_listening(self, timeout=10.0):
        def listening():
            m = RUNNER_LISTEN_RE.search(self.stderr())
            if m:
                return m
            if self.proc.poll() is not None:
                raise Abort(f"runner exited with {self.proc.returncode}:\n{self.stderr()}")
            return None

        m = wait_until(listening, timeout, message="the runner's 'listening on' line")
        self.id, self.port = m.group(1), int(m.group(3))
        return self

    def signal_and_wait(self, sig=signal.SIGTERM, timeout=10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.returncode = self.proc.wait()
            raise AssertionError(f"runner {self.id} ignored signal {sig}:\n{self.stderr()}") from None
        finally:
            self._err.close()
        return self.returncode

    def stop(self):
        if self.returncode is not None:
            return
        crashed = self.proc.poll() is not None
        rc = self.signal_and_wait()
        if crashed or rc != 0:
            tail = "\n".join(self.stderr().splitlines()[-15:])
            raise AssertionError(f"runner {self.id} exited with {rc}:\n{tail}")


class RedisServer:
    """A throwaway redis-server on a free loopback port, nothing persisted."""

    def __init__(self, workdir: Path, port=None):
        exe = shutil.which("redis-server")
        if exe is None:
            raise AssertionError("redis-server not installed (scripts/install-deps.sh installs it)")
        workdir.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            self.port = port or free_port()
            self.log = workdir / f"redis-{self.port}.log"
            self.proc = subprocess.Popen(
                [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(workdir), "--logfile", str(self.log)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_until(self._answers, 10, message="redis-server answering PING")
                return
            except AssertionError:
                self.stop()
                if port is not None:
                    raise
        raise AssertionError("redis-server could not bind a port")

    def _answers(self):
        if self.proc.poll() is not None:
            raise Abort("redis-server exited")
        return redis_command(self.port, "PING") == "PONG"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def redis_command(port, *args):
    """One RESP command over a fresh connection; returns a str, None (nil) or raises."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(out)
        f = s.makefile("rb")
        line = f.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else f.read(n + 2)[:n].decode()
        raise RuntimeError(f"unexpected redis reply {line!r}")


def run_relay(admin_port, *args, cwd=None, timeout=60):
    if not RELAY_BIN.exists():
        raise AssertionError(f"relay binary not found at {RELAY_BIN} (build the examples)")
    return subprocess.run([str(RELAY_BIN), "--admin", f"127.0.0.1:{admin_port}", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


# --------------------------------------------------------------------------------------------
# HTTP


def call(port, method, path, body=None, conn=None):
    """(status, headers, parsed JSON) for one request; `conn` reuses a keep-alive connection."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(data)
    finally:
        if own:
            conn.close()


def run_patch(port, task_file, conn=None):
    status, _, body = call(port, "POST", "/run-patch", {"file": task_file}, conn)
    return status, body


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def root(tmp_path):
    """A runner root holding a copy of the shipped example tasks and documents."""
    r = tmp_path / "root"
    shutil.copytree(REPO / "examples" / "tasks", r / "tasks")
    shutil.copytree(REPO / "examples" / "docs", r / "docs")
    return r


@pytest.fixture
def runner(procs, root):
    """runner(*args, root=root) -> a started Runner; SIGTERMed (and checked for exit 0) at teardown."""
    def start(*args, root=root):
        r = procs.add(Runner(procs.tmp_dir / f"runner-{next(procs.counter)}", root, args))
        return r.wait_listening()

    return start


def write_json(path: Path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


# --------------------------------------------------------------------------------------------
# The runner alone


def test_run_patch_applies_the_shipped_task_and_writes_the_target(runner, root):
    r = runner("--admin", "off")
    assert r.id == f"runner-{r.port}"  # the default id
    conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=15)
    status, body = run_patch(r.port, "tasks/add-item.json", conn)
    assert status == 200, body
    assert body["instance"] == r.id
    assert body["file"] == "tasks/add-item.json"
    assert body["target"] == "docs/inventory.json"
    assert body["result"]["items"] == [{"name": "widget", "qty": 1}]
    assert "cached" not in body  # no --redis
    assert json.loads((root / "docs" / "inventory.json").read_text()) == body["result"]
    # Same keep-alive connection, second task on the document.
    status, body = run_patch(r.port, "tasks/add-item.json", conn)
    assert status == 200 and len(body["result"]["items"]) == 2
    status, _, health = call(r.port, "GET", "/health", conn=conn)
    assert (status, health) == (200, {"instance": r.id, "status": "ok"})
    conn.close()
    # Neither a temporary nor anything but the lock sidecar is left beside the target.
    assert sorted(p.name for p in (root / "docs").iterdir()) == [".inventory.json.lock", "inventory.json"]


def test_run_patch_errors_say_why(runner, root):
    r = runner("--admin", "off", "--id", "r-err")
    (root / "tasks" / "not-json.json").write_text("{ nope")
    write_json(root / "tasks" / "no-target.json", {"patch": []})
    write_json(root / "tasks" / "patch-not-array.json", {"target": "docs/inventory.json", "patch": {}})
    write_json(root / "tasks" / "missing-target.json", {"target": "docs/nothing.json", "patch": []})
    write_json(root / "tasks" / "bad-doc.json", {"target": "docs/broken.json", "patch": []})
    (root / "docs" / "broken.json").write_text("[1, 2,")
    write_json(root / "tasks" / "bad-op.json", {"target": "docs/inventory.json", "patch": [{"op": "jump", "path": "/x"}]})
    write_json(root / "tasks" / "missing-path.json",
               {"target": "docs/inventory.json", "patch": [{"op": "remove", "path": "/nothing/here"}]})

    cases = [
        ("tasks/absent.json", 404, "tasks/absent.json"),
        ("tasks", 404, "tasks"),  # a directory is not a readable task file
        ("tasks/not-json.json", 400, "not valid JSON"),
        ("tasks/no-target.json", 400, '"target" must be a string'),
        ("tasks/patch-not-array.json", 400, '"patch" must be an array'),
        ("tasks/missing-target.json", 404, "docs/nothing.json"),
        ("tasks/bad-doc.json", 400, "docs/broken.json"),
        ("tasks/bad-op.json", 400, "does not apply"),
        ("tasks/missing-path.json", 400, "does not apply"),
        ("tasks/wrong-owner.json", 400, "does not apply"),  # a failed "test" operation
    ]
    for task, want_status, want_reason in cases:
        status, body = run_patch(r.port, task)
        assert status == want_status, (task, body)
        assert want_reason in body["error"], (task, body)
        assert body["instance"] == "r-err"

    status, _, body = call(r.port, "POST", "/run-patch", "{not json")
    assert status == 400 and "not valid JSON" in body["error"]
    for bad in ({}, {"file": 7}, ["tasks/add-item.json"]):
        status, _, body = call(r.port, "POST", "/run-patch", bad)
        assert status == 400 and '{"file"' in body["error"], bad
    status, headers, body = call(r.port, "GET", "/run-patch")
    assert status == 405 and headers["allow"] == "POST", body
    status, headers, _ = call(r.port, "POST", "/health", {})
    assert status == 405 and headers["allow"] == "GET"
    status, _, body = call(r.port, "GET", "/nowhere")
    assert status == 404 and "/nowhere" in body["error"]


def test_paths_must_stay_under_the_root(runner, root, tmp_path):
    r = runner("--admin", "off")
    outside = tmp_path / "outside.json"
    write_json(outside, {"target": "docs/inventory.json", "patch": []})
    (root / "tasks" / "link-out.json").symlink_to(outside)
    write_json(root / "tasks" / "target-up.json", {"target": "../outside.json", "patch": []})
    write_json(root / "tasks" / "target-abs.json", {"target": str(outside), "patch": []})
    write_json(root / "tasks" / "target-sneaky.json", {"target": "docs/../../outside.json", "patch": []})
    before = outside.read_text()
    for task in ["../outside.json", str(outside), "tasks/../../outside.json", "tasks/link-out.json",
                 "tasks/target-up.json", "tasks/target-abs.json", "tasks/target-sneaky.json", ""]:
        status, body = run_patch(r.port, task)
        assert status == 400, (task, body)
        assert any(w in body["error"] for w in ("escapes the root", "absolute", "outside the root", "empty")), body
    assert outside.read_text() == before


def test_failed_patch_leaves_target_unchanged_and_releases_the_lock(runner, root):
    r = runner("--admin", "off", "--workers", "1")  # one worker: a lock left held would hang the next task
    target = root / "docs" / "inventory.json"
    before = target.read_bytes()
    status, body = run_patch(r.port, "tasks/wrong-owner.json")
    assert status == 400 and "test" in body["error"], body
    assert target.read_bytes() == before
    # The same target again: the lock was released on the error path.
    status, body = run_patch(r.port, "tasks/add-item.json")
    assert status == 200, body
    assert len(json.loads(target.read_text())["items"]) == 1
    assert sorted(p.name for p in target.parent.iterdir()) == [".inventory.json.lock", "inventory.json"]


def test_concurrent_patches_across_two_runners_serialize_on_the_target(runner, root):
    n = 50
    write_json(root / "docs" / "shared.json", {"items": []})
    for i in range(n):
        write_json(root / "tasks" / f"append-{i}.json",
                   {"target": "docs/shared.json", "patch": [{"op": "add", "path": "/items/-", "value": i}]})
    a = runner("--admin", "off", "--id", "lock-a", "--workers", "8")
    b = runner("--admin", "off", "--id", "lock-b", "--workers", "8")

    def one(i):
        return run_patch((a, b)[i % 2].port, f"tasks/append-{i}.json")

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(one, range(n)))
    assert all(status == 200 for status, _ in answers), [b for s, b in answers if s != 200][:3]
    assert Counter(body["instance"] for _, body in answers) == {"lock-a": n // 2, "lock-b": n // 2}
    # Each patch saw every earlier one: the lengths it produced are exactly 1..n, no two alike.
    assert sorted(len(body["result"]["items"]) for _, body in answers) == list(range(1, n + 1))
    final = json.loads((root / "docs" / "shared.json").read_text())
    assert sorted(final["items"]) == list(range(n))


def test_redis_cache_fails_open_and_logs_each_outage_once(runner, root, procs):
    redis = procs.add(RedisServer(procs.tmp_dir / "redis"))
    r = runner("--admin", "off", "--redis", f"127.0.0.1:{redis.port}")
    key = "runner:result:docs/inventory.json"

    status, body = run_patch(r.port, "tasks/add-item.json")
    assert status == 200 and body["cached"] is True, body
    assert json.loads(redis_command(redis.port, "GET", key)) == body["result"]

    redis.stop()
    timings = []
    for _ in range(6):
        started = time.monotonic()
        status, body = run_patch(r.port, "tasks/add-item.json")
        timings.append(time.monotonic() - started)
        assert status == 200 and body["cached"] is False, body
    assert max(timings) < 2.0, timings
    assert len(json.loads((root / "docs" / "inventory.json").read_text())["items"]) == 7

    def outage_lines():
        return [line for line in r.stderr().splitlines() if "redis" in line and "unavailable" in line]

    assert len(outage_lines()) == 1, r.stderr()

    # Back on the same port: caching resumes (the runner retries at most once a second)...
    redis = procs.add(RedisServer(procs.tmp_dir / "redis", port=redis.port))
    wait_until(lambda: run_patch(r.port, "tasks/add-item.json")[1].get("cached") is True, timeout=10,
               interval=0.2, message="caching to resume after redis came back")
    assert json.loads(redis_command(redis.port, "GET", key)) == json.loads((root / "docs" / "inventory.json").read_text())
    assert "is back" in r.stderr()
    # ...and a second outage is logged once more.
    redis.stop()
    for _ in range(3):
        status, body = run_patch(r.port, "tasks/add-item.json")
        assert status == 200 and body["cached"] is False
    assert len(outage_lines()) == 2, r.stderr()


def test_runner_exits_cleanly_on_sigint_and_rejects_bad_flags(runner, root, tmp_path):
    r = runner("--admin", "off")
    assert r.signal_and_wait(signal.SIGINT) == 0
    for bad in (["--listen", "nohost"], ["--ttl", "soon"], ["--redis", "127.0.0.1:99999"]):
        proc = subprocess.run([str(RUNNER_BIN), "--root", str(root), "--admin", "off", *bad],
                              capture_output=True, text=True, timeout=10)
        assert proc.returncode == 2, (bad, proc.stderr)
        assert bad[0] in proc.stderr
    proc = subprocess.run([str(RUNNER_BIN), "--root", str(tmp_path / "absent"), "--admin", "off"],
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2 and "--root" in proc.stderr


# --------------------------------------------------------------------------------------------
# With switchboard: registration, the relay, the proxy


def passing_ids(admin, service="runner"):
    return {i for i, inst in admin.instances(service).items() if inst.get("state") == "passing"}


@pytest.fixture
def cluster(switchboard, runner):
    """switchboard (registry only, one worker) and three runners registered with it."""
    sb = switchboard(args=["--threads", "1"])
    assert sb.admin_port, sb.stderr()
    admin = AdminApi(sb.admin_port)
    runners = [runner("--admin", f"127.0.0.1:{sb.admin_port}", "--id", f"runner-{c}") for c in "abc"]
    wait_until(lambda: passing_ids(admin) == {"runner-a", "runner-b", "runner-c"}, timeout=10,
               message="three runners registered and passing")
    yield sb, admin, runners
    admin.close()


def test_runners_register_their_address_and_route(cluster):
    sb, admin, runners = cluster
    instances = admin.instances("runner")
    for r in runners:
        inst = instances[r.id]
        assert (inst["address"], inst["port"]) == ("127.0.0.1", r.port)
        assert [route["path_prefix"] for route in inst["routes"]] == ["/run-patch"]


def test_relay_round_robins_over_the_registered_runners(cluster, root):
    sb, _, _ = cluster
    proc = run_relay(sb.admin_port, "--count", "30", "--file", "tasks/add-item.json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 31, proc.stdout
    assert lines[-1] == "summary: runner-a=10 runner-b=10 runner-c=10 (30 tasks, 0 failed)"
    # One line per answer, and consecutive answers come from different runners.
    picked = [line.split()[1] for line in lines[:-1]]
    assert all(x != y for x, y in zip(picked, picked[1:])), picked
    assert len(json.loads((root / "docs" / "inventory.json").read_text())["items"]) == 30

    # A single task prints the runner's whole answer.
    proc = run_relay(sb.admin_port, "--file", "tasks/set-owner.json")
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["instance"] in {"runner-a", "runner-b", "runner-c"}
    assert answer["result"]["reviewed"] is True


def test_proxy_routes_run_patch_to_the_runners_round_robin(cluster, root):
    sb, _, _ = cluster
    counts = Counter()
    for _ in range(30):
        status, _, body = call(sb.port, "POST", "/run-patch", {"file": "tasks/add-item.json"})
        assert status == 200, body
        counts[body["instance"]] += 1
    assert counts == {"runner-a": 10, "runner-b": 10, "runner-c": 10}
    assert len(json.loads((root / "docs" / "inventory.json").read_text())["items"]) == 30


def test_sigterm_deregisters_the_runner(cluster):
    sb, admin, runners = cluster
    gone = runners[1]
    assert gone.signal_and_wait(signal.SIGTERM) == 0, gone.stderr()
    assert "deregistered" in gone.stderr()
    # Deregistration happens before the process exits, so no waiting for a TTL.
    assert "runner-b" not in admin.instances("runner")
    proc = run_relay(sb.admin_port, "--count", "4", "--file", "tasks/add-item.json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "summary: runner-a=2 runner-c=2 (4 tasks, 0 failed)"
    counts = Counter(call(sb.port, "POST", "/run-patch", {"file": "tasks/add-item.json"})[2]["instance"]
                     for _ in range(4))
    assert counts == {"runner-a": 2, "runner-c": 2}


def test_runner_refuses_to_start_when_it_cannot_register(root, refusing_port):
    proc = subprocess.run([str(RUNNER_BIN), "--root", str(root), "--admin", refusing_port().addr],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert "cannot register" in proc.stderr and "--admin off" in proc.stderr
