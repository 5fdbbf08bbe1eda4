#include "proxy/snapshot_builder.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <optional>

namespace sb::proxy {

namespace {

std::optional<boost::asio::ip::tcp::endpoint> resolve(const std::string& host, uint16_t port,
                                                      std::string& error) {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  if (!ec) return boost::asio::ip::tcp::endpoint{address, port};
  boost::asio::io_context context;
  boost::asio::ip::tcp::resolver resolver(context);
  const auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    error = "cannot resolve '" + host + "': " + ec.message();
    return std::nullopt;
  }
  return results.begin()->endpoint();
}

}  // namespace

SnapshotBuilder::SnapshotBuilder(const config::Config& config, unsigned workers)
    : config_(config), workers_(workers) {
  reconfigure(config);
}

void SnapshotBuilder::reconfigure(const config::Config& config) {
  // Everything that can fail (resolving names) happens before anything changes. An instance the
  // config keeps (same service, address, port and weight) keeps its object, and with it its
  // counters, health state and pooled connections.
  std::map<std::string, std::vector<std::shared_ptr<upstream::Instance>>, std::less<>> statics;
  for (size_t s = 0; s < config.services.size(); ++s) {
    const config::ServiceConfig& sc = config.services[s];
    const auto old = services_.find(sc.name);
    auto& instances = statics[sc.name];
    for (size_t i = 0; i < sc.instances.size(); ++i) {
      const config::InstanceConfig& ic = sc.instances[i];
      std::shared_ptr<upstream::Instance> kept;
      if (old != services_.end()) {
        for (const auto& instance : old->second.static_instances) {
          if (instance->host() == ic.address && instance->port() == ic.port &&
              instance->weight() == ic.weight &&
              std::find(instances.begin(), instances.end(), instance) == instances.end()) {
            kept = instance;
            break;
          }
        }
      }
      if (!kept) {
        std::string error;
        const auto endpoint = resolve(ic.address, ic.port, error);
        if (!endpoint) {
          throw config::ConfigError(
              "services[" + std::to_string(s) + "].instances[" + std::to_string(i) + "]", error);
        }
        kept = std::make_shared<upstream::Instance>(++last_instance_id_, ic.address, ic.port,
                                                    *endpoint, ic.weight, workers_);
        if (built_once_) kept->came_back();  // joins a running proxy: slow start
      }
      instances.push_back(std::move(kept));
    }
  }

  for (auto& [name, entry] : services_) {  // back to a registered-only service's defaults
    Entry fresh;
    fresh.registered = std::move(entry.registered);
    fresh.declared_routes = std::move(entry.declared_routes);
    fresh.ignored_balance = std::move(entry.ignored_balance);  // warned once, not per reload
    fresh.counters = std::move(entry.counters);
    entry = std::move(fresh);
  }
  config_order_.clear();
  for (const config::ServiceConfig& sc : config.services) {
    Entry& entry = services_[sc.name];
    entry.in_config = true;
    entry.balance = sc.balance;
    entry.hash = sc.hash;
    entry.health = sc.health;
    entry.retry = sc.retry;
    entry.limits = sc.limits;
    entry.outlier = sc.outlier;
    entry.slow_start = sc.slow_start;
    entry.static_instances = std::move(statics[sc.name]);
    config_order_.push_back(sc.name);
  }
  std::erase_if(services_, [](const auto& item) {
    return !item.second.in_config && item.second.registered.empty();
  });
  // A service that left the file but keeps registered instances balances by their meta at once,
  // not only from its next registry change.
  for (auto& [name, entry] : services_) {
    if (!entry.in_config) apply_meta_balance(name, entry);
  }
  config_ = config;
}

std::shared_ptr<upstream::Instance> SnapshotBuilder::make_instance(const std::string& host,
                                                                   uint16_t port, uint32_t weight) {
  std::string error;
  const auto endpoint = resolve(host, port, error);
  if (!endpoint) {
    spdlog::warn("registered instance {}:{} gets no traffic: {}", host, port, error);
    return nullptr;
  }
  auto instance = std::make_shared<upstream::Instance>(++last_instance_id_, host, port, *endpoint,
                                                       weight, workers_);
  // An instance that joins a running proxy ramps up (slow start); those there from the start,
  // stored registrations included, do not.
  if (built_once_) instance->came_back();
  return instance;
}

void SnapshotBuilder::apply_meta_balance(std::string_view service, Entry& entry) {
  entry.balance = "round_robin";
  for (const auto& [id, r] : entry.registered) {
    const auto meta = r.record.meta.find("balance");
    if (meta == r.record.meta.end()) continue;
    if (balance::is_known_algorithm(meta->second) && !balance::needs_of(meta->second).request_key) {
      entry.balance = meta->second;
    } else if (meta->second != entry.ignored_balance) {
      spdlog::warn(
          "service {}: meta balance '{}' of instance {} ignored (unknown, or needs "
          "config); balancing by round_robin",
          service, meta->second, id);
      entry.ignored_balance = meta->second;
    }
    break;
  }
}

