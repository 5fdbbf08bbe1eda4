"""The live dashboard (GET / on the admin listener) in a real headless Chromium, driven over the
DevTools protocol: the page loads with no console error or exception, shows the services and
their instances with live figures (req/s, share, p50/p99, error rate) while traffic flows, its
drain and undrain buttons drain and undrain a registered instance, and a screenshot is saved
(build/<preset>/dashboard.png, next to the binary)."""

import asyncio
import base64
import json
import re
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest
import websockets

from harness import AdminApi, make_config, service, switchboard_bin, wait_until
from rawhttp import RawConn, request

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None,
                                reason="chromium not installed (scripts/install-deps.sh)")


class Browser:
    """Headless Chromium with its DevTools endpoint on an ephemeral port."""

    def __init__(self, url, profile: Path):
        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={profile}",
             "--window-size=1280,900", url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = None
        for line in self.proc.stderr:
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                self.port = int(m.group(1))
                break
        assert self.port, "chromium did not start its DevTools endpoint"

    def page_socket(self):
        def page():
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t["type"] == "page"]
            return pages[0]["webSocketDebuggerUrl"] if pages else None
        return wait_until(page, 10, message="chromium page target")

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Page:
    """Commands to one page over its DevTools socket; console errors and exceptions collected."""

    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0
        self.errors = []

    async def send(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        await self.socket.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self.socket.recv())
            if message.get("id") == my_id:
                assert "error" not in message, message
                return message.get("result", {})
            self.note(message)

    def note(self, message):
        method = message.get("method")
        params = message.get("params", {})
        if method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("text"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(params.get("args"))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.errors.append(params["entry"].get("text"))

    async def evaluate(self, expression):
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def until(self, expression, timeout=10.0):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            assert asyncio.get_running_loop().time() < deadline, f"timed out: {expression}"
            await asyncio.sleep(0.05)  # polling the page with a deadline


class Traffic:
    """Requests to `path` over one keep-alive connection, from a thread, until stopped: the
    dashboard's req/s and share come from the change between two of its polls."""

    def __init__(self, port, path):
        self.stop_event = threading.Event()
        self.statuses = []
        self.thread = threading.Thread(target=self._run, args=(port, path), daemon=True)
        self.thread.start()

    def _run(self, port, path):
        with RawConn(port) as conn:
            while not self.stop_event.is_set():
                self.statuses.append(conn.request(path=path).status)
                self.stop_event.wait(0.005)  # a steady trickle, not a flood on a 2-core machine

    def stop(self):
        self.stop_event.set()
        self.thread.join(10)


# The figures of the rows of `addresses`, once every one shows a rate above 0 and the rest of
# its figures (null until then).
LIVE_FIGURES = """(() => {
  const rows = [...document.querySelectorAll('tr[data-instance]')]
      .filter(r => %s.includes(r.dataset.instance));
  if (rows.length < %d) return null;
  const cells = rows.map(r => Object.fromEntries(['rate', 'share', 'p50', 'p99', 'errors'].map(
      f => [f, r.querySelector('td[data-field="' + f + '"]').textContent])));
  return cells.every(c => parseFloat(c.rate) > 0 && c.share !== '-' && c.p50 !== '-' &&
                          c.p99 !== '-' && c.errors !== '-') ? cells : null;
})()"""


def test_dashboard_shows_instances_and_drains_one(switchboard, nginx_backends, tmp_path):
    nginx = nginx_backends(3)
    sb = switchboard(config=make_config([service("static", [nginx.addrs[0]])],
                                        routes=[{"path_prefix": "/", "service": "static"}]))
    api = AdminApi(sb.admin_port)
    for i, addr in enumerate(nginx.addrs[1:]):
        host, port = addr.split(":")
        assert api.register("web", f"w{i}", host, int(port),
                            routes=[{"path_prefix": "/web"}])[0] in (200, 201)
    for _ in range(6):
        assert request(sb.port, path="/web").status == 200
    web = nginx.addrs[1:]
    traffic = Traffic(sb.port, "/web")
    browser = Browser(f"{sb.admin_url}/", tmp_path / "chromium-profile")
    screenshot = Path(switchboard_bin()).parent / "dashboard.png"

    async def drive():
        async with websockets.connect(browser.page_socket(), max_size=None) as socket:
            page = Page(socket)
            await page.send("Runtime.enable")
            await page.send("Log.enable")
            await page.send("Page.reload")
            rows = await page.until(
                "document.querySelectorAll('tr[data-instance]').length >= 3 && "
                "[...document.querySelectorAll('tr[data-instance]')].map(r => r.dataset.instance)")
            text = await page.evaluate("document.body.innerText")
            # Traffic flows through both web instances: every figure shows a value.
            figures = await page.until(LIVE_FIGURES % (json.dumps(web), len(web)))
            await page.evaluate(
                "document.querySelector('button[data-action=\"drain:web/w0\"]').click()")
            await page.until("document.body.innerText.includes('draining')")
            shot = await page.send("Page.captureScreenshot", format="png")
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            drained = await asyncio.to_thread(lambda: api.instances("web")["w0"]["state"])
            await page.evaluate(
                "document.querySelector('button[data-action=\"undrain:web/w0\"]').click()")
            # The page shows it back, with a drain button again.
            await page.until(
                "document.querySelector('button[data-action=\"drain:web/w0\"]') !== null && "
                "[...document.querySelectorAll('tr[data-instance]')].some(r => "
                f"r.dataset.instance === '{web[0]}' && "
                "r.querySelector('td[data-field=\"state\"]').textContent === 'passing')")
            return rows, text, figures, drained, page.errors

    try:
        rows, text, figures, drained, errors = asyncio.run(drive())
    finally:
        browser.close()
        traffic.stop()
    assert sorted(rows) == sorted(nginx.addrs), rows
    assert len(figures) == 2, figures
    for f in figures:
        assert float(f["rate"]) > 0, figures
        share = re.fullmatch(r"(\d+) %", f["share"])
        assert share and 0 < int(share.group(1)) < 100, figures  # round robin: both get some
        assert 0 <= float(f["p50"]) <= float(f["p99"]), figures
        assert f["errors"] == "0.0 %", figures
    assert sum(int(f["share"].split()[0]) for f in figures) in (99, 100, 101), figures
    assert traffic.statuses and set(traffic.statuses) == {200}
    assert "static (round_robin)" in text and "web (round_robin)" in text
    assert "registry: web/w0 registered" in text  # the events feed
    assert errors == [], errors
    assert drained == "draining"
    assert api.instances("web")["w0"]["state"] == "passing"  # undrained
    assert screenshot.stat().st_size > 10_000
    api.close()


def test_dashboard_with_an_admin_token(switchboard, nginx_backends, tmp_path):
    """A secured admin API: the page opens without the token (a browser sends none when it
    navigates), says it needs one, and with the token typed in shows the instances and drains."""
    token = "dashboard-token-0123456789"
    nginx = nginx_backends(1)
    sb = switchboard(config=make_config([], admin={"token": token}))
    api = AdminApi(sb.admin_port)
    host, port = nginx.addrs[0].split(":")
    auth = {"Authorization": f"Bearer {token}"}
    assert api.call("PUT", "/v1/services/web/instances/w0",
                    {"address": host, "port": int(port)}, headers=auth)[0] in (200, 201)
    browser = Browser(f"{sb.admin_url}/", tmp_path / "chromium-profile")

    async def drive():
        async with websockets.connect(browser.page_socket(), max_size=None) as socket:
            page = Page(socket)
            await page.send("Runtime.enable")
            await page.send("Log.enable")
            await page.send("Page.reload")
            await page.until("document.getElementById('status').textContent.includes("
                             "'401: type the admin token')")
            await page.evaluate(f"document.getElementById('token').value = '{token}'")
            rows = await page.until(
                "document.querySelectorAll('tr[data-instance]').length >= 1 && "
                "[...document.querySelectorAll('tr[data-instance]')].map(r => r.dataset.instance)")
            await page.evaluate(
                "document.querySelector('button[data-action=\"drain:web/w0\"]').click()")
            await page.until(
                "document.querySelector('button[data-action=\"undrain:web/w0\"]') !== null")
            return rows, page.errors

    try:
        rows, errors = asyncio.run(drive())
    finally:
        browser.close()
    assert rows == [nginx.addrs[0]]
    # The only errors are the data polls refused before the token was typed in.
    assert all("401" in str(e) for e in errors), errors
    status, _, body = api.call("GET", "/v1/services/web", headers=auth)
    assert status == 200 and body["instances"][0]["state"] == "draining"
    api.close()
