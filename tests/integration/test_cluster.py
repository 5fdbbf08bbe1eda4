"""Cluster mode (issue 6): several switchboards sharing one registry on real etcd. A registration
through one node is routed by the others; TTL expiry, drain and deregistration are seen by all;
with etcd gone traffic keeps flowing and writes get 503 at once; when etcd comes back each node
catches up without losing a change (also past a compaction, or when etcd is replaced by another
cluster, with a full read); losing one of three etcd members or a switchboard node changes nothing
for clients, and the client library moves to another node when its node hangs or dies. Passive
health stays per node."""

import json
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from etcd_cluster import EtcdCluster, TcpRelay, elapsed_ms, wait_for
from harness import AdminApi, make_config, run_switchboard, switchboard_bin
from rawhttp import request


@pytest.fixture
def etcd(procs):
    """etcd(members=1, peer_relays=False) -> a running EtcdCluster, stopped at teardown."""
    def start(members=1, **kwargs):
        return procs.add(EtcdCluster(procs.tmp_dir / f"etcd-{next(procs.counter)}", members, **kwargs))
    return start


@pytest.fixture
def relay(procs):
    """relay(target_port) -> a TcpRelay that can be cut."""
    return lambda port: procs.add(TcpRelay(port))


def node(switchboard, registry_url, deregister_after="1s", etcd_timeout=None, **kwargs):
    """A switchboard of the cluster (one worker, so round robin is exact) and its admin API."""
    registry = {"deregister_after": deregister_after}
    if etcd_timeout is not None:
        registry["etcd_timeout"] = etcd_timeout
    config = make_config([], registry=registry)
    sb = switchboard(args=("--registry", registry_url), config=config, **kwargs)
    return sb, AdminApi(sb.admin_port)


def body(resp):
    return resp.body.decode().strip()


def routes(sb, path, want_status=200):
    return request(sb.port, path=path).status == want_status


def metric(sb, name):
    api = AdminApi(sb.admin_port)
    try:
        api.conn.request("GET", "/metrics")
        text = api.conn.getresponse().read().decode()
    finally:
        api.close()
    m = re.search(rf"^{name} (\d+)$", text, re.M)
    return int(m.group(1)) if m else None


def register(api, service, iid, addr, **fields):
    host, port = addr.split(":")
    return api.register(service, iid, host, int(port), **fields)


def lb_instance(sb, iid, service="web"):
    """One registered instance as the node's proxy sees it (/lb-status JSON)."""
    status = json.loads(request(sb.port, path="/lb-status?format=json").body)
    svc = next(s for s in status["services"] if s["name"] == service)
    return next(i for i in svc["instances"] if i.get("id") == iid)


