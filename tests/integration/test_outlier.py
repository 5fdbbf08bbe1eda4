"""Outlier detection (Envoy semantics) and slow start against real backends: an instance that
answers 5xx several times in a row is ejected for base_ejection_time and comes back after it;
never more than max_ejection_percent of the instances are out; an instance that joins a running
service ramps from 10 % of its share to all of it over slow_start."""

import json

from harness import AdminApi, make_config, service, wait_until
from rawhttp import request


def instances(sb, name="web"):
    status = json.loads(request(sb.port, path="/lb-status?format=json").body)
    svc = next(s for s in status["services"] if s["name"] == name)
    return {i["address"]: i for i in svc["instances"]}


def outlier_config(addrs, **outlier):
    svc = service("web", addrs)
    svc["health"] = {"max_fails": 0}  # passive health off: only the outlier rules act
    svc["outlier"] = outlier
    return make_config([svc])


def test_consecutive_5xx_eject_and_the_instance_returns(switchboard, echo_backend):
    bad = echo_backend("bad", defaults={"status": "500"})
    good = [echo_backend(f"good{i}") for i in range(2)]
    sb = switchboard(config=outlier_config([bad.addr] + [g.addr for g in good],
                                           consecutive_5xx=3, base_ejection_time="1s",
                                           max_ejection_percent=50))
    statuses = [request(sb.port).status for _ in range(9)]
    assert statuses.count(500) == 3  # its three turns, then it is out
    assert instances(sb)[bad.addr]["ejected"] is True
    assert f"instance {bad.addr} of service web ejected for 1000 ms: 5xx answers in a row " \
           "(ejection 1)" in sb.stderr()
    assert [request(sb.port).status for _ in range(12)] == [200] * 12
    assert len(bad.requests) == 3

    def back():
        request(sb.port)
        return len(bad.requests) > 3

    wait_until(back, 5, interval=0.05, message="ejected instance gets requests again")
    assert f"instance {bad.addr} back from ejection 1" in sb.stderr()


def test_max_ejection_percent_keeps_instances_in(switchboard, echo_backend):
    bad = [echo_backend(f"bad{i}", defaults={"status": "503"}) for i in range(2)]
    good = echo_backend("good")
    sb = switchboard(config=outlier_config([b.addr for b in bad] + [good.addr],
                                           consecutive_gateway_errors=2,
                                           base_ejection_time="30s", max_ejection_percent=34))
    for _ in range(30):
        request(sb.port)
    state = instances(sb)
    assert sorted(state[b.addr]["ejected"] for b in bad) == [False, True]
    assert "not ejected: 1 of 3 instances out already" in sb.stderr()
    kept = next(b for b in bad if not state[b.addr]["ejected"])
    before = len(kept.requests)
    for _ in range(6):
        request(sb.port)
    assert len(kept.requests) - before == 3  # still in rotation with the good one


def test_joining_instance_ramps_up_over_slow_start(switchboard, nginx_backends):
    nginx = nginx_backends(2)
    svc = service("web", [nginx.addrs[0]])
    svc["slow_start"] = "3s"
    sb = switchboard(config=make_config([svc]))
    api = AdminApi(sb.admin_port)
    host, port = nginx.addrs[1].split(":")
    assert api.register("web", "joiner", host, int(port))[0] in (200, 201)

    def joiner_share(n):
        before = instances(sb).get(nginx.addrs[1], {}).get("requests", 0)
        for _ in range(n):
            assert request(sb.port).status == 200
        return instances(sb)[nginx.addrs[1]]["requests"] - before

    # Just joined: about 10 % of the weight of the other, so far less than half the requests.
    assert joiner_share(60) <= 15
    # After the ramp, an equal share.
    wait_until(lambda: joiner_share(20) >= 9, 10, interval=0.1, message="joiner at full weight")
    api.close()
