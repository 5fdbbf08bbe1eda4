// Registration parsing and validation (issue 3's limits), and the stored JSON form of a record.
#include "registry/model.hpp"

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <utility>

#include "http/request_target.hpp"

namespace sb::registry {
namespace {

using json = nlohmann::json;

// Stops the parser at the first problem; caught before leaving this file.
struct Invalid {
  ValidationError error;
};

[[noreturn]] void invalid(std::string field, std::string message) {
  throw Invalid{ValidationError{std::move(field), std::move(message)}};
}

std::string type_of(const json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number_float()) return "a number with a fraction or exponent";
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "a boolean";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "an array";
  return "an object";
}

const std::string& read_string(const json& value, const std::string& field) {
  if (!value.is_string()) invalid(field, "must be a string, got " + type_of(value));
  return value.get_ref<const std::string&>();
}

// JSON numbers with a fraction or exponent ("80.0", "8e1") are not integers, even when whole.
uint64_t read_integer(const json& value, const std::string& field, uint64_t lo, uint64_t hi) {
  const std::string range = std::to_string(lo) + "-" + std::to_string(hi);
  if (!value.is_number_integer()) {
    invalid(field, "must be an integer " + range + ", got " + type_of(value));
  }
  if (!value.is_number_unsigned()) {  // negative
    invalid(field, std::to_string(value.get<int64_t>()) + " is out of range " + range);
  }
  const auto number = value.get<uint64_t>();
  if (number < lo || number > hi) {
    invalid(field, std::to_string(number) + " is out of range " + range);
  }
  return number;
}

void reject_unknown_keys(const json& object, const std::string& prefix,
                         std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    bool found = false;
    for (const auto name : known) found = found || key == name;
    if (!found) invalid(prefix + key, "unknown field");
  }
}

// `stored`: a record read back from the store, whose routes were checked when registered (by the
// rules of that time, which a later, stricter check must not turn into a lost registration).
std::vector<RouteDecl> read_routes(const json& value, bool stored) {
  if (!value.is_array()) invalid("routes", "must be an array, got " + type_of(value));
  std::vector<RouteDecl> routes;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string prefix = "routes[" + std::to_string(i) + "]";
    const json& entry = value[i];
    if (!entry.is_object()) invalid(prefix, "must be an object, got " + type_of(entry));
    reject_unknown_keys(entry, prefix + ".", {"path_prefix", "host"});
    RouteDecl route;
    const auto path = entry.find("path_prefix");
    if (path == entry.end()) invalid(prefix + ".path_prefix", "is required");
    route.path_prefix = read_string(*path, prefix + ".path_prefix");
    if (route.path_prefix.empty() || route.path_prefix[0] != '/') {
      invalid(prefix + ".path_prefix", "must start with '/'");
    }
    if (const auto host = entry.find("host"); host != entry.end()) {
      route.host = read_string(*host, prefix + ".host");
      if (route.host.empty()) {
        invalid(prefix + ".host", "must not be empty (leave it out to match any host)");
      }
      if (!stored && !http::valid_route_host(route.host)) {
        invalid(prefix + ".host", "invalid host \"" + route.host +
                                      "\" (a host name or [IPv6] address, without a port)");
      }
    }
    routes.push_back(std::move(route));
  }
  return routes;
}

