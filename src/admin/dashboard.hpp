// The live dashboard: GET / serves the page (dashboard_page.cpp, no build step, no CDN) and
// GET /v1/dashboard the JSON it polls every second — every service with its instances (state,
// weight, requests, errors, p50/p99 latency: the same view as /lb-status), and the recent
// events. Built on the registry's thread from the proxy's current snapshot, which lists the
// registered instances it holds back (critical, draining) with their registry state.
#pragma once

#include <string>
#include <string_view>

#include "admin/event_log.hpp"
#include "proxy/snapshot.hpp"

namespace sb::admin {

std::string dashboard_json(const proxy::Snapshot& snapshot, const EventLog& events);

std::string_view dashboard_page();

}  // namespace sb::admin
