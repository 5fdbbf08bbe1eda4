"""Structured logs: `--log-format json` (or `log: {format: json}`) writes one JSON object per
line (time in UTC, level, message, and event/service/instance/id on state changes); every state
change of an instance is one line — registry (registered, drained, undrained, critical, passing,
expired, deregistered), passive health (marked_down, back), outlier detection (ejected, returned)
and active checks (check_down, check_up); the dashboard's feed keeps the events in both formats;
a reload may switch the format; bad values exit 2 naming the key."""

import json
import re
import urllib.request

import pytest

from harness import AdminApi, make_config, run_switchboard, service, wait_until
from rawhttp import request

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def json_lines(sb):
    """Every stderr line, parsed: each must be one JSON object."""
    lines = [line for line in sb.stderr().splitlines() if line.strip()]
    out = []
    for line in lines:
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        out.append(obj)
    return out


def events(sb, kind, **fields):
    return [line for line in json_lines(sb) if line.get("event") == kind
            and all(line.get(k) == v for k, v in fields.items())]


def one_event(sb, kind, timeout=5, **fields):
    """Waits for the line of `kind` with `fields`, and checks there is exactly one."""
    found = wait_until(lambda: events(sb, kind, **fields), timeout, message=f"a {kind} line {fields}")
    assert len(found) == 1, found
    return found[0]


def test_json_lines_lead_with_time_level_and_message(switchboard, nginx_backends):
    nginx = nginx_backends(1)
    sb = switchboard(["--log-format", "json"], config=make_config([service("web", nginx.addrs)]))
    lines = json_lines(sb)
    assert lines, "no log line"
    for line in lines:
        assert list(line)[:3] == ["time", "level", "message"], line
        assert TIME_RE.match(line["time"]), line
        assert line["level"] in ("trace", "debug", "info", "warning", "error", "critical"), line
    assert any(line["message"].startswith("proxy listening on http://127.0.0.1:") for line in lines)


def test_registry_state_changes_are_one_json_line_each(switchboard, nginx_backends):
    nginx = nginx_backends(1)
    host, port = nginx.addrs[0].split(":")
    sb = switchboard(["--log-format", "json"],
                     config=make_config([], registry={"deregister_after": "1s"}))
    api = AdminApi(sb.admin_port)
    where = {"service": "web", "instance": nginx.addrs[0]}

    assert api.register("web", "w0", host, int(port), ttl="1s")[0] in (200, 201)
    line = one_event(sb, "registered", id="w0", **where)
    assert line["level"] == "info" and line["message"] == f"registry: web/w0 registered at {host}:{port}"
    for _ in range(2):  # a second drain changes nothing, so it says nothing
        assert api.call("POST", "/v1/services/web/instances/w0/drain")[0] == 200
    one_event(sb, "drained", id="w0", **where)
    assert api.call("POST", "/v1/services/web/instances/w0/undrain")[0] == 200
    one_event(sb, "undrained", id="w0", **where)

    assert one_event(sb, "critical", timeout=5, id="w0", **where)["level"] == "warning"
    assert api.call("PUT", "/v1/services/web/instances/w0/heartbeat")[0] == 200
    one_event(sb, "passing", id="w0", **where)
    # Critical again, then gone after deregister_after.
    assert one_event(sb, "expired", timeout=8, id="w0", **where)["level"] == "warning"
    assert len(events(sb, "critical", id="w0")) == 2

    assert api.register("web", "w1", host, int(port))[0] in (200, 201)
    assert api.call("DELETE", "/v1/services/web/instances/w1")[0] == 200
    one_event(sb, "deregistered", id="w1", **where)
    api.close()


