// The dashboard page: one self-contained HTML document (inline CSS and script; the machine it is
// opened from may have no internet). It polls /v1/dashboard every second, computes each
// instance's requests/s and share of its service from the change since the last poll, and
// drains or undrains registered instances through the registry API.
#include "admin/dashboard.hpp"

namespace sb::admin {

namespace {

constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Switchboard</title>
<link rel="icon" href="data:,">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
  h1 { font-size: 1.3em; margin: 0 0 .5em; }
  h2 { font-size: 1.1em; margin: 1.2em 0 .3em; }
  table { border-collapse: collapse; background: #fff; min-width: 60em; }
  th, td { border-bottom: 1px solid #ddd; padding: .3em .7em; text-align: right; }
  th:first-child, td:first-child, td.state { text-align: left; }
  .passing { color: #176b2c; } .critical, .down, .ejected { color: #b3261e; }
  .draining { color: #8a6100; } .panic { color: #b3261e; font-weight: bold; }
  #events { font-family: ui-monospace, monospace; font-size: 12px; background: #fff;
            border: 1px solid #ddd; padding: .5em; max-height: 16em; overflow: auto; }
  .warning, .error { color: #b3261e; }
  #status { color: #666; }
</style>
</head>
<body>
<h1>Switchboard <span id="status">loading…</span></h1>
<form onsubmit="return false"><label>Admin token (for drain/undrain, if the admin API has one):
  <input id="token" type="password" size="30" autocomplete="off"></label></form>
<div id="services"></div>
<h2>Recent events</h2>
<div id="events"></div>
<script>
"use strict";
const previous = new Map();  // "service/address" -> {requests, at}
function headers() {
  const token = document.getElementById("token").value;
  return token ? { "Authorization": "Bearer " + token } : {};
}
function cell(text, field, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  td.dataset.field = field;  // what the cell shows, for scripts and tests
  if (cls) td.className = cls;
  return td;
}
async function act(service, id, verb) {
  const path = "/v1/services/" + encodeURIComponent(service) + "/instances/" +
               encodeURIComponent(id) + "/" + verb;
  const response = await fetch(path, { method: "POST", headers: headers() });
  document.getElementById("status").textContent =
      verb + " " + service + "/" + id + ": " + response.status;
  refresh();
}
function render(data) {
  const now = performance.now();
  const root = document.getElementById("services");
  root.replaceChildren();
  for (const service of data.services) {
    const h2 = document.createElement("h2");
    h2.textContent = service.name + " (" + service.balance + ")";
    if (service.panic) {
      const p = document.createElement("span");
      p.className = "panic";
      p.textContent = " panic mode";
      h2.append(p);
    }
    const table = document.createElement("table");
    const head = table.insertRow();
    for (const name of ["instance", "state", "weight", "req/s", "share", "p50 ms", "p99 ms",
                        "errors", "requests", ""]) {
      const th = document.createElement("th");
      th.textContent = name;
      head.append(th);
    }
    const rates = service.instances.map((i) => {
      const key = service.name + "/" + i.address;
      const before = previous.get(key);
      if (i.requests === null) {  // a registered address that did not resolve: no figures
        previous.delete(key);
        return 0;
      }
      previous.set(key, { requests: i.requests, at: now });
      if (!before || now <= before.at || i.requests < before.requests) return 0;
      return (i.requests - before.requests) * 1000 / (now - before.at);
    });
    const figure = (value, digits) => value === null ? "-" : value.toFixed(digits);
    const total = rates.reduce((a, b) => a + b, 0);
    service.instances.forEach((i, n) => {
      const row = table.insertRow();
      row.dataset.instance = i.address;
      row.append(cell(i.address + (i.id ? " (" + i.id + ")" : ""), "instance"),
                 cell(i.state, "state", "state " + i.state), cell(i.weight, "weight"),
                 cell(rates[n].toFixed(1), "rate"),
                 cell(total > 0 ? (100 * rates[n] / total).toFixed(0) + " %" : "-", "share"),
                 cell(figure(i.p50_ms, 1), "p50"), cell(figure(i.p99_ms, 1), "p99"),
                 cell(i.error_rate === null ? "-" : (100 * i.error_rate).toFixed(1) + " %",
                      "errors"),
                 cell(i.requests === null ? "-" : i.requests, "requests"));
      const actions = document.createElement("td");
      if (i.id) {
        const draining = i.state === "draining";
        const button = document.createElement("button");
        button.textContent = draining ? "undrain" : "drain";
        button.dataset.action = (draining ? "undrain" : "drain") + ":" + service.name + "/" + i.id;
        button.onclick = () => act(service.name, i.id, draining ? "undrain" : "drain");
        actions.append(button);
      }
      row.append(actions);
    });
    root.append(h2, table);
  }
  const events = document.getElementById("events");
  events.replaceChildren(...data.events.slice().reverse().map((e) => {
    const div = document.createElement("div");
    div.className = e.level;
    div.textContent = new Date(e.unix_ms).toISOString().slice(11, 23) + " " + e.text;
    return div;
  }));
}
async function refresh() {
  try {
    const response = await fetch("/v1/dashboard", { headers: headers() });
    if (!response.ok) {
      document.getElementById("status").textContent = "admin API answered " + response.status +
          (response.status === 401 ? ": type the admin token above" : "");
      return;
    }
    render(await response.json());
    document.getElementById("status").textContent = "live, " + new Date().toLocaleTimeString();
  } catch (error) {
    document.getElementById("status").textContent = "unreachable: " + error.message;
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
)html";

}  // namespace

std::string_view dashboard_page() {
  return kPage;
}

}  // namespace sb::admin