def test_a_registration_through_one_node_is_routed_by_every_node(switchboard, nginx_backends, etcd):
    nginx = nginx_backends(2)
    cluster = etcd()
    a, api_a = node(switchboard, cluster.url())
    b, api_b = node(switchboard, cluster.url())
    assert request(b.port, path="/web/x").status == 404

    sent = time.monotonic()
    status, _, reply = register(api_a, "web", "w0", nginx.addrs[0], routes=[{"path_prefix": "/web"}])
    assert status == 201, reply
    # The node that took the write answers only once its own proxy routes by it...
    assert body(request(a.port, path="/web/x")) == "backend-0"
    # ...and the other follows through its watch.
    wait_for(lambda: routes(b, "/web/x"), timeout=2, message="node B routing the registration")
    took = elapsed_ms(sent)
    assert took < 1000, f"B routed {took:.0f} ms after the write was sent"
    assert body(request(b.port, path="/web/x")) == "backend-0"
    # Indexes are etcd revisions: the same on every node for the same state.
    assert api_a.call("GET", "/v1/services/web")[1]["x-switchboard-index"] == \
        wait_for(lambda: api_b.call("GET", "/v1/services/web")[1]["x-switchboard-index"])

    assert register(api_b, "web", "w1", nginx.addrs[1], routes=[{"path_prefix": "/web"}])[0] == 201
    wait_for(lambda: len(api_a.instances("web")) == 2, message="A seeing w1")
    # Drain through B: no new requests for w0 on A either (drain state is shared).
    assert api_b.call("POST", "/v1/services/web/instances/w0/drain")[0] == 200
    wait_for(lambda: api_a.instances("web")["w0"]["state"] == "draining", message="A seeing the drain")
    assert {body(request(a.port, path="/web/x")) for _ in range(6)} == {"backend-1"}
    # A registration through A keeps the drain B made (compare-and-swap, not a blind overwrite).
    assert register(api_a, "web", "w0", nginx.addrs[0], routes=[{"path_prefix": "/web"}])[0] == 200
    assert api_a.instances("web")["w0"]["state"] == "draining"
    assert api_a.call("POST", "/v1/services/web/instances/w0/undrain")[0] == 200
    # Deregistration through A: gone on B.
    assert api_a.call("DELETE", "/v1/services/web/instances/w1")[0] == 200
    wait_for(lambda: "w1" not in api_b.instances("web"), message="B seeing the deregistration")
    assert {body(request(b.port, path="/web/x")) for _ in range(4)} == {"backend-0"}
    assert api_b.call("DELETE", "/v1/services/web/instances/w1")[0] == 404
    assert cluster.keys() == ["/switchboard/instances/web/w0"]


def test_ttl_expiry_and_heartbeats_are_shared_by_every_node(switchboard, nginx_backends, etcd):
    nginx = nginx_backends(1)
    cluster = etcd()
    a, api_a = node(switchboard, cluster.url())
    b, api_b = node(switchboard, cluster.url())
    assert register(api_a, "web", "w0", nginx.addrs[0], ttl="1s", routes=[{"path_prefix": "/"}])[0] == 201
    wait_for(lambda: routes(b, "/"), message="B routing w0")
    # Heartbeats through B renew the leases A's registration took: passing well past ttl +
    # deregister_after (1 s + 1 s), on both nodes.
    until = time.monotonic() + 3
    while time.monotonic() < until:
        assert api_b.call("PUT", "/v1/services/web/instances/w0/heartbeat")[0] == 200
        assert request(a.port).status == 200 and request(b.port).status == 200
        time.sleep(0.25)  # the client's heartbeat period (ttl/4), not a synchronisation
    # No more heartbeats: etcd expires the alive lease, and both nodes turn it critical.
    for api in (api_a, api_b):
        wait_for(lambda: api.instances("web")["w0"]["state"] == "critical", timeout=4,
                 message="w0 critical")
    assert request(a.port).status == 503 and request(b.port).status == 503
    # A heartbeat through A makes it passing again for B.
    assert api_a.call("PUT", "/v1/services/web/instances/w0/heartbeat")[0] == 200
    wait_for(lambda: api_b.instances("web").get("w0", {}).get("state") == "passing", timeout=2,
             message="B seeing w0 passing again")
    # Then the instance lease runs out too: deregistered everywhere, its keys gone from etcd.
    for api in (api_a, api_b):
        wait_for(lambda: "w0" not in api.instances("web"), timeout=5, message="w0 deregistered")
    assert request(b.port).status == 404
    assert cluster.keys() == []
    assert api_b.call("PUT", "/v1/services/web/instances/w0/heartbeat")[0] == 404


