"""Balancing algorithms against the real binary and real backends (issue 4): round robin and
weights, ip_hash stickiness (a second client address simulated with X-Forwarded-For from a trusted
proxy), hash by header, cookie and query, keys moving ~1/N when an instance goes, least_conn
steering around a slow backend with counts global across worker threads, WebSocket tunnels
counted as active, p2c and ewma avoiding busy or slow backends, and no leaked active counts."""

import json
import threading
from collections import Counter

from harness import make_config, service, wait_until
from rawhttp import RawConn, build_request, request


def backend_of(resp):
    assert resp.status == 200, resp
    return resp.header("X-Backend")


def status(sb):
    return json.loads(request(sb.port, path="/lb-status?format=json").body)


def instance_stats(sb, name):
    for svc in status(sb)["services"]:
        if svc["name"] == name:
            return {i["address"]: i for i in svc["instances"]}
    raise AssertionError(f"no service {name} in /lb-status")


def active_counts(sb, name):
    return {addr: i.get("active") for addr, i in instance_stats(sb, name).items()}


def no_active_requests(sb, name):
    """Every counted request has ended: nothing leaked on any path."""
    return all(v == 0 for v in active_counts(sb, name).values())


class Holder:
    """One request sent in a background thread and held by a slow backend until it answers."""

    def __init__(self, port, path="/", headers=None):
        self.response = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(port, path, headers), daemon=True)
        self.thread.start()

    def _run(self, port, path, headers):
        try:
            self.response = request(port, path=path, headers=headers, timeout=20)
        except Exception as exc:  # noqa: BLE001 - reported by join()
            self.error = exc

    def join(self):
        self.thread.join(20)
        assert not self.thread.is_alive(), "held request never finished"
        assert self.error is None, self.error
        return self.response


# -- round robin and weights


def test_round_robin_30_requests_land_10_10_10(nginx_backends, switchboard):
    nb = nginx_backends(3)
    sb = switchboard(config=make_config([service("web", nb.addrs, balance="round_robin")],
                                        threads=1))
    seen = Counter(backend_of(request(sb.port)) for _ in range(30))
    assert seen == {"backend-0": 10, "backend-1": 10, "backend-2": 10}


def test_round_robin_weights_are_smooth(nginx_backends, switchboard):
    nb = nginx_backends(3)
    sb = switchboard(config=make_config([service("web", nb.addrs, weights=[5, 1, 1])], threads=1))
    seen = []
    with RawConn(sb.port) as c:
        for _ in range(70):
            seen.append(backend_of(c.request()))
    assert Counter(seen) == {"backend-0": 50, "backend-1": 10, "backend-2": 10}
    for start in range(0, 70, 7):
        # nginx's smooth order: the heavy instance never three times in a row.
        assert seen[start:start + 7] == ["backend-0", "backend-0", "backend-1", "backend-0",
                                         "backend-2", "backend-0", "backend-0"], seen


def test_random_follows_weights(nginx_backends, switchboard):
    nb = nginx_backends(3)
    sb = switchboard(config=make_config([service("web", nb.addrs, weights=[1, 2, 5], balance="random")]),
                     args=["--access-log", "off"])
    seen = Counter()
    with RawConn(sb.port) as c:
        for _ in range(800):
            seen[backend_of(c.request())] += 1
    # Expected 100 / 200 / 500; the bands are over 5 standard deviations wide.
    assert 40 <= seen["backend-0"] <= 160, seen
    assert 130 <= seen["backend-1"] <= 270, seen
    assert 420 <= seen["backend-2"] <= 580, seen


# -- ip_hash


def test_ip_hash_sticks_to_the_client_address(nginx_backends, switchboard):
    nb = nginx_backends(3)
    cfg = make_config([service("web", nb.addrs, balance="ip_hash")], threads=2,
                      trusted_proxies=["127.0.0.1"])
    sb = switchboard(config=cfg, args=["--access-log", "off"])
    # 10 requests from one address (our own, no X-Forwarded-For): one instance.
    assert len({backend_of(request(sb.port)) for _ in range(10)}) == 1
    # Another client behind the trusted proxy: one instance too, over new connections and
    # (with two workers) whichever thread takes them.
    other = {backend_of(request(sb.port, headers={"X-Forwarded-For": "203.0.113.7"}))
             for _ in range(10)}
    assert len(other) == 1
    # Many client addresses: each sticks, and together they use more than one instance.
    homes = {}
    for i in range(30):
        xff = {"X-Forwarded-For": f"198.51.100.{i}, 127.0.0.1"}  # the right-most hop is trusted
        got = {backend_of(request(sb.port, headers=xff)) for _ in range(3)}
        assert len(got) == 1, (i, got)
        homes[i] = got.pop()
    assert len(set(homes.values())) >= 2, homes


def test_ip_hash_ignores_forwarded_for_from_untrusted_peers(nginx_backends, switchboard):
    nb = nginx_backends(3)
    sb = switchboard(config=make_config([service("web", nb.addrs, balance="ip_hash")]),
                     args=["--access-log", "off"])
    seen = {backend_of(request(sb.port, headers={"X-Forwarded-For": f"198.51.100.{i}"}))
            for i in range(30)}
    assert len(seen) == 1  # every request is from 127.0.0.1, whatever it claims


