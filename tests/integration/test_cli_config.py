"""Command line and YAML configuration: the two ways to start, --listen overriding the file, and
one clear stderr line naming the key or flag for every mistake (exit code != 0)."""

import copy

import pytest

from harness import free_port, make_config, run_switchboard, service, to_yaml
from rawhttp import request


def one_error_line(result):
    assert result.returncode is not None, f"accepted and kept running:\n{result.stderr}"
    assert result.returncode != 0, f"accepted: {result.stdout!r} {result.stderr!r}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{result.stderr}"
    return lines[0]


BAD_FLAGS = [
    (["serve", "--bogus-flag"], "--bogus-flag"),
    (["serve", "--listen", "not-an-endpoint", "--backends", "127.0.0.1:9"], "listen"),
    (["serve", "--listen", "127.0.0.1:99999", "--backends", "127.0.0.1:9"], "listen"),
    (["serve", "--listen", "127.0.0.1:0", "--backends", "127.0.0.1:70000"], "backends"),
    (["serve", "--listen", "127.0.0.1:0", "--backends", "127.0.0.1"], "backends"),
    (["serve", "--listen", "127.0.0.1:0", "--backends", "127.0.0.1:9", "--threads", "many"], "threads"),
    (["serve", "--listen", "127.0.0.1:0", "--backends", "127.0.0.1:9", "--balance", "coin_toss"], "balance"),
    (["serve", "--listen", "127.0.0.1:0", "--backends", "127.0.0.1:9", "--log-level", "chatty"], "log"),
    # Nothing to proxy to: no static services and no registry.
    (["serve", "--listen", "127.0.0.1:0", "--admin-listen", "off"], ("backends", "config", "registry")),
    (["serve", "--listen", "127.0.0.1:0", "--admin-listen", "nowhere"], "admin-listen"),
    (["serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", "/proc/no/such/dir"],
     "data_dir"),
    (["serve", "--config", "/nonexistent/switchboard.yaml"], "/nonexistent/switchboard.yaml"),
    (["no-such-subcommand"], "no-such-subcommand"),
    (["serve", "--backends", "127.0.0.1:9101", "--accept-balance", "fair"], "accept_balance"),
]


