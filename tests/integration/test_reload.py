"""Hot reload: SIGHUP and POST /v1/admin/reload read the config file again; services, routes,
algorithms, timeouts and limits change while in-flight requests, WebSocket tunnels, idle
keep-alive connections (client and pooled upstream) and registrations carry on; a bad config, or
a change that takes a restart, is refused with the reason and the running config keeps serving;
20 reloads spread over a wrk run, each changing something else, fail no request; a reload that
adds an active check takes an instance failing it out."""

import asyncio
import json
import re
import signal
import subprocess
import threading
import time

import websockets

from harness import AdminApi, make_config, service, to_yaml, wait_until
from rawhttp import RawConn, request


def backend_of(resp):
    return resp.header("X-Backend")


def write(sb, config):
    sb.config_path.write_text(to_yaml(config))


def reload(sb):
    api = AdminApi(sb.admin_port)
    try:
        return api.call("POST", "/v1/admin/reload")
    finally:
        api.close()


def test_api_reload_moves_traffic_and_keeps_connections(switchboard, nginx_backends):
    nginx = nginx_backends(2)
    sb = switchboard(config=make_config([service("web", [nginx.addrs[0]])]))
    kept = RawConn(sb.port)
    assert backend_of(kept.request()) == "backend-0"
    api = AdminApi(sb.admin_port)
    host, port = nginx.addrs[1].split(":")
    assert api.register("api", "a1", host, int(port), routes=[{"path_prefix": "/api"}])[0] in (200, 201)

    write(sb, make_config([service("web", [nginx.addrs[1]], balance="least_conn")]))
    status, _, body = reload(sb)
    assert status == 200 and body["reloaded"] is True, body
    assert "config reloaded: 1 service(s)" in sb.stderr()
    assert {backend_of(request(sb.port)) for _ in range(4)} == {"backend-1"}
    # The keep-alive connection from before the reload goes on, on the new config.
    assert backend_of(kept.request()) == "backend-1"
    # Registrations are not the config's: they stay.
    assert backend_of(request(sb.port, path="/api")) == "backend-1"
    kept.close()
    api.close()


def test_sighup_reloads(switchboard, nginx_backends):
    nginx = nginx_backends(2)
    sb = switchboard(config=make_config([service("web", [nginx.addrs[0]])]))
    write(sb, make_config([service("web", [nginx.addrs[1]])]))
    sb.send_signal(signal.SIGHUP)
    wait_until(lambda: backend_of(request(sb.port)) == "backend-1", 5, message="SIGHUP applied")
    assert sb.alive()


def test_bad_config_is_refused_and_the_old_one_serves(switchboard, nginx_backends):
    nginx = nginx_backends(1)
    sb = switchboard(config=make_config([service("web", nginx.addrs)]))
    sb.config_path.write_text(sb.config_path.read_text().replace("instances:", "instancez:", 1))
    status, _, body = reload(sb)
    assert status == 400 and "services[0].instancez: unknown key" in body["error"], body
    assert "config reload rejected, the running config stays: services[0].instancez" in sb.stderr()
    assert request(sb.port).status == 200

    write(sb, make_config([service("web", nginx.addrs)], threads=2))
    status, _, body = reload(sb)
    assert status == 400 and body["error"] == "threads: changed from 1 to 2; that takes a restart"
    assert request(sb.port).status == 200


