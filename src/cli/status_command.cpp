// `switchboard status`: the proxy's /lb-status JSON as a table — per service its algorithm and
// panic flag, per instance its state word, weight, requests, responses, failures, error rate,
// requests in flight and p50/p99 latency (the dashboard's view).
#include <cstdio>
#include <memory>

#include "cli/command.hpp"
#include "cli/flags.hpp"
#include "cli/table.hpp"
#include "client/http_call.hpp"

namespace sb::cli {
namespace {

struct StatusFlags {
  std::string proxy = "127.0.0.1:8090";
  std::string timeout = "5s";
  bool json = false;
};

// The state word, and which rule has a down instance out when the JSON says.
std::string state_of(const nlohmann::json& instance) {
  std::string state = instance.value("state", std::string("-"));
  if (state == "down" && instance.value("check", std::string()) == "down") state += "(check)";
  return state;
}

// "-" for a figure the proxy does not have (null or absent), else printf-formatted.
std::string figure(const nlohmann::json& object, const char* key, const char* format,
                   double scale = 1.0) {
  if (!object.contains(key) || !object[key].is_number()) return "-";
  char text[32];
  std::snprintf(text, sizeof text, format, object[key].get<double>() * scale);
  return text;
}

std::string count(const nlohmann::json& object, const char* key) {
  return object.contains(key) && object[key].is_number()
             ? std::to_string(object[key].get<int64_t>())
             : "-";
}

void run_status(const StatusFlags& flags) {
  const auto to = switchboard::detail::parse_host_port(flags.proxy);
  if (!to) throw UsageError("--proxy: expected host:port, got \"" + flags.proxy + "\"");
  switchboard::detail::HttpRequest request;
  request.target = "/lb-status?format=json";
  switchboard::detail::HttpResponse response;
  try {
    response = switchboard::detail::http_call(*to, request,
                                              parse_duration_flag("--timeout", flags.timeout));
  } catch (const switchboard::detail::TransportError& e) {
    throw CommandFailed(std::string("proxy: ") + e.what());
  }
  if (response.status != 200) {
    throw CommandFailed("proxy at " + flags.proxy + " answered " + std::to_string(response.status) +
                        " to /lb-status");
  }
  const nlohmann::json status = nlohmann::json::parse(response.body, nullptr, false);
  if (status.is_discarded() || !status.contains("services")) {
    throw CommandFailed("proxy at " + flags.proxy + ": /lb-status is not switchboard's JSON");
  }
  if (flags.json) return print_json(status);
  const nlohmann::json& connections = status["connections"];
  print("connections " + count(connections, "active") + " active, requests " +
        count(status, "requests") + ", retries " + count(status["retries"], "attempts") + "\n");
  Table table({"SERVICE", "BALANCE", "INSTANCE", "STATE", "WEIGHT", "REQUESTS", "2XX", "4XX", "5XX",
               "FAILURES", "ERRORS", "ACTIVE", "P50", "P99"});
  for (const nlohmann::json& service : status["services"]) {
    const std::string name =
        service["name"].get<std::string>() + (service.value("panic", false) ? " (panic)" : "");
    for (const nlohmann::json& instance : service["instances"]) {
      static const nlohmann::json kNone = nlohmann::json::object();
      const nlohmann::json& responses =
          instance.contains("responses") && instance["responses"].is_object()
              ? instance["responses"]
              : kNone;
      table.add_row({name, service["balance"].get<std::string>(),
                     instance["address"].get<std::string>(), state_of(instance),
                     count(instance, "weight"), count(instance, "requests"),
                     count(responses, "2xx"), count(responses, "4xx"), count(responses, "5xx"),
                     count(instance, "failures"), figure(instance, "error_rate", "%.1f%%", 100.0),
                     count(instance, "active"), figure(instance, "p50_ms", "%.1fms"),
                     figure(instance, "p99_ms", "%.1fms")});
    }
  }
  print(table.render());
}

}  // namespace

void add_status_command(CLI::App& app, std::vector<Command>& commands) {
  auto flags = std::make_shared<StatusFlags>();
  CLI::App* command = app.add_subcommand(
      "status", "The proxy's services and instances (its /lb-status) as a table");
  command->add_option("--proxy", flags->proxy, "Proxy listener, host:port (default 127.0.0.1:8090)")
      ->envname("SWITCHBOARD_PROXY");
  command->add_option("--timeout", flags->timeout, "Call timeout (default 5s)");
  command->add_flag("--json", flags->json, "The /lb-status JSON as it is");
  commands.push_back({command, [flags] { run_status(*flags); }});
}

}  // namespace sb::cli
