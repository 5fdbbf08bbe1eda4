"""Access log: one JSON line per request on stdout (or a file), with the fields the issue names;
`--access-log off` / `access_log: off` writes nothing."""

import json
import re

from harness import make_config, proxy_for, service, wait_until
from rawhttp import RawConn, request

FIELDS = {"time", "client", "method", "path", "status", "bytes_in", "bytes_out", "upstream",
          "upstream_connect_ms", "upstream_first_byte_ms", "upstream_total_ms", "request_ms", "attempts"}

SENT = [("GET", "/a", None, 200), ("POST", "/b", b"x" * 100, 200), ("GET", "/404", None, 404),
        ("HEAD", "/c", None, 200), ("DELETE", "/d/e", None, 200), ("GET", "/500", None, 500),
        ("PUT", "/f", b"y" * 5000, 200)]


def send_all(port):
    with RawConn(port) as c:
        for method, path, body, status in SENT:
            assert c.request(method, path, body=body).status == status


def check_lines(lines, upstream):
    assert len(lines) == len(SENT)
    for entry, (method, path, body, status) in zip(lines, SENT):
        assert FIELDS <= set(entry), FIELDS - set(entry)
        assert (entry["method"], entry["path"], entry["status"]) == (method, path, status)
        assert entry["upstream"] == upstream
        assert entry["client"].startswith("127.0.0.1")
        assert entry["attempts"] == 1
        assert entry["bytes_in"] >= len(body or b"")
        assert entry["bytes_out"] > 0
        # upstream_connect_ms is null when a pooled upstream connection was reused.
        assert entry["upstream_connect_ms"] is None or entry["upstream_connect_ms"] >= 0
        for k in ("upstream_first_byte_ms", "upstream_total_ms", "request_ms"):
            assert isinstance(entry[k], (int, float)) and entry[k] >= 0, (k, entry[k])
        assert entry["upstream_first_byte_ms"] <= entry["upstream_total_ms"] + 1
        assert isinstance(entry["time"], str) and entry["time"]
    # The first request had to open the upstream connection.
    assert isinstance(lines[0]["upstream_connect_ms"], (int, float))


def test_access_log_on_stdout_by_default(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    send_all(sb.port)
    lines = wait_until(lambda: (lambda lines: lines if len(lines) >= len(SENT) else None)(sb.access_log()), 5,
                       message="access log lines")
    check_lines(lines, nb.addrs[0])
    # Every stdout line is JSON.
    for line in sb.stdout_lines():
        json.loads(line)
    # Bodies are counted: the 5000-byte PUT body is inside bytes_in, the 10-byte answer in bytes_out.
    put = lines[-1]
    assert put["bytes_in"] >= 5000
    assert lines[0]["bytes_out"] >= len(b"backend-0\n")


def test_access_log_to_a_file(nginx_backends, switchboard, tmp_path):
    nb = nginx_backends(1)
    path = tmp_path / "access.jsonl"
    sb = proxy_for(switchboard, nb.addrs, args=["--access-log", str(path)])
    send_all(sb.port)

    def lines():
        if not path.exists():
            return None
        got = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        return got if len(got) >= len(SENT) else None

    check_lines(wait_until(lines, 5, message="access log file lines"), nb.addrs[0])
    assert sb.access_log() == []


def test_access_log_off_by_flag(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs, args=["--access-log", "off"])
    send_all(sb.port)
    assert sb.stop() == 0  # flushes anything that was queued
    assert sb.stdout_lines() == []


def test_access_log_off_in_yaml(nginx_backends, switchboard):
    nb = nginx_backends(1)
    text = (f"threads: 1\naccess_log: off\nservices:\n  - name: web\n    instances:\n"
            f"      - address: 127.0.0.1\n        port: {nb.ports[0]}\nroutes:\n  - path_prefix: /\n    service: web\n")
    sb = switchboard(config=text)
    send_all(sb.port)
    assert sb.stop() == 0
    assert sb.stdout_lines() == []


def test_access_log_disabled_by_enabled_false(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = switchboard(config=make_config([service("web", nb.addrs)], access_log={"enabled": False}))
    send_all(sb.port)
    assert sb.stop() == 0
    assert sb.stdout_lines() == []


def test_access_log_records_proxy_errors(refusing_port, switchboard):
    dead = refusing_port()
    sb = proxy_for(switchboard, [dead.addr])
    assert request(sb.port, path="/nowhere").status == 502
    wait_until(lambda: sb.access_log() or None, 5, message="access log line")
    assert sb.stop() == 0
    (entry,) = sb.access_log()
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/nowhere", 502)
    assert entry["attempts"] >= 1


QUOTED_TARGET = '/q?a="b"&c=\\d'


def file_lines(path, count):
    def lines():
        got = path.read_text().splitlines() if path.exists() else []
        return got if len(got) >= count else None
    return wait_until(lines, 5, message="access log file lines")


def test_text_format_escapes_quotes_in_the_path(nginx_backends, switchboard, tmp_path):
    """One line per request, as nginx's combined-like text; a '"' or '\\' from the client is
    written as \\xHH (nginx's default escaping), so the quoted request cannot end early."""
    nb = nginx_backends(1)
    path = tmp_path / "access.log"
    sb = proxy_for(switchboard, nb.addrs, access_log={"format": "text", "path": str(path)})
    assert request(sb.port, path=QUOTED_TARGET).status == 200
    assert request(sb.port, method="POST", path="/p", body=b"x" * 10).status == 200
    first, second = file_lines(path, 2)
    pattern = (r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 127\.0\.0\.1 "(\S+) (\S+)" (\d{3}) (\d+) (\d+) '
               r'(\S+) [\d.]+ms (\d+)$')
    m = re.match(pattern, first)
    assert m, first
    assert m.group(1, 2, 3, 6, 7) == ("GET", "/q?a=\\x22b\\x22&c=\\x5Cd", "200", nb.addrs[0], "1")
    m = re.match(pattern, second)
    assert m and m.group(1, 2, 3) == ("POST", "/p", "200") and int(m.group(4)) >= 10, second


def test_json_format_keeps_the_path_exactly(nginx_backends, switchboard, tmp_path):
    nb = nginx_backends(1)
    path = tmp_path / "access.jsonl"
    sb = proxy_for(switchboard, nb.addrs, args=["--access-log", str(path)])
    assert request(sb.port, path=QUOTED_TARGET).status == 200
    (line,) = file_lines(path, 1)
    assert json.loads(line)["path"] == QUOTED_TARGET