@pytest.mark.parametrize("argv,needle", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flag_is_one_line_naming_it(argv, needle):
    line = one_error_line(run_switchboard(argv))
    needles = needle if isinstance(needle, tuple) else (needle,)
    assert any(n.lower() in line.lower() for n in needles), line


def base_config():
    return make_config([service("web", ["127.0.0.1:9101", "127.0.0.1:9102"]), service("api", ["127.0.0.1:9103"])],
                       routes=[{"path_prefix": "/api", "service": "api", "strip_prefix": True},
                               {"path_prefix": "/", "service": "web"}])


def mutate(path_value):
    """Config with one setting replaced: ("services.0.instances.0.port", 70000)."""
    path, value = path_value
    cfg = copy.deepcopy(base_config())
    node = cfg
    keys = path.split(".")
    for k in keys[:-1]:
        if isinstance(node, list):
            node = node[int(k)]
        else:
            node = node.setdefault(k, {})
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return cfg


BAD_CONFIGS = [
    (("services.0.instances.0.port", 70000), "services[0].instances[0].port", "70000"),
    (("services.0.instances.1.port", 0), "services[0].instances[1].port", None),
    (("services.0.instances.0.weight", 0), "services[0].instances[0].weight", None),
    (("services.0.instances.0.weight", 5000), "services[0].instances[0].weight", None),
    (("services.0.instances.0.address", ""), "services[0].instances[0].address", None),
    (("services.1.name", "web"), "services[1].name", None),  # duplicate
    (("services.0.name", "Not A Name!"), "services[0].name", None),
    (("services.0.balance", "coin_toss"), "services[0].balance", "coin_toss"),
    (("routes.1.service", "nosuch"), "routes[1].service", "nosuch"),
    (("routes.0.path_prefix", "api"), "routes[0].path_prefix", None),  # must start with "/"
    (("timeouts.client_header", "5 parsecs"), "timeouts.client_header", None),
    (("timeouts.upstream_connect", "-1s"), "timeouts.upstream_connect", None),
    (("limits.header_block", "lots"), "limits.header_block", None),
    (("limits.header_count", -3), "limits.header_count", None),
    (("listen", "nowhere"), "listen", None),
    (("threads", "two"), "threads", None),
    (("log_level", "chatty"), "log_level", None),
    (("access_log.format", "xml"), "access_log.format", None),
    (("endpoints.health_path", "no-slash"), "endpoints.health_path", None),
    (("services.0.health.fail_on", ["error", "418"]), "services[0].health.fail_on[1]", "418"),
    (("services.0.health.panic_threshold", 150), "services[0].health.panic_threshold", "150"),
    (("services.0.health.fail_timeout", "0s"), "services[0].health.fail_timeout", None),
    (("services.0.health.max_tries", 3), "services[0].health", "max_tries"),
    (("registry.deregister_after", "0s"), "registry.deregister_after", None),
    (("admin.listen", "nowhere"), "admin.listen", None),
    (("timeouts.bogus_timeout", "1s"), "bogus_timeout", None),  # unknown keys are typos, not silence
    (("servicez", []), "servicez", None),
]


@pytest.mark.parametrize("change,key,needle", BAD_CONFIGS, ids=[c[0][0] + "=" + str(c[0][1]) for c in BAD_CONFIGS])
def test_bad_config_is_one_line_naming_the_key(tmp_path, change, key, needle):
    cfg_path = tmp_path / "bad.yaml"
    cfg_path.write_text(to_yaml(mutate(change)))
    line = one_error_line(run_switchboard(["serve", "--config", str(cfg_path), "--listen", "127.0.0.1:0"]))
    assert key in line, line
    if needle:
        assert needle in line, line


def test_invalid_yaml_is_one_line(tmp_path):
    cfg_path = tmp_path / "broken.yaml"
    cfg_path.write_text("services:\n  - name: web\n   instances: [\n")
    line = one_error_line(run_switchboard(["serve", "--config", str(cfg_path)]))
    assert "broken.yaml" in line or "line" in line.lower(), line


def test_example_error_message_format(tmp_path):
    cfg_path = tmp_path / "bad.yaml"
    cfg_path.write_text(to_yaml(mutate(("services.0.instances.0.port", 70000))))
    line = one_error_line(run_switchboard(["serve", "--config", str(cfg_path)]))
    assert line.startswith("switchboard: services[0].instances[0].port: "), line
    assert "70000" in line and "65535" in line


def test_help_exits_zero():
    result = run_switchboard(["serve", "--help"])
    assert result.returncode == 0
    text = result.stdout + result.stderr
    for flag in ("--listen", "--backends", "--config", "--threads"):
        assert flag in text


def test_yaml_config_with_every_section(nginx_backends, switchboard):
    nb = nginx_backends(2)
    port = free_port()
    text = f"""\
# a complete configuration
listen: 127.0.0.1:{port}
threads: 1
log_level: warn
services:
  - name: web
    balance: round_robin
    instances:
      - {{ address: 127.0.0.1, port: {nb.ports[0]}, weight: 1 }}
      - address: 127.0.0.1
        port: {nb.ports[1]}
        weight: 1
routes:
  - host: example.test
    path_prefix: /
    service: web
    strip_prefix: false
  - path_prefix: /
    service: web
timeouts:
  client_header: 5s
  client_body: 30s
  keepalive_idle: 60s
  upstream_connect: 2s
  upstream_response: 30s
  upstream_idle: 20s
  websocket_idle: 1h
  drain: 3s
limits:
  request_line: 8k
  header_block: 32k
  header_count: 100
  body_size: 1g
  upstream_keepalive: 16
  max_connections: 10000
access_log:
  enabled: true
  path: "-"
  format: json
endpoints:
  health_path: /healthz
  status_path: /statusz
"""
    sb = switchboard(config=text, listen=None, wait=False)  # log_level warn: no "listening" line
    sb.wait_connectable(port)
    seen = {request(sb.port, host="example.test").body for _ in range(4)}
    assert seen == {b"backend-0\n", b"backend-1\n"}
    assert request(sb.port, path="/healthz").status == 200
    assert request(sb.port, path="/statusz").text.startswith("Active connections:")


def test_listen_flag_overrides_the_file(nginx_backends, switchboard):
    nb = nginx_backends(1)
    file_port = free_port()
    cfg = make_config([service("web", nb.addrs)], listen=f"127.0.0.1:{file_port}")
    sb = switchboard(config=cfg, listen="127.0.0.1:0")
    assert sb.port != file_port
    assert request(sb.port).body == b"backend-0\n"


def test_listen_from_the_file(nginx_backends, switchboard):
    nb = nginx_backends(1)
    cfg = make_config([service("web", nb.addrs)], listen="127.0.0.1:0")
    sb = switchboard(config=cfg, listen=None)
    assert request(sb.port).body == b"backend-0\n"


@pytest.mark.parametrize("level", ["debug", "info", "warn", "error"])
def test_log_levels_accepted(nginx_backends, switchboard, level):
    nb = nginx_backends(1)
    # warn and error may hide the info line that reports the port: listen on a known one.
    port = free_port()
    sb = switchboard(["--backends", nb.addrs[0], "--log-level", level, "--threads", "1"],
                     listen=f"127.0.0.1:{port}", wait=False)
    sb.wait_connectable(port)
    assert request(port).status == 200