def test_reload_keeps_in_flight_requests_tunnels_and_pooled_connections(
        switchboard, nginx_backends, echo_backend, ws_backend):
    nginx = nginx_backends(2)
    slow = echo_backend("slow")
    routes = [{"path_prefix": "/slow", "service": "app"},
              {"path_prefix": "/echo", "service": "ws"},
              {"path_prefix": "/", "service": "web"}]
    sb = switchboard(config=make_config([service("app", [slow.addr]), service("ws", [ws_backend.addr]),
                                         service("web", [nginx.addrs[0]])], routes=routes))

    # A request in flight to an instance the reload removes.
    answer = {}
    in_flight = threading.Thread(
        target=lambda: answer.update(r=request(sb.port, path="/slow?delay_ms=1500", timeout=15)))
    in_flight.start()
    wait_until(lambda: slow.head_count() == 1, 5, message="the slow request at its backend")
    # An idle client keep-alive connection, and the pooled upstream connection behind it.
    kept = RawConn(sb.port)
    first = kept.request()
    assert first.header("X-Backend") == "backend-0"

    async def tunnel_across_reload():
        async with websockets.connect(f"ws://127.0.0.1:{sb.port}/echo", ping_interval=None,
                                      open_timeout=5, close_timeout=5) as ws:
            await ws.send("before")
            assert await asyncio.wait_for(ws.recv(), 5) == "before"
            # The tunnel's instance and route go; web keeps its instance under another algorithm,
            # tighter limits and other timeouts.
            write(sb, make_config(
                [service("app", [nginx.addrs[1]]), service("ws", [nginx.addrs[1]]),
                 service("web", [nginx.addrs[0]], balance="least_conn")], routes=routes,
                limits={"header_count": 20}, timeouts={"upstream_response": "7s"}))
            status, _, body = await asyncio.to_thread(reload, sb)
            assert status == 200, body
            await ws.send("after")
            assert await asyncio.wait_for(ws.recv(), 5) == "after"

    asyncio.run(tunnel_across_reload())
    in_flight.join(15)
    assert answer["r"].status == 200 and answer["r"].header("X-Backend") == "slow"
    # New requests follow the new config...
    assert backend_of(request(sb.port, path="/slow")) == "backend-1"
    # ...the idle client connection goes on, over the same pooled upstream connection (the
    # instance was kept, so its pool was)...
    again = kept.request()
    assert again.header("X-Backend") == "backend-0"
    assert again.header("X-Conn") == first.header("X-Conn")
    kept.close()
    # ...and the new limits apply.
    many = {f"X-H{i}": "v" for i in range(30)}
    assert request(sb.port, headers=many).status == 431
    assert ws_backend.connections[0].received == 2


def test_reload_applies_new_timeouts(switchboard, echo_backend):
    slow = echo_backend("slow", defaults={"delay_ms": "800"})
    config = make_config([service("app", [slow.addr])])
    sb = switchboard(config=config)
    assert request(sb.port).status == 200
    config["timeouts"]["upstream_response"] = "200ms"
    config["services"][0]["health"] = {"max_fails": 0}
    write(sb, config)
    assert reload(sb)[0] == 200
    assert request(sb.port).status == 504


def balance_of(sb, name):
    status = json.loads(request(sb.port, path="/lb-status?format=json").body)
    return next(s["balance"] for s in status["services"] if s["name"] == name)


def test_service_leaving_the_file_keeps_its_registered_meta_balance(switchboard, nginx_backends):
    nginx = nginx_backends(3)
    sb = switchboard(config=make_config([service("web", [nginx.addrs[0]], balance="ewma"),
                                         service("other", [nginx.addrs[2]])],
                                        routes=[{"path_prefix": "/", "service": "other"}]))
    api = AdminApi(sb.admin_port)
    host, port = nginx.addrs[1].split(":")
    assert api.register("web", "w1", host, int(port), meta={"balance": "least_conn"},
                        routes=[{"path_prefix": "/web"}])[0] in (200, 201)
    api.close()
    assert balance_of(sb, "web") == "ewma"  # the file's balance wins while the file has it

    write(sb, make_config([service("other", [nginx.addrs[2]])]))
    assert reload(sb)[0] == 200
    # Acknowledged means applied: the registered meta decides at once, no registry change needed.
    assert balance_of(sb, "web") == "least_conn"
    assert {backend_of(request(sb.port, path="/web")) for _ in range(3)} == {"backend-1"}


def lb_status(sb):
    return json.loads(request(sb.port, path="/lb-status?format=json").body)


