// The Switchboard client library: what a service links to register itself with the registry,
// keep its registration alive, and find and call other services by name with client-side
// balancing. Talks to the admin API (/v1, see src/registry/api.hpp) over plain HTTP/1.1.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace switchboard {

// An admin API call failed: no admin address answered, or one answered with an error. `status`
// is the HTTP status (0 when no address answered); `field` is the API's "field" on a 400.
class ClientError : public std::runtime_error {
 public:
  ClientError(int status, const std::string& message, std::string field = {})
      : std::runtime_error(message), status_(status), field_(std::move(field)) {}
  int status() const { return status_; }
  const std::string& field() const { return field_; }

 private:
  int status_;
  std::string field_;
};

struct RouteSpec {
  std::string host;  // empty: any host
  std::string path_prefix;
};

// What a service instance registers (the PUT /v1/services/{service}/instances/{id} body).
struct RegistrationSpec {
  std::string service;
  std::string id;
  std::string address;
  uint16_t port = 0;
  uint32_t weight = 1;
  std::vector<std::string> tags;
  std::map<std::string, std::string> meta;
  std::optional<std::chrono::milliseconds> ttl = std::chrono::seconds(10);  // none: no expiry
  std::vector<RouteSpec> routes;
};

// One instance as the registry reports it.
struct InstanceInfo {
  std::string service;
  std::string id;
  std::string address;
  uint16_t port = 0;
  uint32_t weight = 1;
  std::vector<std::string> tags;
  std::map<std::string, std::string> meta;
  std::optional<std::chrono::milliseconds> ttl;  // none: no expiry
  std::vector<RouteSpec> routes;
  std::string state;  // "passing", "critical" or "draining"
  std::chrono::milliseconds last_heartbeat_ago{0};
};

struct ServiceSummary {
  std::string name;
  size_t passing = 0;
  size_t total = 0;
};

struct InstanceList {
  uint64_t index = 0;  // the service's modify index, for a blocking query
  std::vector<InstanceInfo> instances;
};

struct ClientOptions {
  // Admin addresses, "host:port" (several switchboards sharing one registry). A call starts with
  // the address that answered last (the first one at the start) and moves on to the next, in
  // order and wrapping around, on a connection failure, a timeout or a 503.
  std::vector<std::string> admin = {"127.0.0.1:8091"};
  std::chrono::milliseconds timeout = std::chrono::seconds(5);  // per call (plus a blocking wait)
  // The admin API's bearer token (its admin.token), sent with every call when not empty.
  std::string token;
};

namespace detail {
class CallCancel;
}

// Blocking calls to the admin API. Thread-safe (each call opens its own connection). Every call
// throws ClientError when no admin address answers or one answers with an unexpected status.
// Copies share the address calls start with, and cancel().
class AdminClient {
 public:
  explicit AdminClient(ClientOptions options = {});

  // Returns the instance as the registry stored it.
  InstanceInfo register_instance(const RegistrationSpec& spec);
  bool heartbeat(const std::string& service, const std::string& id);   // false: 404, re-register
  bool deregister(const std::string& service, const std::string& id);  // false: 404
  bool drain(const std::string& service, const std::string& id);       // false: 404
  bool undrain(const std::string& service, const std::string& id);     // false: 404
  std::vector<ServiceSummary> services();
  // The service's instances; an unknown service gives an empty list. With `after_index`, a
  // blocking query: returns when the service's index moves past it, or after `wait`.
  InstanceList instances(const std::string& service, std::optional<uint64_t> after_index = {},
                         std::chrono::milliseconds wait = std::chrono::seconds(30));

  const ClientOptions& options() const { return options_; }
  // The admin address the next call starts with: the one that answered last, so a node that is
  // down costs one failed attempt, not one per call (empty when no address is configured).
  std::string current_admin() const;

  // From any thread: calls in progress (a blocking query, say) end at once with ClientError, and
  // so do later calls of this client (and of its copies). For shutting down a thread that waits.
  void cancel();

 private:
  ClientOptions options_;
  std::shared_ptr<detail::CallCancel> cancel_;
  std::shared_ptr<std::atomic<size_t>> start_;  // index into options_.admin
};

// Registers on construction (throws ClientError if that fails), heartbeats every ttl/3 on its
// own thread (re-registering when a heartbeat gets 404, retrying when the admin is unreachable)
// and deregisters when destroyed.
class Registration {
 public:
  Registration(ClientOptions options, RegistrationSpec spec);
  ~Registration();
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

  const RegistrationSpec& spec() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Watches one service with blocking queries on its own thread and picks a passing instance with
// the balancer the proxy uses (round robin by default).
class Resolver {
 public:
  Resolver(ClientOptions options, std::string service, std::string algorithm = "round_robin");
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Waits until the first answer from the registry arrived; false on timeout.
  bool wait_ready(std::chrono::milliseconds timeout);
  // The next passing instance, or std::nullopt if the service has none.
  std::optional<InstanceInfo> pick();
  // The passing instances as last seen.
  std::vector<InstanceInfo> instances() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace switchboard