def test_etcd_down_traffic_flows_writes_503_then_no_change_is_lost(switchboard, nginx_backends, etcd,
                                                                     relay):
    nginx = nginx_backends(3)
    cluster = etcd()
    path_b = relay(cluster.client_ports[0])  # B reaches etcd only through this relay
    a, api_a = node(switchboard, cluster.url())
    b, api_b = node(switchboard, f"etcd://{path_b.address}")
    assert register(api_a, "web", "old", nginx.addrs[0], ttl="30s",
                    routes=[{"path_prefix": "/web"}])[0] == 201
    assert register(api_a, "api", "x", nginx.addrs[1], routes=[{"path_prefix": "/api"}])[0] == 201
    wait_for(lambda: routes(b, "/web") and routes(b, "/api"), message="B routing both")

    cluster.kill(0)
    # Static stability: both nodes keep routing from their last snapshot.
    for sb in (a, b):
        assert all(request(sb.port, path="/web").status == 200 for _ in range(50))
    # Writes fail fast (connection refused), naming the reason.
    for api in (api_a, api_b):
        t0 = time.monotonic()
        status, _, reply = register(api, "web", "new", nginx.addrs[2], routes=[{"path_prefix": "/web"}])
        assert status == 503 and "etcd unreachable" in reply["error"], reply
        assert elapsed_ms(t0) < 1000
        assert api.call("PUT", "/v1/services/web/instances/old/heartbeat")[0] == 503
    assert api_b.instances("web")["old"]["state"] == "passing"  # reads still answer from the cache
    wait_for(lambda: metric(b, "switchboard_registry_etcd_up") == 0, message="B reporting etcd down")

    # etcd comes back, but B still cannot reach it; changes are made through A meanwhile.
    path_b.cut()
    cluster.start(0)
    cluster.wait_healthy()
    wait_for(lambda: register(api_a, "web", "new", nginx.addrs[2], routes=[{"path_prefix": "/web"}])[0]
             == 201, timeout=5, message="A writing again")
    assert api_a.call("DELETE", "/v1/services/web/instances/old")[0] == 200
    assert api_a.call("POST", "/v1/services/api/instances/x/drain")[0] == 200
    # The CLI with B first: B's 503 sends it on to A.
    cli = subprocess.run([switchboard_bin(), "register", "web", "cli", "--address", "127.0.0.1",
                          "--port", nginx.addrs[1].split(":")[1], "--admin",
                          f"127.0.0.1:{b.admin_port},127.0.0.1:{a.admin_port}"],
                         capture_output=True, text=True, timeout=10)
    assert cli.returncode == 0, cli.stderr
    assert api_b.call("DELETE", "/v1/services/web/instances/cli")[0] == 503
    assert api_a.call("DELETE", "/v1/services/web/instances/cli")[0] == 200
    assert body(request(b.port, path="/web")) == "backend-0"  # still the old picture

    # B reaches etcd again and resumes its watch: every change made meanwhile arrives.
    path_b.restore()
    wait_for(lambda: set(api_b.instances("web")) == {"new"}, timeout=5, message="B catching up")
    assert api_b.instances("api")["x"]["state"] == "draining"
    assert {body(request(b.port, path="/web")) for _ in range(4)} == {"backend-2"}
    assert request(b.port, path="/api").status == 503
    assert register(api_b, "web", "after", nginx.addrs[0])[0] == 201
    assert metric(b, "switchboard_registry_etcd_up") == 1


def test_a_compacted_history_makes_a_node_read_everything_afresh(switchboard, nginx_backends, etcd,
                                                                  relay):
    nginx = nginx_backends(2)
    cluster = etcd()
    path_b = relay(cluster.client_ports[0])
    a, api_a = node(switchboard, cluster.url())
    b, api_b = node(switchboard, f"etcd://{path_b.address}")
    assert register(api_a, "web", "gone", nginx.addrs[0], routes=[{"path_prefix": "/"}])[0] == 201
    wait_for(lambda: routes(b, "/"), message="B routing")
    assert metric(b, "switchboard_registry_etcd_full_resyncs_total") == 1

    path_b.cut()
    assert api_a.call("DELETE", "/v1/services/web/instances/gone")[0] == 200
    assert register(api_a, "web", "kept", nginx.addrs[1], routes=[{"path_prefix": "/"}])[0] == 201
    cluster.compact()  # the revisions B would resume from are gone
    path_b.restore()

    wait_for(lambda: set(api_b.instances("web")) == {"kept"}, timeout=5, message="B resynced")
    assert body(request(b.port)) == "backend-1"
    assert metric(b, "switchboard_registry_etcd_full_resyncs_total") == 2
    assert "compacted its history" in b.stderr()


