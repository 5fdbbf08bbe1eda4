"""The client side against a real `switchboard serve`: the CLI's registry commands (register,
services, instances, drain, heartbeat, deregister) checked through the admin API itself, one-line
errors with exit 1 (the server said no) or 2 (bad usage), `call` balancing over real backends, and
the C++ client library's registration lifecycle (client_lifecycle_check)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from harness import AdminApi, RefusingPort, make_config, switchboard_bin, wait_until


def cli(*args, admin=None, env=None, timeout=20):
    """Runs `switchboard ARGS [--admin ADMIN]` to completion."""
    argv = [switchboard_bin(), *args]
    if admin is not None:
        argv += ["--admin", admin]
    full_env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_ADMIN"}
    full_env.update(env or {})
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    assert result.stderr == "", result.stderr
    return result.stdout


def one_error_line(result, code):
    assert result.returncode == code, f"exit {result.returncode}, wanted {code}: {result.stderr!r}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one stderr line, got:\n{result.stderr}"
    assert lines[0].startswith("switchboard: "), lines[0]
    return lines[0]


def table(stdout):
    """(rows, header) of a CLI table as lists of cells (columns are two or more spaces apart)."""
    lines = stdout.splitlines()
    return [re.split(r"\s{2,}", line.strip()) for line in lines[1:]], re.split(r"\s{2,}", lines[0])


class Registry:
    """A switchboard with no static services, its admin address for the CLI, and a raw API client
    to check what the CLI did independently of the client library."""

    def __init__(self, sb):
        self.sb = sb
        self.admin = f"127.0.0.1:{sb.admin_port}"
        self.api = AdminApi(sb.admin_port)

    def run(self, *args, **kwargs):
        return cli(*args, admin=self.admin, **kwargs)

    def instance(self, service, id):
        return self.api.instances(service).get(id)


@pytest.fixture
def registry(switchboard):
    sb = switchboard(config=make_config([]))
    assert sb.admin_port, "no 'admin listening on' line"
    reg = Registry(sb)
    yield reg
    reg.api.close()


def test_register_list_and_deregister(registry):
    # Repeatable flags take one value each, so they may come before the positionals too.
    out = ok(registry.run("register", "--tag", "blue", "web", "web-1", "--address", "127.0.0.1",
                          "--port", "9101", "--weight", "3", "--tag", "v2", "--meta", "zone=eu=1",
                          "--ttl", "30s", "--route", "/api", "--route", "shop.example/cart"))
    assert out == "registered web/web-1 at 127.0.0.1:9101 (passing)\n"
    stored = registry.instance("web", "web-1")
    assert stored["weight"] == 3 and stored["tags"] == ["blue", "v2"]
    assert stored["meta"] == {"zone": "eu=1"} and stored["ttl"] == "30s"
    assert stored["routes"] == [{"path_prefix": "/api"}, {"host": "shop.example", "path_prefix": "/cart"}]
    ok(registry.run("register", "web", "web-2", "--address", "127.0.0.1", "--port", "9102"))
    assert registry.instance("web", "web-2")["ttl"] is None  # the CLI's default: never expires
    ok(registry.run("register", "api", "api-1", "--address", "127.0.0.1", "--port", "9103"))

    rows, header = table(ok(registry.run("services")))
    assert header == ["SERVICE", "PASSING", "TOTAL"]
    assert rows == [["api", "1", "1"], ["web", "2", "2"]]
    assert json.loads(ok(registry.run("services", "--json"))) == {"services": [
        {"name": "api", "passing": 1, "total": 1}, {"name": "web", "passing": 2, "total": 2}]}

    rows, header = table(ok(registry.run("instances", "web")))
    assert header == ["ID", "ADDRESS", "WEIGHT", "STATE", "LAST HEARTBEAT", "TAGS"]
    assert [r[:4] + r[5:] for r in rows] == [["web-1", "127.0.0.1:9101", "3", "passing", "blue,v2"],
                                            ["web-2", "127.0.0.1:9102", "1", "passing", "-"]]
    assert all(r[4].endswith(" ago") for r in rows)
    listing = json.loads(ok(registry.run("instances", "web", "--json")))
    assert listing["service"] == "web" and listing["index"] > 0
    first = listing["instances"][0]
    assert (first["id"], first["port"], first["weight"], first["ttl"]) == ("web-1", 9101, 3, "30s")
    assert first["routes"][1] == {"host": "shop.example", "path_prefix": "/cart"}

    # Re-registering is an update, not a second instance.
    ok(registry.run("register", "web", "web-2", "--address", "127.0.0.1", "--port", "9202"))
    assert registry.instance("web", "web-2")["port"] == 9202
    assert len(registry.api.instances("web")) == 2

    assert ok(registry.run("deregister", "web", "web-1")) == "deregistered web/web-1\n"
    assert registry.instance("web", "web-1") is None
    assert json.loads(ok(registry.run("deregister", "web", "web-2", "--json"))) == {
        "service": "web", "id": "web-2", "action": "deregister"}
    line = one_error_line(registry.run("instances", "web"), 1)
    assert '"web"' in line and "unknown service" in line


def test_drain_undrain_and_heartbeat(registry):
    ok(registry.run("register", "web", "a", "--address", "127.0.0.1", "--port", "9101"))
    ok(registry.run("register", "web", "b", "--address", "127.0.0.1", "--port", "9102", "--ttl", "1s"))
    assert ok(registry.run("drain", "web", "a")) == "draining web/a\n"
    assert registry.instance("web", "a")["state"] == "draining"
    rows, _ = table(ok(registry.run("instances", "web")))
    assert [r[3] for r in rows][0] == "draining"
    ok(registry.run("undrain", "web", "a"))
    assert registry.instance("web", "a")["state"] == "passing"

    # Nobody heartbeats b: it turns critical after its ttl; one heartbeat makes it passing again.
    wait_until(lambda: registry.instance("web", "b")["state"] == "critical", timeout=10,
               message="b to turn critical")
    assert json.loads(ok(registry.run("services", "--json")))["services"] == [
        {"name": "web", "passing": 1, "total": 2}]
    assert ok(registry.run("heartbeat", "web", "b")) == "heartbeat sent for web/b\n"
    assert registry.instance("web", "b")["state"] == "passing"

    for command in ("drain", "undrain", "heartbeat", "deregister"):
        line = one_error_line(registry.run(command, "web", "nope"), 1)
        assert '"nope"' in line and "unknown instance" in line, line


def test_admin_address_from_env_and_failover(registry):
    ok(cli("register", "web", "a", "--address", "127.0.0.1", "--port", "9101",
           env={"SWITCHBOARD_ADMIN": registry.admin}))
    refusing = RefusingPort()
    try:
        # The first address refuses: the command goes on to the next one.
        out = ok(cli("services", "--json", admin=f"{refusing.addr},{registry.admin}"))
        assert json.loads(out)["services"][0]["name"] == "web"
        line = one_error_line(cli("services", admin=refusing.addr), 1)
        assert "unreachable" in line and refusing.addr in line
        # --admin wins over the environment.
        ok(cli("services", admin=registry.admin, env={"SWITCHBOARD_ADMIN": refusing.addr}))
    finally:
        refusing.close()


REG = ["register", "web", "web-1", "--address", "127.0.0.1", "--port", "9101"]
BAD_USAGE = [
    (["register", "web", "bad id", "--address", "127.0.0.1", "--port", "9101"], "id"),
    (["register", "Web!", "x", "--address", "127.0.0.1", "--port", "9101"], "service"),
    (["register", "web", "web-1", "--address", "127.0.0.1", "--port", "70000"], "--port"),
    (["register", "web", "web-1", "--address", "127.0.0.1"], "--port"),
    (["register", "web", "web-1", "--port", "9101"], "--address"),
    (REG + ["--weight", "0"], "weight"),
    (REG + ["--ttl", "0s"], "ttl"),
    (REG + ["--ttl", "soon"], "--ttl"),
    (REG + ["--route", "api"], "--route"),
    (REG + ["--meta", "novalue"], "--meta"),
    (REG + ["--timeout", "fast"], "--timeout"),
    (["register", "web"], "ID"),
    (["call", "web", "no-slash"], "PATH"),
    (["call", "web", "/", "-H", "no colon"], "header"),
    (["instances"], "SERVICE"),
    (["services", "--bogus"], "--bogus"),
]


@pytest.mark.parametrize("argv,needle", BAD_USAGE, ids=[" ".join(a) for a, _ in BAD_USAGE])
def test_bad_usage_is_one_line_and_exit_2(registry, argv, needle):
    line = one_error_line(registry.run(*argv), 2)
    assert needle.lower() in line.lower(), line


def test_bad_admin_flag_and_unknown_command():
    assert "--admin" in one_error_line(cli("services", admin="nonsense"), 2)
    line = one_error_line(cli("regsiter", "web"), 2)
    assert "regsiter" in line and "register" in line and "call" in line


def test_call_round_robins_over_passing_instances(registry, nginx_backends):
    nginx = nginx_backends(3)
    for i, addr in enumerate(nginx.addrs):
        host, port = addr.split(":")
        ok(registry.run("register", "web", f"web-{i}", "--address", host, "--port", port))

    out = ok(registry.run("call", "web", "/hello", "-n", "6"))
    seen = out.split()
    assert sorted(seen) == ["backend-0", "backend-0", "backend-1", "backend-1", "backend-2", "backend-2"]
    assert seen[:3] == seen[3:]  # a rotation: every instance once per round

    answers = [json.loads(line) for line in ok(registry.run("call", "web", "/x", "-n", "3", "--json")).splitlines()]
    assert {a["instance"] for a in answers} == {"web-0", "web-1", "web-2"}
    for a in answers:
        assert a["status"] == 200
        assert a["body"] == f"backend-{a['instance'][-1]}\n"
        assert a["address"] == nginx.addrs[int(a["instance"][-1])]

    # Separate invocations start at a random place, so they spread too.
    starts = set()
    wait_until(lambda: starts.add(ok(registry.run("call", "web", "/")).strip()) or len(starts) >= 2,
               timeout=20, message="one-shot calls landing on more than one instance")

    ok(registry.run("drain", "web", "web-1"))
    assert set(ok(registry.run("call", "web", "/", "-n", "4")).split()) == {"backend-0", "backend-2"}

    # A registered instance nobody listens on: skipped, the call still succeeds.
    refusing = RefusingPort()
    try:
        ok(registry.run("register", "web", "dead", "--address", "127.0.0.1", "--port", str(refusing.port)))
        assert set(ok(registry.run("call", "web", "/", "-n", "6")).split()) == {"backend-0", "backend-2"}
    finally:
        refusing.close()


def test_call_sends_method_headers_and_body(registry, echo_backend):
    echo = echo_backend("echo")
    ok(registry.run("register", "echo", "e1", "--address", "127.0.0.1", "--port", str(echo.port)))
    out = ok(registry.run("call", "-H", "X-Trace: abc", "echo", "/submit?x=1", "-d", "hello",
                          "-H", "Content-Type: text/plain"))
    seen = json.loads(out)
    assert seen["method"] == "POST" and seen["target"] == "/submit?x=1"  # -d implies POST, as curl
    headers = {k.lower(): v for k, v in seen["headers"]}
    assert headers["x-trace"] == "abc" and headers["content-type"] == "text/plain"
    assert seen["body_len"] == 5 and seen["body_sha256"] == hashlib.sha256(b"hello").hexdigest()
    assert json.loads(ok(registry.run("call", "echo", "/", "-X", "DELETE")))["method"] == "DELETE"


def test_call_failures_exit_1(registry, nginx_backends):
    assert "unknown service" in one_error_line(registry.run("call", "nosuch", "/"), 1)

    nginx = nginx_backends(1)
    host, port = nginx.addrs[0].split(":")
    ok(registry.run("register", "web", "web-0", "--address", host, "--port", port))
    # An error status: the body is still printed, and the exit status says it failed.
    result = registry.run("call", "web", "/500")
    line = one_error_line(result, 1)
    assert result.stdout == "broken backend-0\n"
    assert "web-0" in line and "500" in line

    ok(registry.run("drain", "web", "web-0"))
    assert "no passing instance" in one_error_line(registry.run("call", "web", "/"), 1)

    refusing = RefusingPort()
    try:
        ok(registry.run("register", "dead", "d1", "--address", "127.0.0.1", "--port", str(refusing.port)))
        line = one_error_line(registry.run("call", "dead", "/"), 1)
        assert "d1" in line and "refused" in line.lower()
    finally:
        refusing.close()


def test_client_library_registration_lifecycle(registry):
    """Registration registers, heartbeats keep it passing past its ttl (while an unheartbeated
    twin turns critical), a 404 heartbeat re-registers, the Resolver follows changes and stops at
    once, and the destructor deregisters (tests/integration/client_lifecycle.cpp)."""
    check = Path(switchboard_bin()).parent / "client_lifecycle_check"
    assert check.exists(), f"{check} not built (it is built with the unit tests)"
    result = subprocess.run([str(check), registry.admin], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert result.stdout.count("ok ") == 8, result.stdout
