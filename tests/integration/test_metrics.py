"""GET /metrics on the admin listener: Prometheus text format that `promtool check metrics`
accepts, with values that follow a known number of requests, registry counts and process
figures."""

import re
import subprocess
import urllib.request

from harness import AdminApi, make_config, service
from rawhttp import request


def scrape(sb):
    with urllib.request.urlopen(f"{sb.admin_url}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return resp.read().decode()


def value(text, name, **labels):
    """The sample `name{labels}` (labels in any order, all given must match), as a float."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        assert m, f"not a sample line: {line!r}"
        if m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_pass_promtool_and_count_requests(switchboard, nginx_backends):
    nginx = nginx_backends(2)
    sb = switchboard(config=make_config([service("web", nginx.addrs)]))
    for _ in range(10):
        assert request(sb.port).status == 200
    assert request(sb.port, path="/404").status == 404
    api = AdminApi(sb.admin_port)
    host, port = nginx.addrs[0].split(":")
    assert api.register("api", "a1", host, int(port), ttl="30s")[0] in (200, 201)
    assert api.call("PUT", "/v1/services/api/instances/a1/heartbeat")[0] == 200
    api.close()

    text = scrape(sb)
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    # 11 proxied requests: 10 answered 200 and one 404, round robin over two instances.
    a, b = nginx.addrs
    assert value(text, "switchboard_upstream_requests_total", service="web", instance=a) == 6
    assert value(text, "switchboard_upstream_requests_total", service="web", instance=b) == 5
    assert value(text, "switchboard_upstream_responses_total", service="web", instance=a,
                 code="2xx") + value(text, "switchboard_upstream_responses_total", service="web",
                                     instance=b, code="2xx") == 10
    assert value(text, "switchboard_upstream_responses_total", service="web", instance=b,
                 code="4xx") + value(text, "switchboard_upstream_responses_total", service="web",
                                     instance=a, code="4xx") == 1
    assert value(text, "switchboard_upstream_healthy", service="web", instance=a) == 1
    # Latency histograms: every answered request counted once, in cumulative buckets.
    for name in ("switchboard_upstream_response_seconds", "switchboard_request_duration_seconds"):
        count = sum(value(text, f"{name}_count", service="web", instance=i) for i in (a, b))
        assert count == 11, name
        assert value(text, f"{name}_bucket", service="web", instance=a, le="+Inf") == \
            value(text, f"{name}_count", service="web", instance=a)
        assert value(text, f"{name}_bucket", service="web", instance=a, le="10") == \
            value(text, f"{name}_count", service="web", instance=a)
        assert 0 < value(text, f"{name}_sum", service="web", instance=a) < 5
    assert value(text, "switchboard_requests_total") == 11
    assert value(text, "switchboard_registry_instances", service="api", state="passing") == 1
    assert value(text, "switchboard_registry_instances", service="api", state="critical") == 0
    assert value(text, "switchboard_registry_heartbeats_total") == 1
    assert value(text, "process_resident_memory_bytes") > 1_000_000
    assert value(text, "process_open_fds") > 3


def test_metrics_only_answer_get(switchboard):
    sb = switchboard(config=make_config([]))
    req = urllib.request.Request(f"{sb.admin_url}/metrics", method="POST", data=b"")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("POST /metrics accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 405 and e.headers["Allow"] == "GET"