def test_losing_one_of_three_etcd_members_changes_nothing_for_clients(switchboard, nginx_backends, etcd):
    nginx = nginx_backends(2)
    cluster = etcd(3)
    leader = cluster.leader()
    assert leader is not None
    # Both nodes talk to the leader first: the worst member to lose.
    order = [leader] + [i for i in range(3) if i != leader]
    # A write rides out the election for as long as its deadline lasts. On the 2-core CI machine,
    # with the sanitizer build and another test running, an election once took over the default
    # 2 s; etcd's own client allows 5 s (etcdctl --command-timeout).
    a, api_a = node(switchboard, cluster.url(order), etcd_timeout="5s")
    b, api_b = node(switchboard, cluster.url(order), etcd_timeout="5s")
    assert register(api_a, "web", "w0", nginx.addrs[0], ttl="5s", routes=[{"path_prefix": "/"}])[0] == 201
    wait_for(lambda: routes(b, "/"), message="B routing")

    errors, counts = [], {"proxied": 0, "writes": 0}
    stop = threading.Event()

    def traffic(sb):
        while not stop.is_set():
            status = request(sb.port, timeout=5).status
            counts["proxied"] += 1
            if status != 200:
                errors.append(f"proxy {sb.port}: {status}")

    def writes(api):
        n = 0
        while not stop.is_set():
            n += 1
            status, _, reply = (api.call("PUT", "/v1/services/web/instances/w0/heartbeat") if n % 2
                                else register(api, "probe", f"p{api.port}", nginx.addrs[1]))
            counts["writes"] += 1
            if status not in (200, 201):
                errors.append(f"write on {api.port}: {status} {reply}")

    threads = [threading.Thread(target=traffic, args=(sb,)) for sb in (a, b)]
    threads += [threading.Thread(target=writes, args=(AdminApi(sb.admin_port),)) for sb in (a, b)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: counts["writes"] > 20, message="writes flowing")
        cluster.kill(leader)
        before = dict(counts)
        # Until the survivors elected a leader and both nodes wrote through it.
        wait_for(lambda: counts["writes"] > before["writes"] + 40, timeout=10, message="writes after the kill")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert errors == [], errors[:5]
    assert counts["proxied"] > 100
    # A registration after the loss reaches the other node as before.
    assert register(api_b, "web", "w1", nginx.addrs[1], routes=[{"path_prefix": "/"}])[0] == 201
    wait_for(lambda: "w1" in api_a.instances("web"), message="A seeing w1")


def test_a_node_whose_member_is_cut_off_from_the_quorum_follows_another(switchboard, nginx_backends,
                                                                        etcd):
    """A member partitioned from the other two still answers its clients, but learns of no
    change: a watch on it would stall silently. The node asks etcd to end its watch when the
    member has no leader, and resumes it on a member of the quorum."""
    nginx = nginx_backends(2)
    cluster = etcd(3, peer_relays=True)
    leader = cluster.leader()
    assert leader is not None
    cut = next(i for i in range(3) if i != leader)
    quorum = [i for i in range(3) if i != cut]
    a, api_a = node(switchboard, cluster.url(quorum + [cut]))
    b, api_b = node(switchboard, cluster.url([cut] + quorum))  # B follows etcd through `cut`
    # The watch starts after the first read, so its line may come after the node listens.
    wait_for(lambda: f"following etcd at {cluster.address(cut)}" in b.stderr(),
             message="B following etcd through the member to be cut off")
    assert register(api_a, "web", "w0", nginx.addrs[0], routes=[{"path_prefix": "/"}])[0] == 201
    wait_for(lambda: routes(b, "/"), message="B routing w0")

    cluster.isolate(cut)
    # A writes through the quorum; B hears of it once its watch moved off the lone member (it
    # has no leader after an election timeout; etcd ends watches after three).
    assert register(api_a, "web", "w1", nginx.addrs[1], routes=[{"path_prefix": "/"}])[0] == 201
    wait_for(lambda: "w1" in api_b.instances("web"), timeout=15, message="B seeing w1")
    assert {body(request(b.port)) for _ in range(4)} == {"backend-0", "backend-1"}
    assert "no leader" in b.stderr()
    # Resumed where it stopped, not read afresh.
    assert metric(b, "switchboard_registry_etcd_full_resyncs_total") == 1
    # B's writes skip the lone member too.
    assert api_b.call("POST", "/v1/services/web/instances/w0/drain")[0] == 200
    wait_for(lambda: api_a.instances("web")["w0"]["state"] == "draining", message="A seeing the drain")
    assert metric(b, "switchboard_registry_etcd_up") == 1
    cluster.heal()


