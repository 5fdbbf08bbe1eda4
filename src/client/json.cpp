// The client's side of the admin API's JSON (see json.hpp). Durations use the registry's own
// grammar ("10s", "1500ms"), so what the client sends is what the registry reads back.
#include "client/json.hpp"

#include <cstdint>
#include <exception>
#include <map>
#include <stdexcept>
#include <utility>

#include "registry/api.hpp"
#include "registry/model.hpp"

namespace switchboard::detail {
namespace {

using json = nlohmann::json;

[[noreturn]] void malformed(int status, const std::string& what) {
  throw ClientError(status, "the admin API answered malformed JSON: " + what);
}

json parse_object(std::string_view body, int status) {
  json value = json::parse(body.begin(), body.end(), nullptr, false);
  if (value.is_discarded()) malformed(status, "not valid JSON");
  if (!value.is_object()) malformed(status, "not a JSON object");
  return value;
}

// Throws nlohmann's exceptions on a missing key or a wrong type; the callers turn them into one
// ClientError.
InstanceInfo read_instance(const json& object, const std::string& service) {
  InstanceInfo info;
  info.service = service;
  info.id = object.at("id").get<std::string>();
  info.address = object.at("address").get<std::string>();
  info.port = object.at("port").get<uint16_t>();
  info.weight = object.value("weight", uint32_t{1});
  if (const auto tags = object.find("tags"); tags != object.end()) {
    info.tags = tags->get<std::vector<std::string>>();
  }
  if (const auto meta = object.find("meta"); meta != object.end()) {
    info.meta = meta->get<std::map<std::string, std::string>>();
  }
  if (const auto ttl = object.find("ttl"); ttl != object.end() && !ttl->is_null()) {
    const auto text = ttl->get<std::string>();
    info.ttl = sb::registry::parse_ttl(text);
    if (!info.ttl) throw std::invalid_argument("ttl \"" + text + "\" is not a duration");
  }
  if (const auto routes = object.find("routes"); routes != object.end()) {
    for (const json& route : *routes) {
      info.routes.push_back(
          {route.value("host", std::string{}), route.at("path_prefix").get<std::string>()});
    }
  }
  info.state = object.at("state").get<std::string>();
  info.last_heartbeat_ago =
      std::chrono::milliseconds(object.value("last_heartbeat_ms_ago", int64_t{0}));
  return info;
}

}  // namespace

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string registration_body(const RegistrationSpec& spec) {
  json routes = json::array();
  for (const RouteSpec& route : spec.routes) {
    json entry = {{"path_prefix", route.path_prefix}};
    if (!route.host.empty()) entry["host"] = route.host;
    routes.push_back(std::move(entry));
  }
  json body = {
      {"address", spec.address}, {"port", spec.port}, {"weight", spec.weight},
      {"tags", spec.tags},       {"meta", spec.meta}, {"routes", std::move(routes)},
  };
  if (spec.ttl) body["ttl"] = sb::registry::format_duration(*spec.ttl);
  return dump(body);
}

InstanceInfo parse_instance(std::string_view body, const std::string& service, int status) {
  const json object = parse_object(body, status);
  try {
    return read_instance(object, service);
  } catch (const std::exception& e) {
    malformed(status, e.what());
  }
}

InstanceList parse_instance_list(std::string_view body, const std::string& service, int status) {
  const json object = parse_object(body, status);
  try {
    InstanceList list;
    list.index = object.at("index").get<uint64_t>();
    for (const json& instance : object.at("instances")) {
      list.instances.push_back(read_instance(instance, service));
    }
    return list;
  } catch (const std::exception& e) {
    malformed(status, e.what());
  }
}

std::vector<ServiceSummary> parse_services(std::string_view body, int status) {
  const json object = parse_object(body, status);
  try {
    std::vector<ServiceSummary> services;
    for (const json& entry : object.at("services")) {
      services.push_back({entry.at("name").get<std::string>(), entry.at("passing").get<size_t>(),
                          entry.at("total").get<size_t>()});
    }
    return services;
  } catch (const std::exception& e) {
    malformed(status, e.what());
  }
}

ApiError parse_error(std::string_view body, int status) {
  const json object = json::parse(body.begin(), body.end(), nullptr, false);
  if (object.is_object()) {
    const auto error = object.find("error");
    if (error != object.end() && error->is_string()) {
      ApiError result{error->get<std::string>(), {}};
      if (const auto field = object.find("field"); field != object.end() && field->is_string()) {
        result.field = field->get<std::string>();
      }
      return result;
    }
  }
  // Not the API's error shape (a proxy in between, a wrong port): say what came back.
  std::string_view first_line = body.substr(0, body.find_first_of("\r\n"));
  if (first_line.size() > 200) first_line = first_line.substr(0, 200);
  std::string message = "HTTP " + std::to_string(status);
  if (!first_line.empty()) message += ": " + std::string(first_line);
  return {std::move(message), {}};
}

json instance_json(const InstanceInfo& instance) {
  json routes = json::array();
  for (const RouteSpec& route : instance.routes) {
    json entry = {{"path_prefix", route.path_prefix}};
    if (!route.host.empty()) entry["host"] = route.host;
    routes.push_back(std::move(entry));
  }
  return {
      {"service", instance.service},
      {"id", instance.id},
      {"address", instance.address},
      {"port", instance.port},
      {"weight", instance.weight},
      {"tags", instance.tags},
      {"meta", instance.meta},
      {"ttl", instance.ttl ? json(sb::registry::format_duration(*instance.ttl)) : json(nullptr)},
      {"routes", std::move(routes)},
      {"state", instance.state},
      {"last_heartbeat_ms_ago", instance.last_heartbeat_ago.count()},
  };
}

json service_json(const ServiceSummary& summary) {
  return {{"name", summary.name}, {"passing", summary.passing}, {"total", summary.total}};
}

}  // namespace switchboard::detail