# -- hash


def hash_config(addrs, key, **extra):
    svc = service("web", addrs, balance="hash")
    svc["hash"] = {"key": key, **extra}
    return make_config([svc], threads=2)


def test_hash_by_header_is_sticky(nginx_backends, switchboard):
    nb = nginx_backends(3)
    sb = switchboard(config=hash_config(nb.addrs, "header:X-User"), args=["--access-log", "off"])
    homes = {}
    for user in range(30):
        got = {backend_of(request(sb.port, headers={"X-User": f"user-{user}"})) for _ in range(4)}
        assert len(got) == 1, (user, got)
        homes[user] = got.pop()
    assert len(set(homes.values())) >= 2, homes
    # Without the header: round robin over all of them, still served.
    plain = Counter(backend_of(request(sb.port)) for _ in range(30))
    assert len(plain) == 3, plain


def test_hash_by_cookie_and_by_query(nginx_backends, switchboard):
    nb = nginx_backends(3)
    by_cookie = switchboard(config=hash_config(nb.addrs, "cookie:session"),
                            args=["--access-log", "off"])
    by_query = switchboard(config=hash_config(nb.addrs, "query:user"), args=["--access-log", "off"])
    for i in range(15):
        cookie = {"Cookie": f"theme=dark; session=s{i}"}
        assert len({backend_of(request(by_cookie.port, headers=cookie)) for _ in range(3)}) == 1
        paths = [f"/a?user=u{i}", f"/b?x=1&user=u{i}", f"/c/d?user=u{i}&y=2"]
        assert len({backend_of(request(by_query.port, path=p)) for p in paths}) == 1


def test_hash_by_path_hashes_every_spelling_of_a_path_alike(nginx_backends, switchboard):
    nb = nginx_backends(3)
    sb = switchboard(config=hash_config(nb.addrs, "path"), args=["--access-log", "off"])
    homes = set()
    for i in range(15):
        spellings = [f"/f/{i}", f"/f/./{i}", f"/x/../f/{i}", f"/%66/{i}", f"/f/{i}?q=1"]
        got = {backend_of(request(sb.port, path=p)) for p in spellings}
        assert len(got) == 1, (i, got)
        homes |= got
    assert len(homes) >= 2, homes


def test_hash_keys_move_about_one_nth_when_an_instance_goes(nginx_backends, switchboard):
    nb = nginx_backends(4)
    four = switchboard(config=hash_config(nb.addrs, "header:X-User"), args=["--access-log", "off"])
    three = switchboard(config=hash_config(nb.addrs[:3], "header:X-User"),
                        args=["--access-log", "off"])
    moved = 0
    keys = 300
    with RawConn(four.port) as c4, RawConn(three.port) as c3:
        for user in range(keys):
            before = backend_of(c4.request(headers={"X-User": f"u{user}"}))
            after = backend_of(c3.request(headers={"X-User": f"u{user}"}))
            if before == "backend-3":
                assert after != "backend-3"
            if before != after:
                moved += 1
    # About 1/4 must move (the removed instance's keys); Maglev moves a little more, not most.
    assert 0.15 * keys <= moved <= 0.40 * keys, moved


def test_hash_balance_factor_spills_a_hot_key(echo_backend, switchboard):
    backends = [echo_backend(f"b{i}", defaults={"delay_ms": "1500"}) for i in range(3)]
    sb = switchboard(config=hash_config([b.addr for b in backends], "header:X-User",
                                        balance_factor=150), args=["--access-log", "off"])
    # Three slow requests for one hot key at once: (in flight + 1) x 150 % caps each instance at
    # ceil(... / 3); the key's own instance takes the first, the others spill.
    holders = []
    for _ in range(3):
        holders.append(Holder(sb.port, headers={"X-User": "hot"}))
        n = len(holders)
        wait_until(lambda: sum(b.head_count() for b in backends) == n, 5,
                   message="the hot request to reach a backend")
    got = Counter(backend_of(h.join()) for h in holders)
    assert len(got) >= 2, got  # unbounded, all three would sit on one instance
    wait_until(lambda: no_active_requests(sb, "web"), 5, message="active counts back to 0")


# -- least_conn


def test_least_conn_steers_around_a_slow_backend(echo_backend, switchboard):
    slow = echo_backend("slow", defaults={"delay_ms": "4000"})  # outlasts the 20 requests below
    fast = [echo_backend("fast-1"), echo_backend("fast-2")]
    sb = switchboard(config=make_config(
        [service("web", [slow.addr] + [f.addr for f in fast], balance="least_conn")], threads=1))
    holder = Holder(sb.port)  # all idle: the tie goes to the first, the slow one
    wait_until(lambda: slow.head_count() == 1, 5, message="the slow backend to hold a request")
    assert active_counts(sb, "web")[slow.addr] == 1
    # While it holds one, every new request goes to the idle fast ones, in turn.
    seen = Counter(backend_of(request(sb.port)) for _ in range(20))
    assert seen == {"fast-1": 10, "fast-2": 10}, seen
    assert backend_of(holder.join()) == "slow"
    wait_until(lambda: no_active_requests(sb, "web"), 5, message="active counts back to 0")