def test_killing_a_switchboard_node_loses_no_registration(switchboard, nginx_backends, etcd):
    nginx = nginx_backends(2)
    cluster = etcd()
    a, api_a = node(switchboard, cluster.url())
    b, api_b = node(switchboard, cluster.url())
    admin_list = f"127.0.0.1:{a.admin_port},127.0.0.1:{b.admin_port}"
    assert register(api_a, "web", "leased", nginx.addrs[0], ttl="1s", routes=[{"path_prefix": "/"}])[0] == 201
    cli = subprocess.run([switchboard_bin(), "register", "web", "forever", "--address", "127.0.0.1",
                          "--port", nginx.addrs[1].split(":")[1], "--admin", admin_list],
                         capture_output=True, text=True, timeout=10)
    assert cli.returncode == 0, cli.stderr
    wait_for(lambda: len(api_b.instances("web")) == 2, message="B seeing both")

    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(5)
    a.returncode = -9
    # Heartbeats now through B: the registration made through A lives on, past ttl + deregister_after.
    until = time.monotonic() + 3
    while time.monotonic() < until:
        assert api_b.call("PUT", "/v1/services/web/instances/leased/heartbeat")[0] == 200
        assert {body(request(b.port)) for _ in range(2)} == {"backend-0", "backend-1"}
        time.sleep(0.25)  # heartbeat period
    # A node started now finds both in etcd; the CLI fails over from the dead node to it.
    c, api_c = node(switchboard, cluster.url())
    assert set(api_c.instances("web")) == {"leased", "forever"}
    listing = subprocess.run([switchboard_bin(), "instances", "web", "--json", "--admin",
                              f"127.0.0.1:{a.admin_port},127.0.0.1:{c.admin_port}"],
                             capture_output=True, text=True, timeout=10)
    assert listing.returncode == 0, listing.stderr
    assert "leased" in listing.stdout and "forever" in listing.stdout


def test_a_node_starts_without_etcd_and_follows_it_once_it_answers(switchboard, nginx_backends, etcd):
    nginx = nginx_backends(1)
    cluster = etcd()
    cluster.kill(0)
    t0 = time.monotonic()
    a, api_a = node(switchboard, cluster.url())  # listens although etcd is away
    assert elapsed_ms(t0) < 5000
    assert register(api_a, "web", "w0", nginx.addrs[0])[0] == 503
    cluster.start(0)
    cluster.wait_healthy()
    wait_for(lambda: register(api_a, "web", "w0", nginx.addrs[0], routes=[{"path_prefix": "/"}])[0]
             == 201, timeout=5, message="registrations once etcd answers")
    assert body(request(a.port)) == "backend-0"


