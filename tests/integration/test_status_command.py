"""`switchboard status`: the proxy's /lb-status as a table (state word, counts, error rate, requests
in flight, p50/p99) or its JSON, one error line when the proxy does not answer."""

import json
import re
import subprocess

from harness import AdminApi, RefusingPort, make_config, service, switchboard_bin
from rawhttp import request


def status(*args):
    return subprocess.run([switchboard_bin(), "status", *args], capture_output=True, text=True,
                          timeout=20, stdin=subprocess.DEVNULL)


def test_status_prints_services_and_instances(switchboard, nginx_backends):
    nginx = nginx_backends(3)
    sb = switchboard(config=make_config([service("web", nginx.addrs[:2], balance="least_conn")]))
    api = AdminApi(sb.admin_port)
    host, port = nginx.addrs[2].split(":")
    assert api.register("web", "w0", host, int(port))[0] in (200, 201)
    assert api.call("POST", "/v1/services/web/instances/w0/drain")[0] == 200
    api.close()
    for _ in range(4):
        assert request(sb.port).status == 200
    assert request(sb.port, path="/500").status == 500
    result = status("--proxy", f"127.0.0.1:{sb.port}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["SERVICE", "BALANCE", "INSTANCE", "STATE", "WEIGHT", "REQUESTS",
                                "2XX", "4XX", "5XX", "FAILURES", "ERRORS", "ACTIVE", "P50", "P99"]
    rows = {line.split()[2]: line.split() for line in lines[2:]}
    assert set(rows) == set(nginx.addrs)
    served = [rows[addr] for addr in nginx.addrs[:2]]
    for row in served:
        assert row[:5] == ["web", "least_conn", row[2], "passing", "1"], row
        assert row[11] == "0", row  # nothing in flight
        assert re.fullmatch(r"\d+\.\dms", row[12]) and re.fullmatch(r"\d+\.\dms", row[13]), row
    assert sorted(int(r[5]) for r in served) == [2, 3]
    assert sum(int(r[6]) for r in served) == 4 and sum(int(r[8]) for r in served) == 1
    # The one that answered 500 shows its error rate: 1 of its 2 or 3 attempts.
    assert sorted(r[10] for r in served) in (["0.0%", "33.3%"], ["0.0%", "50.0%"]), served
    drained = rows[nginx.addrs[2]]
    assert drained[3] == "draining" and drained[5] == "0" and drained[10] == "-", drained
    assert drained[12:] == ["-", "-"]  # no latency without a request

    as_json = json.loads(status("--proxy", f"127.0.0.1:{sb.port}", "--json").stdout)
    instances = as_json["services"][0]["instances"]
    assert {i["address"]: i["state"] for i in instances} == {
        nginx.addrs[0]: "passing", nginx.addrs[1]: "passing", nginx.addrs[2]: "draining"}


def test_status_without_a_proxy_is_one_error_line():
    port = RefusingPort()
    try:
        result = status("--proxy", port.addr)
    finally:
        port.close()
    assert result.returncode == 1
    assert result.stderr.startswith("switchboard: proxy: ") and result.stderr.count("\n") == 1