def test_twenty_reloads_under_load_fail_no_request(switchboard, nginx_backends):
    """The reloads are spread over wrk's run (it is sending before the first and still running at
    the last), and each changes something else: routes, algorithm, health settings, timeouts,
    limits, instances and weights."""
    nginx = nginx_backends(3)
    web = service("web", nginx.addrs)
    alt = service("alt", nginx.addrs[:1])
    to_web = [{"path_prefix": "/", "service": "web"}]

    def config(web_service=web, routes=to_web, **sections):
        return make_config([web_service, alt], routes=routes, **sections)

    configs = [
        config(),
        # Routes: "/" goes to another service, and a new prefix appears.
        config(routes=[{"path_prefix": "/api", "service": "web"},
                       {"path_prefix": "/", "service": "alt"}]),
        # Algorithm.
        config(web_service={**web, "balance": "least_conn"}),
        # Health settings: passive ones and an active check.
        config(web_service={**web, "health": {
            "max_fails": 3, "fail_timeout": "5s", "panic_threshold": 30,
            "check": {"path": "/", "interval": "200ms", "timeout": "150ms", "rise": 1,
                      "fall": 2}}}),
        # Timeouts.
        config(timeouts={"upstream_response": "5s", "upstream_connect": "1s",
                         "client_header": "5s", "keepalive_idle": "20s"}),
        # Limits, global and the service's own.
        config(web_service={**web, "max_conns": 200, "queue": {"size": 50, "timeout": "2s"}},
               limits={"header_count": 40, "request_line": "4k", "body_size": "1m"}),
        # Instances, weights and another algorithm together.
        config(web_service=service("web", nginx.addrs[1:], weights=[3, 1], balance="p2c")),
    ]
    sb = switchboard(config=configs[0])
    duration = 10
    wrk = subprocess.Popen(["wrk", "-t1", "-c16", f"-d{duration}s", f"http://127.0.0.1:{sb.port}/"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = time.monotonic()
    try:
        baseline = lb_status(sb)["requests"]
        wait_until(lambda: lb_status(sb)["requests"] > baseline + 500, 5,
                   message="wrk sending requests")
        before = lb_status(sb)["requests"]
        # The 20 reloads over what is left of the run, less a margin at the end.
        first = time.monotonic()
        step = (started + duration - 1.5 - first) / 20
        assert step > 0.1, "wrk took too long to start sending"
        for i in range(20):
            time.sleep(max(0.0, first + i * step - time.monotonic()))  # pacing, not waiting
            write(sb, configs[(i + 1) % len(configs)])
            status, _, body = reload(sb)
            assert status == 200, body
        assert wrk.poll() is None, "wrk ended before the last reload"
        during = lb_status(sb)["requests"] - before
        out, _ = wrk.communicate(timeout=30)
    finally:
        if wrk.poll() is None:
            wrk.kill()
    assert during > 1000, during  # traffic flowed while the reloads went on
    assert int(re.search(r"(\d+) requests in", out).group(1)) > 1000, out
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    assert sb.stderr().count("config reloaded") == 20


def test_reload_adding_an_active_check_takes_a_failing_instance_out(switchboard, nginx_backends,
                                                                    echo_backend):
    nginx = nginx_backends(1)
    sick = echo_backend("sick")
    config = make_config([service("web", [nginx.addrs[0], sick.addr])])
    sb = switchboard(config=config)
    assert {backend_of(request(sb.port)) for _ in range(4)} == {"backend-0", "sick"}

    # The check's path: nginx answers it 200, the echo backend with the status it names.
    config["services"][0]["health"] = {"check": {"path": "/?status=503", "interval": "100ms",
                                                 "timeout": "100ms", "rise": 1, "fall": 1}}
    write(sb, config)
    assert reload(sb)[0] == 200

    def checked():
        web = next(s for s in lb_status(sb)["services"] if s["name"] == "web")
        by_address = {i["address"]: i for i in web["instances"]}
        return by_address[sick.addr]["check"] == "down" and by_address[nginx.addrs[0]]["check"] == "up" \
            and by_address[sick.addr]["state"] == "down"

    wait_until(checked, 5, message="the sick instance down by its checks")
    assert {backend_of(request(sb.port)) for _ in range(10)} == {"backend-0"}
    assert f"instance {sick.addr} of service web failed 1 active check(s) in a row (answered " \
        "503): down" in sb.stderr()
