// The registry API's routing, query parsing and JSON (see api.hpp).
#include "registry/api.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <limits>
#include <utility>
#include <variant>
#include <vector>

namespace sb::registry {
namespace {

using json = nlohmann::json;

constexpr std::string_view kServiceNameRule = "must match [a-z0-9][a-z0-9._-]{0,62}";
constexpr std::string_view kInstanceIdRule = "must be 1-128 printable ASCII characters (no spaces)";

// User text (a bad ?wait, a decoded id) may end up in a message; never let invalid UTF-8 throw.
std::string dump(const json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiResponse respond(int status, const json& body, uint64_t index = 0) {
  ApiResponse response;
  response.status = status;
  response.body = dump(body);
  response.index = index;
  return response;
}

ApiResponse error(int status, std::string message, std::string_view field = {},
                  uint64_t index = 0) {
  json body = {{"error", std::move(message)}};
  if (!field.empty()) body["field"] = field;
  return respond(status, body, index);
}

ApiResponse not_found_path() {
  return error(404, "not found");
}

enum class Route { kServices, kService, kInstance, kHeartbeat, kDrain, kUndrain };

struct Match {
  Route route;
  std::string_view service;  // raw (still percent-encoded)
  std::string_view id;
};

std::optional<Match> match(std::string_view path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  std::vector<std::string_view> segments;
  path.remove_prefix(1);
  while (true) {
    const size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (segments.back().empty() || segments.size() > 6) return std::nullopt;
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  if (segments.size() < 2 || segments[0] != "v1" || segments[1] != "services") return std::nullopt;
  switch (segments.size()) {
    case 2:
      return Match{Route::kServices, {}, {}};
    case 3:
      return Match{Route::kService, segments[2], {}};
    case 5:
      if (segments[3] != "instances") return std::nullopt;
      return Match{Route::kInstance, segments[2], segments[4]};
    case 6: {
      if (segments[3] != "instances") return std::nullopt;
      const std::string_view action = segments[5];
      Route route;
      if (action == "heartbeat") {
        route = Route::kHeartbeat;
      } else if (action == "drain") {
        route = Route::kDrain;
      } else if (action == "undrain") {
        route = Route::kUndrain;
      } else {
        return std::nullopt;
      }
      return Match{route, segments[2], segments[4]};
    }
    default:
      return std::nullopt;
  }
}

std::vector<std::string_view> allowed_methods(Route route) {
  switch (route) {
    case Route::kServices:
    case Route::kService:
      return {"GET"};
    case Route::kInstance:
      return {"PUT", "DELETE"};
    case Route::kHeartbeat:
      return {"PUT"};
    case Route::kDrain:
    case Route::kUndrain:
      return {"POST"};
  }
  return {};
}

ApiResponse method_not_allowed(const std::vector<std::string_view>& allow) {
  json methods = json::array();
  std::string header;
  for (const std::string_view method : allow) {
    methods.push_back(method);
    if (!header.empty()) header += ", ";
    header += method;
  }
  ApiResponse response = respond(405, {{"error", "method not allowed"}, {"allow", methods}});
  response.allow = std::move(header);
  return response;
}

// ?index and ?wait of a blocking query.
struct BlockingParams {
  std::optional<uint64_t> index;
  std::optional<std::chrono::milliseconds> wait;
};

std::optional<uint64_t> parse_index(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10)
      return std::nullopt;  // overflow
    value = value * 10 + digit;
  }
  return value;
}

std::variant<BlockingParams, ValidationError> parse_query(std::string_view query) {
  if (!query.empty() && query[0] == '?') query.remove_prefix(1);
  BlockingParams params;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const auto key = percent_decode(pair.substr(0, eq));
    if (!key || (*key != "index" && *key != "wait")) continue;  // unknown parameters are ignored
    const auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!value) return ValidationError{*key, "invalid percent-encoding"};
    if (*key == "index") {
      if (params.index) return ValidationError{"index", "given more than once"};
      params.index = parse_index(*value);
      if (!params.index) {
        return ValidationError{"index", "must be an unsigned integer, got \"" + *value + "\""};
      }
    } else {
      if (params.wait) return ValidationError{"wait", "given more than once"};
      params.wait = parse_ttl(*value);
      if (!params.wait) {
        return ValidationError{
            "wait", "expected a duration such as 30s, 5m or 500ms, got \"" + *value + "\""};
      }
    }
  }
  return params;
}

