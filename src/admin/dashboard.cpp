#include "admin/dashboard.hpp"

#include <map>
#include <nlohmann/json.hpp>

#include "core/coarse_clock.hpp"

namespace sb::admin {

namespace {

struct RegistryInfo {
  std::string id;
  std::string state;  // passing, critical, draining
  uint32_t weight = 1;
};

// The state an operator sees: the registry's word first (draining, critical), then the proxy's
// health rules (ejected, down), else passing.
std::string state_of(const upstream::Instance& instance, const RegistryInfo* registered,
                     CoarseClock::time_point now) {
  if (registered != nullptr && registered->state != "passing") return registered->state;
  if (instance.outlier().ejected(now)) return "ejected";
  if (instance.passive().down(now) || instance.check_down()) return "down";
  return "passing";
}

}  // namespace

std::string dashboard_json(const proxy::Snapshot& snapshot, const registry::Registry& registry,
                           const EventLog& events) {
  const auto now = CoarseClock::now();
  nlohmann::json services = nlohmann::json::array();
  for (const auto& service_ptr : snapshot.services) {
    const proxy::Service& service = *service_ptr;
    std::map<std::string, RegistryInfo> by_address;  // the registry's instances of the service
    for (const registry::InstanceView& view : registry.instances(service.name)) {
      by_address[view.record.address + ":" + std::to_string(view.record.port)] = {
          view.record.id, std::string(registry::to_string(view.state)), view.record.weight};
    }
    nlohmann::json instances = nlohmann::json::array();
    for (const auto& instance : service.instances) {
      const auto found = by_address.find(instance->label());
      const RegistryInfo* registered = found == by_address.end() ? nullptr : &found->second;
      const metrics::LatencyTotals latency = instance->upstream_latency();
      instances.push_back({{"address", instance->label()},
                           {"id", registered ? registered->id : ""},
                           {"state", state_of(*instance, registered, now)},
                           {"weight", instance->weight()},
                           {"requests", instance->requests()},
                           {"errors", instance->responses(5) + instance->failures()},
                           {"p50_ms", static_cast<double>(latency.quantile_us(0.5)) / 1000.0},
                           {"p99_ms", static_cast<double>(latency.quantile_us(0.99)) / 1000.0}});
      if (registered) by_address.erase(found);
    }
    // Registered instances the proxy does not route to (critical, draining) are shown too; the
    // proxy holds no figures for them (null).
    for (const auto& [address, info] : by_address) {
      instances.push_back({{"address", address},
                           {"id", info.id},
                           {"state", info.state},
                           {"weight", info.weight},
                           {"requests", nullptr},
                           {"errors", nullptr},
                           {"p50_ms", nullptr},
                           {"p99_ms", nullptr}});
    }
    services.push_back({{"name", service.name},
                        {"balance", service.balance},
                        {"panic", service.panic.load(std::memory_order_relaxed)},
                        {"instances", std::move(instances)}});
  }
  nlohmann::json feed = nlohmann::json::array();
  for (const Event& event : events.recent(50)) {
    feed.push_back({{"unix_ms", event.unix_ms}, {"level", event.level}, {"text", event.text}});
  }
  return nlohmann::json{{"services", std::move(services)}, {"events", std::move(feed)}}.dump();
}

}  // namespace sb::admin
