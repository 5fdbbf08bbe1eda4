// The live dashboard: GET / serves the page (dashboard_page.cpp, no build step, no CDN) and
// GET /v1/dashboard the JSON it polls every second — every service with its instances (state,
// weight, requests, errors, p50/p99 latency), and the recent events. Built on the registry's
// thread from the proxy's current snapshot and the registry.
#pragma once

#include <string>
#include <string_view>

#include "admin/event_log.hpp"
#include "proxy/snapshot.hpp"
#include "registry/registry.hpp"

namespace sb::admin {

std::string dashboard_json(const proxy::Snapshot& snapshot, const registry::Registry& registry,
                           const EventLog& events);

std::string_view dashboard_page();

}  // namespace sb::admin
