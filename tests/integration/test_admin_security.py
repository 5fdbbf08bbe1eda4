"""Admin security: the admin listener binds loopback by default; bound anywhere else it refuses to
start without a bearer token (config or SWITCHBOARD_ADMIN_TOKEN), and then every call needs it
(reads can be opened separately). A missing or wrong token gets 401 and changes nothing; the CLI
sends the token from --token or the environment."""

import os
import subprocess

from harness import AdminApi, make_config, run_switchboard, service, switchboard_bin

TOKEN = "s3cret-token-0123456789"


def auth(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def registration(api, headers=None):
    return api.call("PUT", "/v1/services/web/instances/w1",
                    {"address": "127.0.0.1", "port": 9101}, headers=headers)


def secured_config(**admin):
    config = make_config([service("static", ["127.0.0.1:9"])])
    config["admin"] = {"token": TOKEN, **admin}
    return config


def test_off_loopback_without_a_token_refuses_to_start():
    env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_ADMIN_TOKEN"}
    result = subprocess.run([switchboard_bin(), "serve", "--backends", "127.0.0.1:9",
                             "--listen", "127.0.0.1:0", "--admin-listen", "0.0.0.0:0"],
                            capture_output=True, text=True, timeout=10, env=env,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "admin.token: required when the admin listener is not on loopback (it is on " \
           "0.0.0.0)" in result.stderr


def test_writes_need_the_token_and_401_changes_nothing(switchboard):
    sb = switchboard(config=secured_config(), admin="0.0.0.0:0")
    api = AdminApi(sb.admin_port)
    for headers in (None, auth("wrong-token-0123456789"), {"Authorization": TOKEN}):
        status, resp_headers, body = registration(api, headers)
        assert status == 401 and "bearer token" in body["error"], (headers, status, body)
        assert resp_headers["www-authenticate"].startswith("Bearer")
    assert api.call("GET", "/v1/services/web", headers=auth())[0] == 404  # nothing registered
    assert registration(api, auth())[0] in (200, 201)
    assert api.call("POST", "/v1/services/web/instances/w1/drain")[0] == 401
    status, _, body = api.call("GET", "/v1/services/web", headers=auth())
    assert status == 200 and body["instances"][0]["state"] == "passing"
    # Reads need it too, unless opened.
    assert api.call("GET", "/v1/services")[0] == 401
    api.close()


def test_reload_and_deregister_need_the_token_and_401_changes_nothing(switchboard):
    sb = switchboard(config=secured_config(), admin="0.0.0.0:0")
    api = AdminApi(sb.admin_port)
    assert registration(api, auth())[0] in (200, 201)
    sb.config_path.write_text(sb.config_path.read_text().replace('"static"', '"renamed"'))
    for method, path in (("POST", "/v1/admin/reload"),
                         ("DELETE", "/v1/services/web/instances/w1"),
                         ("POST", "/v1/services/web/instances/w1/undrain")):
        status, headers, _ = api.call(method, path, headers=auth("wrong-token-0123456789"))
        assert status == 401 and headers["www-authenticate"].startswith("Bearer"), (method, path)
    assert "config reload" not in sb.stderr()
    status, _, body = api.call("GET", "/v1/services/web", headers=auth())
    assert status == 200 and [i["id"] for i in body["instances"]] == ["w1"]
    status, _, body = api.call("GET", "/v1/dashboard", headers=auth())
    assert [s["name"] for s in body["services"]] == ["static", "web"]  # not reloaded
    assert api.call("POST", "/v1/admin/reload", headers=auth())[0] == 200
    status, _, body = api.call("GET", "/v1/dashboard", headers=auth())
    assert [s["name"] for s in body["services"]] == ["renamed", "web"]
    api.close()


def test_dashboard_page_opens_without_the_token_but_its_data_needs_it(switchboard):
    sb = switchboard(config=secured_config(), admin="0.0.0.0:0")
    api = AdminApi(sb.admin_port)
    status, headers, _ = api.call("GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    for path in ("/v1/dashboard", "/metrics"):
        assert api.call("GET", path)[0] == 401, path
        assert api.call("GET", path, headers=auth())[0] == 200, path
    assert api.call("POST", "/")[0] == 401  # only reading the page is open
    api.close()


def test_open_reads_answer_gets_without_the_token(switchboard):
    sb = switchboard(config=secured_config(open_reads=True), admin="0.0.0.0:0")
    api = AdminApi(sb.admin_port)
    assert api.call("GET", "/v1/services")[0] == 200
    assert api.call("GET", "/metrics")[0] == 200
    assert registration(api)[0] == 401
    api.close()


def test_token_from_the_environment_and_the_cli(switchboard):
    sb = switchboard(config=make_config([service("static", ["127.0.0.1:9"])]), admin="0.0.0.0:0",
                     env={"SWITCHBOARD_ADMIN_TOKEN": TOKEN})
    admin = f"127.0.0.1:{sb.admin_port}"
    base = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_ADMIN_TOKEN"}

    def cli(*args, env=None):
        return subprocess.run([switchboard_bin(), *args, "--admin", admin], capture_output=True,
                              text=True, timeout=20, env={**base, **(env or {})},
                              stdin=subprocess.DEVNULL)

    refused = cli("register", "web", "w1", "--address", "127.0.0.1", "--port", "9101")
    assert refused.returncode == 1 and "wrong bearer token" in refused.stderr, refused.stderr
    assert cli("register", "web", "w1", "--address", "127.0.0.1", "--port", "9101", "--token", TOKEN).returncode == 0
    listed = cli("instances", "web", env={"SWITCHBOARD_ADMIN_TOKEN": TOKEN})
    assert listed.returncode == 0 and "w1" in listed.stdout, listed.stderr


def test_short_token_is_refused(tmp_path):
    conf = tmp_path / "sb.yaml"
    conf.write_text("admin: { token: short }\nservices:\n  - name: web\n"
                    "    instances: [\"127.0.0.1:9\"]\n")
    result = run_switchboard(["serve", "--config", str(conf)])
    assert result.returncode == 2
    assert "admin.token: must be at least 16 characters with no spaces" in result.stderr


def test_short_or_spaced_token_from_the_environment_is_refused(tmp_path):
    for bad in ("short", "has a space in it 0123456789"):
        env = {**os.environ, "SWITCHBOARD_ADMIN_TOKEN": bad}
        result = subprocess.run([switchboard_bin(), "serve", "--backends", "127.0.0.1:9",
                                 "--listen", "127.0.0.1:0", "--admin-listen", "0.0.0.0:0"],
                                capture_output=True, text=True, timeout=10, env=env,
                                stdin=subprocess.DEVNULL, cwd=tmp_path)
        assert result.returncode == 2, (bad, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert lines == ["switchboard: SWITCHBOARD_ADMIN_TOKEN: must be at least 16 characters "
                         "with no spaces"], lines
        assert bad not in result.stderr  # the secret is not echoed
