// Builds the snapshots the workers route by, from the static config and the registry's live view:
// a service's instances are its static ones plus its registered ones that are passing and not
// draining; its routes are the config's plus those its instances declare (config routes win on a
// conflict). Only the services that changed are rebuilt; the others, with their balancers and
// instance counters, are shared with the previous snapshot.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "proxy/snapshot.hpp"
#include "registry/registry.hpp"

namespace sb::proxy {

// Runs on one thread (the registry's, after start-up).
class SnapshotBuilder {
 public:
  // Resolves the static instances' host names once. Throws config::ConfigError naming the
  // instance whose address does not resolve.
  SnapshotBuilder(const config::Config& config, unsigned workers);

  // The registry's instances of `service`, in every state (draining and critical ones still
  // declare the service's routes, so requests get a 503 naming it rather than a 404). An empty
  // list removes the service's registered part.
  void set_registered(std::string_view service, std::span<const registry::InstanceView> instances);

  // A new configuration (hot reload): services, routes, algorithms, health settings, timeouts
  // and limits; registered instances stay. Throws config::ConfigError, with nothing changed, if a
  // static instance does not resolve. The next build() reflects it.
  void reconfigure(const config::Config& config);

  std::shared_ptr<const Snapshot> build();

 private:
  struct Registered {
    registry::InstanceRecord record;
    registry::InstanceState state = registry::InstanceState::kPassing;
    bool routable = false;                         // passing and not draining
    std::shared_ptr<upstream::Instance> instance;  // null if the address did not resolve
  };
  struct Entry {
    bool in_config = false;
    std::string balance = "round_robin";
    std::optional<config::HashConfig> hash;  // config services only
    config::HealthConfig health;             // defaults for registered-only services
    config::RetryConfig retry;
    config::ConnLimitConfig limits;
    std::optional<config::OutlierConfig> outlier;
    config::Duration slow_start{0};
    std::string ignored_balance;  // a meta balance already warned about
    std::vector<std::shared_ptr<upstream::Instance>> static_instances;
    std::map<std::string, Registered, std::less<>> registered;  // by instance id
    // The routes its instances declare, without repeats, in instance-id order: computed when
    // the service changes, so a build walks services, not every instance of a large registry.
    std::vector<registry::RouteDecl> declared_routes;
    // The service's figures, kept across rebuilds and reloads for as long as the service is here.
    std::shared_ptr<ServiceCounters> counters;
    std::shared_ptr<const Service> built;  // null: rebuild
    size_t index = 0;                      // in the snapshot being built
  };

  // A registered-only service balances as its instances' meta "balance" says (the first, by id,
  // that names one) when that algorithm needs no config (hash needs a key); else round robin.
  static void apply_meta_balance(std::string_view service, Entry& entry);
  std::shared_ptr<upstream::Instance> make_instance(const std::string& host, uint16_t port,
                                                    uint32_t weight);

  config::Config config_;  // timeouts, limits, endpoints and static routes
  unsigned workers_;
  bool built_once_ = false;        // instances made after the first build ramp up (slow start)
  uint64_t last_instance_id_ = 0;  // instance ids are unique for the life of the process
  std::map<std::string, Entry, std::less<>> services_;
  std::vector<std::string> config_order_;  // config services first, in config order
};

// A snapshot of a config alone (no registry).
std::shared_ptr<const Snapshot> build_snapshot(const config::Config& config, unsigned workers);

}  // namespace sb::proxy