def test_least_conn_counts_are_global_across_worker_threads(echo_backend, switchboard):
    a, b = echo_backend("a"), echo_backend("b")
    sb = switchboard(config=make_config([service("web", [a.addr, b.addr], balance="least_conn")],
                                        threads=2), args=["--access-log", "off"])
    holder = Holder(sb.port, path="/?delay_ms=3000")  # the first pick of a worker: a
    wait_until(lambda: a.head_count() == 1, 5, message="a to hold the slow request")
    # New connections spread over both workers; per-worker counts would send half of these to a
    # on the worker that did not see the slow request.
    seen = Counter(backend_of(request(sb.port)) for _ in range(40))
    # Per-worker counts would send about 10 of these to a. A request may rarely see a tie (b's
    # previous request answered but not yet released by its worker) and go to a: allow two.
    assert seen["b"] >= 38, seen
    workers = status(sb)["workers"]
    assert len(workers) == 2
    # Each worker took some of the 40 (else this would prove nothing).
    assert min(w["requests"] for w in workers) >= 3, workers
    assert backend_of(holder.join()) == "a"
    wait_until(lambda: no_active_requests(sb, "web"), 5, message="active counts back to 0")


def test_least_conn_counts_an_open_websocket_tunnel(ws_backend, echo_backend, switchboard):
    plain = echo_backend("plain")
    sb = switchboard(config=make_config(
        [service("web", [ws_backend.addr, plain.addr], balance="least_conn")], threads=1))
    with RawConn(sb.port) as tunnel:
        tunnel.send(build_request("GET", "/echo", {
            "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}))
        assert tunnel.read_head().status == 101
        assert active_counts(sb, "web")[ws_backend.addr] == 1  # the open tunnel
        seen = Counter(backend_of(request(sb.port)) for _ in range(10))
        assert seen == {"plain": 10}, seen
    # The tunnel's end releases its count.
    wait_until(lambda: no_active_requests(sb, "web"), 5, message="the tunnel's count released")


def test_client_gone_mid_request_leaves_no_active_count(echo_backend, switchboard):
    slow = echo_backend("slow", defaults={"delay_ms": "800"})
    sb = switchboard(config=make_config([service("web", [slow.addr], balance="least_conn")]))
    for _ in range(3):
        c = RawConn(sb.port)
        c.send(build_request("GET", "/"))
        c.close()  # gone before the answer
    wait_until(lambda: slow.head_count() == 3, 5, message="the requests to reach the backend")
    wait_until(lambda: no_active_requests(sb, "web"), 10, message="active counts back to 0")
    assert request(sb.port).status == 200


def test_retry_after_a_refused_connection_moves_the_count(echo_backend, refusing_port, switchboard):
    ok = echo_backend("ok")
    refused = refusing_port()
    sb = switchboard(config=make_config(
        [service("web", [refused.addr, ok.addr], balance="least_conn")], threads=1))
    # The tie sends the first request to the refusing instance; its retry goes to ok.
    assert backend_of(request(sb.port)) == "ok"
    for _ in range(5):
        assert backend_of(request(sb.port)) == "ok"
    wait_until(lambda: no_active_requests(sb, "web"), 5, message="active counts back to 0")


# -- p2c and ewma


def test_p2c_avoids_the_busy_instance(echo_backend, switchboard):
    backends = [echo_backend(f"b{i}") for i in range(3)]
    sb = switchboard(config=make_config([service("web", [b.addr for b in backends], balance="p2c")],
                                        threads=1))
    holder = Holder(sb.port, path="/?delay_ms=2000")
    wait_until(lambda: sum(b.head_count() for b in backends) == 1, 5, message="the held request")
    busy = next(b.name for b in backends if b.head_count() == 1)
    # Two distinct choices each time: the busy one always loses the comparison.
    seen = Counter(backend_of(request(sb.port)) for _ in range(30))
    assert busy not in seen, (busy, seen)
    assert len(seen) == 2, seen
    assert backend_of(holder.join()) == busy


def test_ewma_prefers_fast_backends(echo_backend, switchboard):
    slow = echo_backend("slow", defaults={"delay_ms": "300"})
    fast = [echo_backend("fast-1"), echo_backend("fast-2")]
    sb = switchboard(config=make_config(
        [service("web", [slow.addr] + [f.addr for f in fast], balance="ewma")], threads=1),
        args=["--access-log", "off"])
    seen = Counter(backend_of(request(sb.port)) for _ in range(60))
    # Once measured (300 ms against ~1 ms), slow loses every comparison; before that, at most a
    # couple of requests find out.
    assert seen["slow"] <= 3, seen
    assert seen["fast-1"] > 10 and seen["fast-2"] > 10, seen
