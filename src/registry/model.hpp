// The registry's data model: one registered instance of a service, and the parser that turns a
// registration request (service and id from the URL, JSON body) into one, with the limits of
// issue 3.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sb::registry {

// A route a service declares for itself, so the proxy routes to it without static config.
struct RouteDecl {
  std::string host;         // empty: any host
  std::string path_prefix;  // always starts with '/'

  bool operator==(const RouteDecl&) const = default;
};

struct InstanceRecord {
  std::string service;
  std::string id;
  std::string address;
  uint16_t port = 0;
  uint32_t weight = 1;
  std::vector<std::string> tags;
  std::map<std::string, std::string> meta;
  std::optional<std::chrono::milliseconds> ttl;  // none: lives until deregistered
  std::vector<RouteDecl> routes;
  bool draining = false;  // set by drain/undrain, never by a registration body

  bool operator==(const InstanceRecord&) const = default;
};

// Bad input, answered with 400 {"error": message, "field": field}. `field` is "service", "id",
// "body", a top-level key ("port") or a path into it ("routes[1].path_prefix", "meta.zone").
struct ValidationError {
  std::string field;
  std::string message;

  bool operator==(const ValidationError&) const = default;
};

using ParseResult = std::variant<InstanceRecord, ValidationError>;

inline constexpr size_t kMaxBodyBytes = 64 * 1024;
inline constexpr size_t kMaxServiceNameLength = 63;
inline constexpr size_t kMaxInstanceIdLength = 128;
inline constexpr uint32_t kMaxWeight = 1000;
inline constexpr std::chrono::milliseconds kMinTtl = std::chrono::seconds(1);
inline constexpr std::chrono::milliseconds kMaxTtl = std::chrono::hours(1);

// [a-z0-9][a-z0-9._-]{0,62}
bool valid_service_name(std::string_view name);
// 1-128 printable ASCII characters (0x21-0x7e): no spaces, no control bytes, no UTF-8.
bool valid_instance_id(std::string_view id);

// Validates service and id, then the body: a JSON object of at most kMaxBodyBytes with
// "address" (required), "port" (required), "weight", "tags", "meta", "ttl", "routes"; any other
// key is an error. The first problem found is returned.
ParseResult parse_registration(std::string_view service, std::string_view id,
                               std::string_view json_body);

// "1500ms", "10s", "5m", "1h": digits and one unit. std::nullopt for anything else (no bare
// numbers, no signs, no fractions). The 1s-1h bound is parse_registration's, not this function's.
std::optional<std::chrono::milliseconds> parse_ttl(std::string_view text);

// The stored form of a record, as stores keep it: the registration body fields (ttl in ms) plus
// "draining". Service and id are not included; stores key on them separately.
std::string to_stored_json(const InstanceRecord& record);
// Reverses to_stored_json, validating as parse_registration does (but without the body size
// limit, as the stored form may be a little longer than the body it came from). A stored record
// that does not validate is corruption: throws std::runtime_error naming service, id and field.
InstanceRecord from_stored_json(std::string_view service, std::string_view id,
                                std::string_view json_text);

}  // namespace sb::registry
