// The admin API's JSON as the client reads and writes it: the registration body, the instance and
// service listings, the {"error", "field"} of a failed call, and the CLI's --json output.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "switchboard/client.hpp"

namespace switchboard::detail {

// The PUT /v1/services/{service}/instances/{id} body (service and id go in the path).
std::string registration_body(const RegistrationSpec& spec);

// One element of GET /v1/services/{service}'s "instances" (also the body PUT and heartbeat echo).
// Throws ClientError(status, ...) naming what is malformed.
InstanceInfo parse_instance(std::string_view body, const std::string& service, int status);
// GET /v1/services/{service}: the instances and the body's "index".
InstanceList parse_instance_list(std::string_view body, const std::string& service, int status);
// GET /v1/services.
std::vector<ServiceSummary> parse_services(std::string_view body, int status);

// A failed call's {"error": message, "field": field}; a body that is not that becomes a message
// naming the status ("HTTP 502: <first line of the body>").
struct ApiError {
  std::string message;
  std::string field;
};
ApiError parse_error(std::string_view body, int status);

// What `switchboard ... --json` prints.
nlohmann::json instance_json(const InstanceInfo& instance);
nlohmann::json service_json(const ServiceSummary& summary);

// JSON text that never throws on invalid UTF-8 (a response body, a user's id): replaced with
// U+FFFD.
std::string dump(const nlohmann::json& value);

}  // namespace switchboard::detail
