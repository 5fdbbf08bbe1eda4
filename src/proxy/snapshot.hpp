// What the workers route by: services with their instances and balancers, routes, and the
// timeouts and limits in force. Immutable once published; a change builds a new Snapshot (see
// SnapshotBuilder) that shares every unchanged Service with the one before.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "balance/balancer.hpp"
#include "config/config.hpp"
#include "core/ip_address.hpp"
#include "proxy/conn_queue.hpp"
#include "proxy/retry_budget.hpp"
#include "proxy/route_table.hpp"
#include "proxy/service_counters.hpp"
#include "upstream/instance.hpp"

namespace sb::proxy {

// One instance of a service as an operator sees it, routed or not: the status views
// (/lb-status, the dashboard, /metrics) list these; the request path never reads them.
struct Member {
  // Null for a registered address that did not resolve (the proxy holds no figures for it).
  std::shared_ptr<upstream::Instance> instance;
  std::string address;  // "host:port", as the instance's label
  uint32_t weight = 1;
  std::string id;  // the registry's id; empty for a static instance
  // The registry's word for a registered instance: passing, critical or draining; empty for a
  // static one.
  std::string registered_state;
  bool routed = false;  // in `instances`: gets new requests
};

struct Service {
  // The instances that get new requests (static ones, then registered ones that are passing and
  // not draining); one balancer per worker over them. `hash` is the service's hash: section
  // (balance: hash only).
  Service(std::string name, std::string balance,
          std::vector<std::shared_ptr<upstream::Instance>> instances, unsigned workers,
          const std::optional<config::HashConfig>& hash = std::nullopt,
          const config::HealthConfig& health = {}, const config::RetryConfig& retry = {},
          const config::ConnLimitConfig& limits = {},
          const std::optional<config::OutlierConfig>& outlier = std::nullopt,
          config::Duration slow_start = config::Duration::zero());

  // Worker thread `worker` only: selection state (round robin's scores) is per worker, so picking
  // needs no lock. The balancer lives as long as the Service, so a request holding its snapshot
  // can pick again (a retry) after a newer snapshot was published.
  balance::Balancer& balancer(unsigned worker) const { return *balancers_[worker]; }

  std::string name;
  std::string balance;
  std::vector<std::shared_ptr<upstream::Instance>> instances;
  // Every instance of the service for the status views: the routed ones above and the
  // registered ones held back (critical, draining, unresolved). The constructor lists
  // `instances` as static members; the snapshot builder replaces that with the full list.
  std::vector<Member> members;
  // What the session does per request for this service's algorithm (count, time, hash).
  balance::Needs needs;
  config::HashKey hash_key;  // where `hash` takes the key from
  config::HealthConfig health;
  config::RetryConfig retry;
  // Counts the service's requests and its retries in flight (any worker).
  mutable RetryBudget retry_budget;
  config::ConnLimitConfig limits;  // max_conns per instance, and the queue
  mutable ConnQueue queue;         // requests waiting while every instance is at max_conns
  std::optional<config::OutlierConfig> outlier;  // outlier detection, when on
  config::Duration slow_start{0};                // ramp of joining / returning instances; 0 = off
  // Whether a pick needs health::exclude_unhealthy (some health rule can take instances out).
  bool checks_health() const { return health.max_fails > 0 || health.check || outlier; }
  // Whether the latest request found the service in panic mode (fewer healthy instances than
  // health.panic_threshold percent, so every instance is used). Written by any worker, read by
  // /lb-status; the worker that flips it logs the transition.
  mutable std::atomic<bool> panic{false};
  // Requests routed here and the proxy's own answers to them. Shared with the Service objects
  // before and after this one (the snapshot builder keeps them for the service's life); the
  // constructor makes fresh ones.
  std::shared_ptr<ServiceCounters> counters;

 private:
  balance::SharedTables shared_;  // before balancers_: they point into it while being built
  std::vector<std::unique_ptr<balance::Balancer>> balancers_;
};

struct Snapshot {
  std::vector<std::shared_ptr<const Service>> services;
  RouteTable routes;
  config::Timeouts timeouts;
  config::Limits limits;
  config::EndpointsConfig endpoints;
  std::vector<Cidr> trusted_proxies;  // whose X-Forwarded-For ip_hash believes

  // `host` is the Host header (a port is ignored), `path` the request path.
  const Route* match(std::string_view host, std::string_view path) const {
    return routes.match(host, path);
  }
};

// The path to send upstream after removing a route's prefix: "/api/x" - "/api" = "/x".
std::string_view strip_prefix(std::string_view path, std::string_view prefix);

}  // namespace sb::proxy
