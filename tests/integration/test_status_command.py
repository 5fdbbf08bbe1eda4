"""`switchboard status`: the proxy's /lb-status as a table (or its JSON), one error line when the
proxy does not answer."""

import json
import subprocess

from harness import RefusingPort, make_config, service, switchboard_bin
from rawhttp import request


def status(*args):
    return subprocess.run([switchboard_bin(), "status", *args], capture_output=True, text=True,
                          timeout=20, stdin=subprocess.DEVNULL)


def test_status_prints_services_and_instances(switchboard, nginx_backends):
    nginx = nginx_backends(2)
    sb = switchboard(config=make_config([service("web", nginx.addrs, balance="least_conn")]))
    for _ in range(4):
        assert request(sb.port).status == 200
    result = status("--proxy", f"127.0.0.1:{sb.port}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["SERVICE", "BALANCE", "INSTANCE", "WEIGHT", "HEALTH", "REQUESTS",
                                "2XX", "4XX", "5XX", "FAILURES", "ACTIVE"]
    rows = {line.split()[2]: line.split() for line in lines[2:]}
    for addr in nginx.addrs:
        assert rows[addr][:6] == ["web", "least_conn", addr, "1", "up", "2"], rows
        assert rows[addr][6] == "2" and rows[addr][10] == "0"

    as_json = status("--proxy", f"127.0.0.1:{sb.port}", "--json")
    assert json.loads(as_json.stdout)["services"][0]["name"] == "web"


def test_status_without_a_proxy_is_one_error_line():
    port = RefusingPort()
    try:
        result = status("--proxy", port.addr)
    finally:
        port.close()
    assert result.returncode == 1
    assert result.stderr.startswith("switchboard: proxy: ") and result.stderr.count("\n") == 1