def test_bad_registry_settings_exit_2_naming_the_key(tmp_path):
    for flag in ("etcd://", "etcd://127.0.0.1", "consul://127.0.0.1:8500"):
        result = run_switchboard(["serve", "--registry", flag, "--admin-listen", "127.0.0.1:0"], cwd=tmp_path)
        assert result.returncode == 2, (flag, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("switchboard: --registry: "), lines
    conf = tmp_path / "bad.yaml"
    for settings, key in (("store: etcd://h", "registry.store"),
                          ("etcd_prefix: nope", "registry.etcd_prefix"),
                          ("etcd_timeout: 5m", "registry.etcd_timeout")):
        conf.write_text(f"registry:\n  {settings}\n")
        result = run_switchboard(["serve", "--config", str(conf)], cwd=tmp_path)
        assert result.returncode == 2, (settings, result.stderr)
        assert result.stderr.strip().startswith(f"switchboard: {key}: "), result.stderr


def test_passive_health_stays_with_the_node_that_saw_the_failures(switchboard, nginx_backends, etcd):
    """Node A marks an instance down on its own traffic; the registry (etcd, both nodes' /v1) is
    untouched, and node B, which saw no failure, keeps routing to it once it is back, while A holds
    it down for the rest of its fail_timeout."""
    steady = nginx_backends(2)  # its backend-1 is the steady instance
    flaky = nginx_backends(1)   # backend-0
    cluster = etcd()
    config = make_config([{"name": "web", "instances": [],
                           "health": {"max_fails": 1, "fail_timeout": "60s"}}],
                         registry={"deregister_after": "1s"})
    a = switchboard(args=("--registry", cluster.url()), config=config)
    b = switchboard(args=("--registry", cluster.url()), config=config)
    api_a, api_b = AdminApi(a.admin_port), AdminApi(b.admin_port)
    assert register(api_a, "web", "flaky", flaky.addrs[0])[0] == 201
    assert register(api_a, "web", "steady", steady.addrs[1])[0] == 201
    both = {"backend-0", "backend-1"}
    wait_for(lambda: {body(request(b.port)) for _ in range(4)} == both, message="B routing both")
    record = cluster.get("/switchboard/instances/web/flaky")

    flaky.stop()
    # Through A only: the refused attempt marks flaky down on A (max_fails 1) and the request
    # moves on to steady, so clients see no error.
    assert [body(request(a.port)) for _ in range(6)] == ["backend-1"] * 6
    assert lb_instance(a, "flaky")["state"] == "down"
    assert lb_instance(a, "flaky")["failures"] == 1
    assert lb_instance(b, "flaky")["state"] == "passing"
    assert lb_instance(b, "flaky")["failures"] == 0
    # Nothing of it reached the registry: the record in etcd is the one written, and both nodes'
    # API report flaky passing.
    assert cluster.get("/switchboard/instances/web/flaky") == record
    for api in (api_a, api_b):
        assert api.instances("web")["flaky"]["state"] == "passing"

    nginx_backends(1, ports=flaky.ports)  # back where it was
    # B never saw it fail: it routes to it again at once...
    assert {body(request(b.port)) for _ in range(4)} == both
    assert lb_instance(b, "flaky")["state"] == "passing"
    # ...while A keeps it down for the rest of fail_timeout.
    assert {body(request(a.port)) for _ in range(6)} == {"backend-1"}
    assert lb_instance(a, "flaky")["state"] == "down"
    assert cluster.get("/switchboard/instances/web/flaky") == record


def test_client_library_moves_to_another_node_when_its_node_hangs_then_dies(switchboard, etcd,
                                                                           tmp_path):
    """A Registration and a Resolver given nodes A and B start on A. With A hung (SIGSTOP) the
    heartbeats move to B and the instance stays passing for three ttls; with A killed the
    Resolver's parked query moves to B and it follows changes made there
    (tests/integration/client_failover.cpp)."""
    check = Path(switchboard_bin()).parent / "client_failover_check"
    assert check.exists(), f"{check} not built (it is built with the unit tests)"
    cluster = etcd()
    a, _ = node(switchboard, cluster.url())
    b, _ = node(switchboard, cluster.url())
    errors = tmp_path / "client_failover_check.stderr"
    with open(errors, "w") as stderr:
        proc = subprocess.Popen([str(check), f"127.0.0.1:{a.admin_port}", f"127.0.0.1:{b.admin_port}"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True)
    lines = queue.Queue()
    seen = []
    threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stdout],
                     daemon=True).start()

    def expect(line, timeout):
        try:
            got = lines.get(timeout=timeout)
        except queue.Empty:
            got = None
        seen.append(got)
        assert got == line, f"expected {line!r}, got {got!r} after {seen[:-1]}\n{errors.read_text()}"

    def tell(line):
        proc.stdin.write(line + "\n")
        proc.stdin.flush()

    try:
        expect("ok registered and heartbeating through A, resolver ready", 15)
        expect("stop A", 5)
        a.proc.send_signal(signal.SIGSTOP)
        tell("stopped")
        expect("ok passing for 3 ttls on heartbeats through B while A hangs", 30)
        # Connections to the hung A wait in its accept queue: one per call that tried A. The
        # library tried it for one heartbeat (none if that one was accepted before the stop), or
        # two if B was once slower than the client's timeout on this shared machine; without the
        # memory of the last address that answered, every heartbeat would (6 when tried so).
        assert accept_queue(a.admin_port) <= 2
        expect("kill A", 5)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(5)
        a.returncode = -9
        tell("killed")
        expect("ok resolver follows changes through B with A killed", 20)
        expect("ok still passing a ttl after A died; deregistered through B", 20)
        assert proc.wait(10) == 0, errors.read_text()
    finally:
        if a.returncode is None:
            a.proc.send_signal(signal.SIGKILL)
            a.proc.wait(5)
            a.returncode = -9
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def accept_queue(port):
    """Connections waiting for accept() on the loopback listener at `port` (/proc/net/tcp)."""
    local = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[3] == "0A":  # LISTEN: rx_queue is the accept backlog
            return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"no listener on 127.0.0.1:{port}")


