// The runner's HTTP surface: POST /run-patch and GET /health, as routes for HttpServer.
#pragma once

#include <string>
#include <vector>

#include "http_server.hpp"
#include "patch_task.hpp"

namespace runner {

// `patches` must outlive the routes.
std::vector<Route> runner_routes(const std::string& instance_id, const PatchRunner& patches);

}  // namespace runner