json instance_json(const InstanceView& view, std::chrono::steady_clock::time_point now) {
  const InstanceRecord& record = view.record;
  json routes = json::array();
  for (const RouteDecl& route : record.routes) {
    json entry = {{"path_prefix", route.path_prefix}};
    if (!route.host.empty()) entry["host"] = route.host;
    routes.push_back(std::move(entry));
  }
  const auto ago =
      std::chrono::duration_cast<std::chrono::milliseconds>(now - view.last_heartbeat).count();
  return {
      {"id", record.id},
      {"address", record.address},
      {"port", record.port},
      {"weight", record.weight},
      {"tags", record.tags},
      {"meta", record.meta},
      {"ttl", record.ttl ? json(format_duration(*record.ttl)) : json(nullptr)},
      {"routes", std::move(routes)},
      {"state", to_string(view.state)},
      {"last_heartbeat_ms_ago", std::max<int64_t>(ago, 0)},
  };
}

int status_of(Result result) {
  switch (result) {
    case Result::kCreated:
      return 201;
    case Result::kNotFound:
      return 404;
    case Result::kOk:
      break;
  }
  return 200;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size() || !is_hex(text[i + 1]) || !is_hex(text[i + 2])) {
      return std::nullopt;
    }
    out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
    i += 2;
  }
  return out;
}

std::string format_duration(std::chrono::milliseconds duration) {
  const int64_t ms = duration.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
  return std::to_string(ms) + "ms";
}

RegistryApi::RegistryApi(Registry& registry, const Clock& clock, WriteMode writes)
    : registry_(registry), clock_(clock), writes_(writes) {}

namespace {

ApiResponse deferred(RegistryWrite write) {
  ApiResponse response;
  response.write = std::move(write);
  return response;
}

}  // namespace

ApiResponse RegistryApi::complete(const RegistryWrite& write, const WriteOutcome& outcome) {
  const uint64_t index = registry_.index(write.service);
  if (!outcome.unavailable.empty()) {
    return error(503, "registry unavailable: " + outcome.unavailable, {}, index);
  }
  if (outcome.result == Result::kNotFound) return error(404, "unknown instance", "id", index);
  if (write.op == RegistryWrite::Op::kDeregister) {
    return respond(200, {{"service", write.service}, {"id", write.id}}, index);
  }
  const int status = write.op == RegistryWrite::Op::kUpsert ? status_of(outcome.result) : 200;
  for (const InstanceView& view : registry_.instances(write.service)) {
    if (view.record.id == write.id)
      return respond(status, instance_json(view, clock_.now()), index);
  }
  // Stored and acknowledged by the store, then removed by another node before we answered.
  return error(404, "unknown instance (deregistered meanwhile)", "id", index);
}