def test_an_etcd_replaced_by_another_cluster_is_read_afresh(switchboard, nginx_backends, etcd, relay):
    """etcd rebuilt empty on the same address (a new cluster id): the node notices the other
    cluster when its watch resumes, reads everything afresh, drops instances that no longer exist,
    takes the new cluster's ones and keeps taking writes, with revisions that started over."""
    nginx = nginx_backends(2)
    cluster = etcd()
    path_a = relay(cluster.client_ports[0])
    a, api_a = node(switchboard, f"etcd://{path_a.address}")
    for iid in ("gone-1", "gone-2"):
        assert register(api_a, "web", iid, nginx.addrs[0], routes=[{"path_prefix": "/"}])[0] in (200, 201)
    assert body(request(a.port)) == "backend-0"
    old_id = cluster.cluster_id()
    old_revision = cluster.revision()
    template = json.loads(cluster.get("/switchboard/instances/web/gone-1")["value"])
    assert metric(a, "switchboard_registry_etcd_full_resyncs_total") == 1

    path_a.cut()
    cluster.replace()
    assert cluster.cluster_id() != old_id
    assert cluster.keys() == []
    # The new cluster's own registration (as another node would have written it), made before
    # A reaches it; its revisions are below the ones A followed.
    template["port"] = int(nginx.addrs[1].split(":")[1])
    assert cluster.put("/switchboard/instances/web/fresh", json.dumps(template)) < old_revision
    path_a.restore()

    wait_for(lambda: set(api_a.instances("web")) == {"fresh"}, timeout=10, message="A reading afresh")
    assert {body(request(a.port)) for _ in range(4)} == {"backend-1"}
    assert metric(a, "switchboard_registry_etcd_full_resyncs_total") == 2
    assert "another cluster now" in a.stderr()
    # Writes work against the new cluster's revisions: answered once routed, as before.
    assert register(api_a, "web", "after", nginx.addrs[0], routes=[{"path_prefix": "/"}])[0] == 201
    assert {body(request(a.port)) for _ in range(4)} == {"backend-0", "backend-1"}
    assert cluster.keys() == ["/switchboard/instances/web/after", "/switchboard/instances/web/fresh"]
