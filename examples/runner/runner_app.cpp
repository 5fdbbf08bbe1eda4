// Request parsing and replies for the runner's two endpoints; every reply names the instance, so a
// caller behind a balancer sees who answered.
#include "runner_app.hpp"

namespace runner {

using nlohmann::json;
namespace http = boost::beast::http;

namespace {

JsonReply error(const std::string& instance, unsigned status, const std::string& reason) {
  return {status, {{"instance", instance}, {"error", reason}}};
}

JsonReply run_patch(const std::string& instance, const PatchRunner& patches,
                    const Request& request) {
  json body;
  try {
    body = json::parse(request.body());
  } catch (const json::parse_error& e) {
    return error(instance, 400, std::string("request body is not valid JSON: ") + e.what());
  }
  const auto file = body.is_object() ? body.find("file") : body.end();
  if (!body.is_object() || file == body.end() || !file->is_string()) {
    return error(instance, 400, "request body must be {\"file\": \"<task file>\"}");
  }
  const std::string task_file = file->get<std::string>();
  try {
    PatchOutcome outcome = patches.run(task_file);
    json reply = {{"instance", instance},
                  {"file", task_file},
                  {"target", outcome.target},
                  {"result", std::move(outcome.result)}};
    if (outcome.cached) reply["cached"] = *outcome.cached;
    return {200, std::move(reply)};
  } catch (const TaskError& e) {
    JsonReply reply = error(instance, e.status(), e.what());
    reply.body["file"] = task_file;
    return reply;
  }
}

}  // namespace

std::vector<Route> runner_routes(const std::string& instance_id, const PatchRunner& patches) {
  std::vector<Route> routes;
  routes.push_back({http::verb::get, "/health", false, [instance_id](const Request&) {
                      return JsonReply{200, {{"instance", instance_id}, {"status", "ok"}}};
                    }});
  routes.push_back(
      {http::verb::post, "/run-patch", true, [instance_id, &patches](const Request& request) {
         return run_patch(instance_id, patches, request);
       }});
  return routes;
}

}  // namespace runner
