// Hot reload (SIGHUP, POST /v1/admin/reload): what a new configuration may change while the
// proxy serves — services, routes, algorithms, health settings, retries, timeouts, limits, the
// log level — and what takes a restart (listeners, worker count, the admin listener and its
// token, the registry's directory, the access log's destination).
#pragma once

#include <string>

#include "config/config.hpp"

namespace sb::proxy {

// Empty when `fresh` may replace `running` while serving; otherwise one line naming the first
// setting that changed and takes a restart.
std::string restart_only_change(const config::Config& running, const config::Config& fresh);

}  // namespace sb::proxy
