// What the workers route by: services with their instances, routes, and the timeouts and limits
// in force. Immutable once published; a change builds a new Snapshot (see SnapshotPublisher).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "upstream/instance.hpp"

namespace sb::proxy {

struct Service {
  std::string name;
  std::string balance;
  std::vector<std::shared_ptr<upstream::Instance>> instances;
};

struct Route {
  std::string host;  // lower case; empty matches any host
  std::string path_prefix;
  size_t service = 0;  // index into Snapshot::services
  bool strip_prefix = false;
};

struct Snapshot {
  std::vector<Service> services;
  std::vector<Route> routes;  // host routes first, then longest prefix first
  config::Timeouts timeouts;
  config::Limits limits;
  config::EndpointsConfig endpoints;

  // `host` is the Host header (a port is ignored), `path` the request path.
  const Route* match(std::string_view host, std::string_view path) const;
};

// Assigns instance ids, unique for the life of the process.
class InstanceIds {
 public:
  uint64_t next() { return ++last_; }

 private:
  uint64_t last_ = 0;
};

// Builds a snapshot from a validated config; resolves instance host names once. Throws
// config::ConfigError naming the instance whose address does not resolve.
std::shared_ptr<const Snapshot> build_snapshot(const config::Config& config, unsigned workers,
                                               InstanceIds& ids);

// The path to send upstream after removing a route's prefix: "/api/x" - "/api" = "/x".
std::string_view strip_prefix(std::string_view path, std::string_view prefix);

}  // namespace sb::proxy
