// AdminClient: the admin API's /v1 routes (src/registry/api.hpp) as blocking calls, failing over
// across the configured admin addresses.
#include <atomic>
#include <charconv>
#include <utility>

#include "client/http_call.hpp"
#include "client/json.hpp"
#include "registry/api.hpp"
#include "switchboard/client.hpp"

namespace switchboard {
namespace {

using detail::HttpRequest;
using detail::HttpResponse;

// Every admin call is idempotent ("make it so": register, heartbeat, drain, deregister, read), so
// a call that failed on one address for any transport reason (refused, reset, timed out) is
// repeated on the next one rather than only after a refused connect. So is a 503: a switchboard
// of a cluster that cannot reach the shared registry (etcd) right now says so, and another node
// may well reach it. The last address's 503 is the caller's answer.
//
// Calls start with the address that answered last (`start`) and go round the list from there: a
// node that is down, or worse hung (every call to it waits out the timeout), is tried once and
// then left alone while another answers, so a heartbeat every ttl/3 does not pay a timeout each.
HttpResponse call_admin(const ClientOptions& options, detail::CallCancel& cancel,
                        std::atomic<size_t>& start, const HttpRequest& request,
                        std::chrono::milliseconds extra_wait = {}) {
  if (options.admin.empty()) throw ClientError(0, "no admin address given", "admin");
  const size_t count = options.admin.size();
  const size_t first = start.load(std::memory_order_relaxed) % count;
  std::string failures;
  for (size_t n = 0; n < count; ++n) {
    const size_t i = (first + n) % count;
    const std::string& address = options.admin[i];
    const bool last = n + 1 == count;
    const auto to = detail::parse_host_port(address);
    if (!to) {
      throw ClientError(0, "admin address \"" + address + "\" is not host:port", "admin");
    }
    try {
      HttpResponse response;
      if (!options.token.empty()) {
        HttpRequest with_token = request;
        with_token.headers.emplace_back("Authorization", "Bearer " + options.token);
        response = detail::http_call(*to, with_token, options.timeout + extra_wait, &cancel);
      } else {
        response = detail::http_call(*to, request, options.timeout + extra_wait, &cancel);
      }
      if (response.status != 503 || last) {
        start.store(i, std::memory_order_relaxed);
        return response;
      }
      if (!failures.empty()) failures += "; ";
      failures += address + ": 503";
    } catch (const detail::TransportError& e) {
      if (!failures.empty()) failures += "; ";
      failures += e.what();
    } catch (const detail::CallCancelled&) {
      throw ClientError(0, "call cancelled");
    }
  }
  throw ClientError(0, "admin API unreachable (" + failures + ")");
}

[[noreturn]] void fail(const HttpResponse& response) {
  detail::ApiError error = detail::parse_error(response.body, response.status);
  const std::string message =
      error.field.empty() ? error.message : error.field + ": " + error.message;
  throw ClientError(response.status, message, std::move(error.field));
}

// 200: done; 404 naming the instance: no such instance; anything else is an error. (A 404 without
// "field" is a path the server does not know: not a switchboard admin API, or another version.)
bool found(const HttpResponse& response) {
  if (response.status == 200) return true;
  if (response.status == 404 && detail::parse_error(response.body, 404).field == "id") return false;
  fail(response);
}

HttpRequest bodiless(std::string method, std::string target) {
  HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  return request;
}

std::string service_path(const std::string& service) {
  return "/v1/services/" + detail::percent_encode(service);
}

std::string instance_path(const std::string& service, const std::string& id) {
  return service_path(service) + "/instances/" + detail::percent_encode(id);
}

uint64_t index_header(const HttpResponse& response) {
  const auto text = response.header("X-Switchboard-Index");
  uint64_t index = 0;
  if (text) std::from_chars(text->data(), text->data() + text->size(), index);
  return index;
}

}  // namespace

AdminClient::AdminClient(ClientOptions options)
    : options_(std::move(options)),
      cancel_(std::make_shared<detail::CallCancel>()),
      start_(std::make_shared<std::atomic<size_t>>(0)) {}

std::string AdminClient::current_admin() const {
  if (options_.admin.empty()) return {};
  return options_.admin[start_->load(std::memory_order_relaxed) % options_.admin.size()];
}

void AdminClient::cancel() {
  cancel_->cancel();
}

InstanceInfo AdminClient::register_instance(const RegistrationSpec& spec) {
  const HttpRequest request{"PUT",
                            instance_path(spec.service, spec.id),
                            {{"Content-Type", "application/json"}},
                            detail::registration_body(spec)};
  const HttpResponse response = call_admin(options_, *cancel_, *start_, request);
  if (response.status != 200 && response.status != 201) fail(response);
  return detail::parse_instance(response.body, spec.service, response.status);
}

bool AdminClient::heartbeat(const std::string& service, const std::string& id) {
  return found(call_admin(options_, *cancel_, *start_,
                          bodiless("PUT", instance_path(service, id) + "/heartbeat")));
}

bool AdminClient::deregister(const std::string& service, const std::string& id) {
  return found(
      call_admin(options_, *cancel_, *start_, bodiless("DELETE", instance_path(service, id))));
}

bool AdminClient::drain(const std::string& service, const std::string& id) {
  return found(call_admin(options_, *cancel_, *start_,
                          bodiless("POST", instance_path(service, id) + "/drain")));
}

bool AdminClient::undrain(const std::string& service, const std::string& id) {
  return found(call_admin(options_, *cancel_, *start_,
                          bodiless("POST", instance_path(service, id) + "/undrain")));
}

std::vector<ServiceSummary> AdminClient::services() {
  const HttpResponse response =
      call_admin(options_, *cancel_, *start_, bodiless("GET", "/v1/services"));
  if (response.status != 200) fail(response);
  return detail::parse_services(response.body, response.status);
}

InstanceList AdminClient::instances(const std::string& service, std::optional<uint64_t> after_index,
                                    std::chrono::milliseconds wait) {
  std::string target = service_path(service);
  std::chrono::milliseconds extra_wait{0};
  if (after_index) {
    target +=
        "?index=" + std::to_string(*after_index) + "&wait=" + sb::registry::format_duration(wait);
    // The server may hold the answer up to wait/16 past `wait` (jitter, as Consul does).
    extra_wait = wait + wait / 16;
  }
  const HttpResponse response =
      call_admin(options_, *cancel_, *start_, bodiless("GET", target), extra_wait);
  if (response.status == 200) {
    return detail::parse_instance_list(response.body, service, response.status);
  }
  // A service without instances is unknown to the registry; its index still moves, so a blocking
  // query on it wakes when it appears.
  if (response.status == 404 && detail::parse_error(response.body, 404).field == "service") {
    return InstanceList{index_header(response), {}};
  }
  fail(response);
}

}  // namespace switchboard