// Fills everything but service and id. `stored` admits the "draining" key of the stored form.
void read_body(const json& body, InstanceRecord& record, bool stored) {
  if (!body.is_object()) invalid("body", "must be a JSON object, got " + type_of(body));
  if (stored) {
    reject_unknown_keys(body, "",
                        {"address", "port", "weight", "tags", "meta", "ttl", "routes", "draining"});
  } else {
    reject_unknown_keys(body, "", {"address", "port", "weight", "tags", "meta", "ttl", "routes"});
  }

  const auto address = body.find("address");
  if (address == body.end()) invalid("address", "is required");
  record.address = read_string(*address, "address");
  if (record.address.empty()) invalid("address", "must not be empty");

  const auto port = body.find("port");
  if (port == body.end()) invalid("port", "is required");
  record.port = static_cast<uint16_t>(read_integer(*port, "port", 1, 65'535));

  if (const auto weight = body.find("weight"); weight != body.end()) {
    record.weight = static_cast<uint32_t>(read_integer(*weight, "weight", 1, kMaxWeight));
  }

  if (const auto tags = body.find("tags"); tags != body.end()) {
    if (!tags->is_array()) invalid("tags", "must be an array of strings, got " + type_of(*tags));
    for (size_t i = 0; i < tags->size(); ++i) {
      record.tags.push_back(read_string((*tags)[i], "tags[" + std::to_string(i) + "]"));
    }
  }

  if (const auto meta = body.find("meta"); meta != body.end()) {
    if (!meta->is_object()) {
      invalid("meta", "must be an object of strings, got " + type_of(*meta));
    }
    for (const auto& [key, value] : meta->items()) {
      record.meta.emplace(key, read_string(value, "meta." + key));
    }
  }

  if (const auto ttl = body.find("ttl"); ttl != body.end()) {
    const std::string& text = read_string(*ttl, "ttl");
    const auto duration = parse_ttl(text);
    if (!duration)
      invalid("ttl", "expected a duration such as 10s, 1m or 1500ms, got \"" + text + "\"");
    if (*duration < kMinTtl || *duration > kMaxTtl) {
      invalid("ttl", "\"" + text + "\" is out of range 1s-1h");
    }
    record.ttl = *duration;
  }

  if (const auto routes = body.find("routes"); routes != body.end()) {
    record.routes = read_routes(*routes, stored);
  }

  if (const auto draining = body.find("draining"); draining != body.end()) {
    if (!draining->is_boolean()) invalid("draining", "must be a boolean");
    record.draining = draining->get<bool>();
  }
}

}  // namespace

bool valid_service_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxServiceNameLength) return false;
  const auto lower_or_digit = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (!lower_or_digit(name[0])) return false;
  for (const char c : name.substr(1)) {
    if (!lower_or_digit(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

bool valid_instance_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxInstanceIdLength) return false;
  for (const char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

std::optional<std::chrono::milliseconds> parse_ttl(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  // Ten digits of hours stay far inside int64 milliseconds; more is out of range anyway.
  if (digits == 0 || digits > 10) return std::nullopt;
  int64_t value = 0;
  for (const char c : text.substr(0, digits)) value = value * 10 + (c - '0');
  const std::string_view unit = text.substr(digits);
  int64_t millis = 0;
  if (unit == "ms") {
    millis = 1;
  } else if (unit == "s") {
    millis = 1'000;
  } else if (unit == "m") {
    millis = 60'000;
  } else if (unit == "h") {
    millis = 3'600'000;
  } else {
    return std::nullopt;
  }
  return std::chrono::milliseconds(value * millis);
}

ParseResult parse_registration(std::string_view service, std::string_view id,
                               std::string_view json_body) {
  if (!valid_service_name(service)) {
    return ValidationError{"service", "must match [a-z0-9][a-z0-9._-]{0,62}"};
  }
  if (!valid_instance_id(id)) {
    return ValidationError{"id", "must be 1-128 printable ASCII characters (no spaces)"};
  }
  if (json_body.size() > kMaxBodyBytes) {
    return ValidationError{"body", "is larger than " + std::to_string(kMaxBodyBytes) + " bytes"};
  }
  const json body = json::parse(json_body.begin(), json_body.end(), nullptr, false);
  if (body.is_discarded()) return ValidationError{"body", "is not valid JSON"};

  InstanceRecord record;
  record.service = service;
  record.id = id;
  try {
    read_body(body, record, /*stored=*/false);
  } catch (Invalid& problem) {
    return std::move(problem.error);
  }
  return record;
}

std::string to_stored_json(const InstanceRecord& record) {
  json routes = json::array();
  for (const auto& route : record.routes) {
    json entry = {{"path_prefix", route.path_prefix}};
    if (!route.host.empty()) entry["host"] = route.host;
    routes.push_back(std::move(entry));
  }
  json out = {
      {"address", record.address},   {"port", record.port}, {"weight", record.weight},
      {"tags", record.tags},         {"meta", record.meta}, {"routes", std::move(routes)},
      {"draining", record.draining},
  };
  if (record.ttl) out["ttl"] = std::to_string(record.ttl->count()) + "ms";
  return out.dump();
}

InstanceRecord from_stored_json(std::string_view service, std::string_view id,
                                std::string_view json_text) {
  const std::string where = "stored record " + std::string(service) + "/" + std::string(id);
  const json body = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (body.is_discarded()) throw std::runtime_error(where + ": not valid JSON");
  InstanceRecord record;
  record.service = service;
  record.id = id;
  try {
    read_body(body, record, /*stored=*/true);
  } catch (const Invalid& problem) {
    throw std::runtime_error(where + ": " + problem.error.field + " " + problem.error.message);
  }
  return record;
}

}  // namespace sb::registry