void SnapshotBuilder::set_registered(std::string_view service,
                                     std::span<const registry::InstanceView> instances) {
  auto it = services_.find(service);
  if (it == services_.end()) {
    if (instances.empty()) return;
    it = services_.emplace(std::string(service), Entry{}).first;
  }
  Entry& entry = it->second;
  std::map<std::string, Registered, std::less<>> next;
  for (const registry::InstanceView& view : instances) {
    Registered r;
    r.record = view.record;
    r.state = view.state;
    r.routable = view.state == registry::InstanceState::kPassing;
    // An instance whose address, port and weight are unchanged keeps its Instance object, and
    // with it its counters and its pooled upstream connections.
    const auto old = entry.registered.find(view.record.id);
    if (old != entry.registered.end() && old->second.record.address == view.record.address &&
        old->second.record.port == view.record.port &&
        old->second.record.weight == view.record.weight) {
      r.instance = old->second.instance;
    } else {
      r.instance = make_instance(view.record.address, view.record.port, view.record.weight);
    }
    next.emplace(view.record.id, std::move(r));
  }
  entry.registered = std::move(next);
  if (!entry.in_config) apply_meta_balance(service, entry);
  entry.declared_routes.clear();
  for (const auto& [id, r] : entry.registered) {
    for (const registry::RouteDecl& decl : r.record.routes) {
      if (std::find(entry.declared_routes.begin(), entry.declared_routes.end(), decl) ==
          entry.declared_routes.end()) {
        entry.declared_routes.push_back(decl);
      }
    }
  }
  entry.built.reset();
  if (entry.registered.empty() && !entry.in_config) services_.erase(it);
}

std::shared_ptr<const Snapshot> SnapshotBuilder::build() {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->timeouts = config_.timeouts;
  snapshot->limits = config_.limits;
  snapshot->endpoints = config_.endpoints;
  for (const std::string& proxy : config_.trusted_proxies) {
    if (const auto cidr = Cidr::parse(proxy)) snapshot->trusted_proxies.push_back(*cidr);
  }

  // Config services first, in config order, then registered-only ones by name.
  snapshot->services.reserve(services_.size());
  const auto add_service = [&](const std::string& name, Entry& entry) {
    if (!entry.built) {
      std::vector<std::shared_ptr<upstream::Instance>> instances = entry.static_instances;
      for (const auto& [id, r] : entry.registered) {
        if (r.routable && r.instance) instances.push_back(r.instance);
      }
      auto service = std::make_shared<Service>(name, entry.balance, std::move(instances), workers_,
                                               entry.hash, entry.health, entry.retry, entry.limits,
                                               entry.outlier, entry.slow_start);
      if (entry.counters) {
        service->counters = entry.counters;
      } else {
        entry.counters = service->counters;
      }
      // The constructor listed the static instances (and the routed registered ones) as
      // static: the registered ones, routed or held back, take their registry id and state.
      service->members.resize(entry.static_instances.size());
      for (const auto& [id, r] : entry.registered) {
        Member m;
        m.instance = r.instance;
        m.address = r.instance ? r.instance->label()
                               : r.record.address + ":" + std::to_string(r.record.port);
        m.weight = r.record.weight;
        m.id = id;
        m.registered_state = registry::to_string(r.state);
        m.routed = r.routable && r.instance;
        service->members.push_back(std::move(m));
      }
      entry.built = std::move(service);
    }
    entry.index = snapshot->services.size();
    snapshot->services.push_back(entry.built);
  };
  for (const std::string& name : config_order_) add_service(name, services_.find(name)->second);
  for (auto& [name, entry] : services_) {
    if (!entry.in_config) add_service(name, entry);
  }

  // Config routes first, so they win over declared ones with the same host and prefix.
  for (const config::RouteConfig& rc : config_.routes) {
    snapshot->routes.add(
        {rc.host, rc.path_prefix, services_.find(rc.service)->second.index, rc.strip_prefix});
  }
  for (const auto& [name, entry] : services_) {
    for (const registry::RouteDecl& decl : entry.declared_routes) {
      if (!snapshot->routes.add({decl.host, decl.path_prefix, entry.index, false})) {
        const Route* owner = snapshot->match(decl.host, decl.path_prefix);
        if (owner != nullptr && owner->service != entry.index) {
          spdlog::debug("route {}{} declared by service {} is already taken by service {}",
                        decl.host, decl.path_prefix, name,
                        snapshot->services[owner->service]->name);
        }
      }
    }
  }
  built_once_ = true;
  return snapshot;
}

std::shared_ptr<const Snapshot> build_snapshot(const config::Config& config, unsigned workers) {
  return SnapshotBuilder(config, workers).build();
}

}  // namespace sb::proxy