ApiResponse RegistryApi::handle(const ApiRequest& request, WaitMode mode) {
  const std::optional<Match> matched = match(request.path);
  if (!matched) return not_found_path();
  const std::vector<std::string_view> allow = allowed_methods(matched->route);
  if (std::find(allow.begin(), allow.end(), request.method) == allow.end()) {
    return method_not_allowed(allow);
  }

  std::string service;
  std::string id;
  if (matched->route != Route::kServices) {
    auto decoded = percent_decode(matched->service);
    if (!decoded) return error(400, "invalid percent-encoding", "service");
    if (!valid_service_name(*decoded)) return error(400, std::string(kServiceNameRule), "service");
    service = std::move(*decoded);
  }
  if (matched->route != Route::kServices && matched->route != Route::kService) {
    auto decoded = percent_decode(matched->id);
    if (!decoded) return error(400, "invalid percent-encoding", "id");
    if (!valid_instance_id(*decoded)) return error(400, std::string(kInstanceIdRule), "id");
    id = std::move(*decoded);
  }

  try {
    const auto now = clock_.now();
    // The instance's view after an operation, as PUT/heartbeat/drain/undrain echo it.
    const auto instance_response = [&](int status) {
      for (const InstanceView& view : registry_.instances(service)) {
        if (view.record.id == id)
          return respond(status, instance_json(view, now), registry_.index(service));
      }
      return error(500, "instance vanished", "id", registry_.index(service));
    };
    const auto unknown_instance = [&] {
      return error(404, "unknown instance", "id", registry_.index(service));
    };

    switch (matched->route) {
      case Route::kServices:
      case Route::kService: {
        auto query = parse_query(request.query);
        if (auto* bad = std::get_if<ValidationError>(&query)) {
          return error(400, std::move(bad->message), bad->field);
        }
        const BlockingParams& params = std::get<BlockingParams>(query);
        const bool all = matched->route == Route::kServices;
        const uint64_t index = all ? registry_.global_index() : registry_.index(service);
        if (params.index && mode == WaitMode::kMayWait && index == *params.index) {
          const auto wait = std::min(params.wait.value_or(kDefaultBlockingWait), kMaxBlockingWait);
          if (wait > std::chrono::milliseconds::zero()) {
            ApiResponse parked;
            parked.index = index;
            parked.wait = BlockingWait{service, *params.index, wait};
            return parked;
          }
        }
        if (all) {
          json services = json::array();
          for (const ServiceSummary& summary : registry_.services()) {
            services.push_back(
                {{"name", summary.name}, {"passing", summary.passing}, {"total", summary.total}});
          }
          return respond(200, {{"index", index}, {"services", std::move(services)}}, index);
        }
        const std::vector<InstanceView> views = registry_.instances(service);
        if (views.empty()) return error(404, "unknown service", "service", index);
        json instances = json::array();
        for (const InstanceView& view : views) instances.push_back(instance_json(view, now));
        return respond(
            200, {{"index", index}, {"service", service}, {"instances", std::move(instances)}},
            index);
      }

      case Route::kInstance: {
        if (request.method == "DELETE") {
          if (writes_ == WriteMode::kDeferred) {
            return deferred({RegistryWrite::Op::kDeregister, service, id, {}});
          }
          const Result result = registry_.deregister(service, id);
          if (result == Result::kNotFound) return unknown_instance();
          return respond(200, {{"service", service}, {"id", id}}, registry_.index(service));
        }
        ParseResult parsed = parse_registration(service, id, request.body);
        if (auto* bad = std::get_if<ValidationError>(&parsed)) {
          return error(400, std::move(bad->message), bad->field);
        }
        if (writes_ == WriteMode::kDeferred) {
          return deferred(
              {RegistryWrite::Op::kUpsert, service, id, std::get<InstanceRecord>(parsed)});
        }
        return instance_response(status_of(registry_.upsert(std::get<InstanceRecord>(parsed))));
      }

      case Route::kHeartbeat:
      case Route::kDrain:
      case Route::kUndrain: {
        if (writes_ == WriteMode::kDeferred) {
          const auto op = matched->route == Route::kHeartbeat ? RegistryWrite::Op::kHeartbeat
                          : matched->route == Route::kDrain   ? RegistryWrite::Op::kDrain
                                                              : RegistryWrite::Op::kUndrain;
          return deferred({op, service, id, {}});
        }
        Result result;
        if (matched->route == Route::kHeartbeat) {
          result = registry_.heartbeat(service, id);
        } else if (matched->route == Route::kDrain) {
          result = registry_.drain(service, id);
        } else {
          result = registry_.undrain(service, id);
        }
        if (result == Result::kNotFound) return unknown_instance();
        return instance_response(200);
      }
    }
  } catch (const std::exception& e) {
    return error(500, std::string("internal error: ") + e.what());
  }
  return not_found_path();  // not reached: every route returns above
}

}  // namespace sb::registry