def test_proxy_health_state_changes_are_one_json_line_each(switchboard, nginx_backends,
                                                          refusing_port):
    nginx = nginx_backends(3)
    dead = refusing_port()
    checked = nginx_backends(1)
    (checked.files / "health").write_text("ok\n")
    passive = service("passive", [dead.addr, nginx.addrs[0]])
    passive["health"] = {"max_fails": 1, "fail_timeout": "300ms"}
    outlier = service("outlier", nginx.addrs[1:])
    outlier["health"] = {"max_fails": 0}
    outlier["outlier"] = {"consecutive_5xx": 2, "base_ejection_time": "300ms",
                          "max_ejection_percent": 50}
    active = service("active", [checked.addrs[0], nginx.addrs[0]])
    active["health"] = {"max_fails": 0, "check": {"path": "/files/health", "interval": "100ms",
                                                  "timeout": "100ms", "rise": 1, "fall": 1}}
    sb = switchboard(["--log-format", "json"], config=make_config(
        [passive, outlier, active],
        routes=[{"path_prefix": "/p", "service": "passive", "strip_prefix": True},
                {"path_prefix": "/o", "service": "outlier", "strip_prefix": True},
                {"path_prefix": "/", "service": "active"}]))

    # Passive health: the refused instance is marked down (the request moves on), and the first
    # request after fail_timeout finds it back.
    assert request(sb.port, path="/p/").status == 200
    line = one_event(sb, "marked_down", service="passive", instance=dead.addr)
    assert line["level"] == "warning" and "marked down for 300 ms" in line["message"]
    wait_until(lambda: request(sb.port, path="/p/").status == 200 and
               events(sb, "back", service="passive", instance=dead.addr), 5, message="back")
    one_event(sb, "back", service="passive", instance=dead.addr)

    # Outlier detection: two 5xx in a row on each instance eject the first; the second may not go
    # too (50 %), and says so; the first returns after its ejection time.
    for _ in range(4):
        assert request(sb.port, path="/o/500").status == 500
    ejected = one_event(sb, "ejected", service="outlier")
    assert ejected["instance"] in nginx.addrs[1:] and ejected["level"] == "warning"
    wait_until(lambda: request(sb.port, path="/o/").status == 200 and
               events(sb, "returned", service="outlier", instance=ejected["instance"]), 5,
               message="returned")
    one_event(sb, "returned", service="outlier", instance=ejected["instance"])

    # Active checks: down when the check fails, up when it passes again.
    (checked.files / "health").unlink()
    one_event(sb, "check_down", service="active", instance=checked.addrs[0])
    (checked.files / "health").write_text("ok\n")
    one_event(sb, "check_up", service="active", instance=checked.addrs[0])


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_dashboard_feed_keeps_events_in_both_formats(switchboard, nginx_backends, fmt):
    nginx = nginx_backends(1)
    host, port = nginx.addrs[0].split(":")
    sb = switchboard(config=make_config([], log={"format": fmt}))
    api = AdminApi(sb.admin_port)
    assert api.register("web", "w0", host, int(port))[0] in (200, 201)
    api.close()
    if fmt == "text":
        assert "info registry: web/w0 registered at" in sb.stderr()
    else:
        one_event(sb, "registered", id="w0")
    with urllib.request.urlopen(f"{sb.admin_url}/v1/dashboard", timeout=10) as resp:
        feed = json.load(resp)["events"]
    (registered,) = [e for e in feed if e.get("event") == "registered"]
    assert registered["text"] == f"registry: web/w0 registered at {host}:{port}"
    assert registered["service"] == "web" and registered["id"] == "w0"
    assert registered["instance"] == nginx.addrs[0] and registered["level"] == "info"


def test_reload_switches_the_log_format(switchboard, nginx_backends):
    nginx = nginx_backends(1)
    sb = switchboard(config=make_config([service("web", nginx.addrs)]))
    assert not sb.stderr().lstrip().startswith("{")
    sb.config_path.write_text(sb.config_path.read_text() + "log:\n  format: json\n")
    api = AdminApi(sb.admin_port)
    assert api.call("POST", "/v1/admin/reload")[0] == 200
    api.close()
    last = json.loads(sb.stderr().splitlines()[-1])
    assert last["event"] == "config_reloaded" and last["message"].startswith("config reloaded")


@pytest.mark.parametrize("argv,key", [
    (["--log-format", "yaml"], "--log-format"),
    (["--log-level", "chatty"], "--log-level"),
])
def test_bad_log_flag_exits_2_naming_it(argv, key):
    result = run_switchboard(["serve", "--listen", "127.0.0.1:0", "--admin-listen", "off",
                              "--backends", "127.0.0.1:9", *argv])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"switchboard: {key}: ")


@pytest.mark.parametrize("text,key", [
    ("log:\n  format: xml\n", "log.format"),
    ("log:\n  level: chatty\n", "log.level"),
    ("log:\n  colour: red\n", "log.colour"),
    ("log_level: info\nlog:\n  level: warn\n", "log.level"),
])
def test_bad_log_config_exits_2_naming_the_key(tmp_path, text, key):
    conf = tmp_path / "bad.yaml"
    conf.write_text("services:\n  - name: web\n    instances: [\"127.0.0.1:9\"]\n" + text)
    result = run_switchboard(["serve", "--config", str(conf), "--admin-listen", "off"])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"switchboard: {key}"), \
        result.stderr
