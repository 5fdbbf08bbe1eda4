// Registry: the in-memory instance lifecycle over a durable Store (see registry.hpp).
#include "registry/registry.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>

#include "core/log_event.hpp"

namespace sb::registry {

namespace {

// "host:port" as the proxy labels instances, so a registry line and a proxy line about the same
// instance carry the same `instance` field.
std::string address_of(const InstanceRecord& record) {
  const bool v6 = record.address.find(':') != std::string::npos;
  return (v6 ? "[" + record.address + "]" : record.address) + ":" + std::to_string(record.port);
}

}  // namespace

std::string_view to_string(InstanceState state) {
  switch (state) {
    case InstanceState::kPassing:
      return "passing";
    case InstanceState::kCritical:
      return "critical";
    case InstanceState::kDraining:
      return "draining";
  }
  return "unknown";
}

Registry::Registry(Store& store, const Clock& clock, std::chrono::milliseconds deregister_after)
    : store_(&store), clock_(clock), deregister_after_(deregister_after) {}

Registry::Registry(MirrorOfSharedStore, const Clock& clock)
    : store_(nullptr), clock_(clock), deregister_after_(kDefaultDeregisterAfter) {}

Store& Registry::store() {
  // A programming error, not an outage: cluster-mode writes go to the shared store, never here.
  if (store_ == nullptr) throw std::logic_error("registry: a cluster-mode cache is not written to");
  return *store_;
}

void Registry::load() {
  std::vector<InstanceRecord> records = store().load_all();  // may throw: memory unchanged
  const auto now = clock_.now();

  std::map<std::string, Instances, std::less<>> loaded;
  for (InstanceRecord& record : records) {
    Instance instance;
    instance.last_heartbeat = now;
    std::string service = record.service;
    std::string id = record.id;
    instance.record = std::move(record);
    loaded[std::move(service)].insert_or_assign(std::move(id), std::move(instance));
  }

  // Every service that had or now has instances changed.
  std::vector<std::string> changed;
  for (const auto& entry : services_) changed.push_back(entry.first);
  for (const auto& entry : loaded) {
    if (!services_.contains(entry.first)) changed.push_back(entry.first);
  }
  services_ = std::move(loaded);
  if (changed.empty()) return;
  ++global_index_;
  for (const std::string& service : changed) service_index_[service] = global_index_;
  for (const std::string& service : changed) notify(service);
}

Result Registry::upsert(const InstanceRecord& record) {
  Instance* existing = find(record.service, record.id);
  InstanceRecord stored = record;
  stored.draining = existing != nullptr && existing->record.draining;
  store().put(stored);  // may throw: memory unchanged

  const auto now = clock_.now();
  if (existing == nullptr) {
    Instance instance;
    instance.record = std::move(stored);
    instance.last_heartbeat = now;
    auto service_it = services_.find(record.service);
    if (service_it == services_.end()) {
      service_it = services_.emplace(record.service, Instances{}).first;
    }
    service_it->second.emplace(record.id, std::move(instance));
    log_event(spdlog::level::info, {"registered", record.service, address_of(record), record.id},
              "registry: {}/{} registered at {}:{}", record.service, record.id, record.address,
              record.port);
    bump(record.service);
    notify(record.service);
    return Result::kCreated;
  }

  const bool changed = existing->record != stored || existing->health != Health::kPassing;
  existing->record = std::move(stored);
  existing->last_heartbeat = now;
  existing->health = Health::kPassing;
  if (changed) {
    log_event(spdlog::level::info, {"updated", record.service, address_of(record), record.id},
              "registry: {}/{} updated ({}:{}, passing)", record.service, record.id, record.address,
              record.port);
    bump(record.service);
    notify(record.service);
  }
  return Result::kOk;
}

Result Registry::heartbeat(std::string_view service, std::string_view id) {
  Instance* instance = find(service, id);
  if (instance == nullptr) return Result::kNotFound;
  ++heartbeats_;
  instance->last_heartbeat = clock_.now();
  if (instance->health == Health::kCritical) {
    instance->health = Health::kPassing;
    log_event(spdlog::level::info, {"passing", service, address_of(instance->record), id},
              "registry: {}/{} passing again (heartbeat)", service, id);
    bump(service);
    notify(service);
  }
  return Result::kOk;
}

Result Registry::drain(std::string_view service, std::string_view id) {
  return set_draining(service, id, true);
}

Result Registry::undrain(std::string_view service, std::string_view id) {
  return set_draining(service, id, false);
}

Result Registry::set_draining(std::string_view service, std::string_view id, bool draining) {
  Instance* instance = find(service, id);
  if (instance == nullptr) return Result::kNotFound;
  if (instance->record.draining == draining) return Result::kOk;
  // Both may throw: memory unchanged. A store that lost the row (it should not) gets it back whole.
  if (!store().set_draining(service, id, draining)) {
    InstanceRecord stored = instance->record;
    stored.draining = draining;
    store().put(stored);
  }
  instance->record.draining = draining;
  log_event(spdlog::level::info,
            {draining ? "drained" : "undrained", service, address_of(instance->record), id},
            "registry: {}/{} {}", service, id, draining ? "draining" : "undrained");
  bump(service);
  notify(service);
  return Result::kOk;
}

Result Registry::deregister(std::string_view service, std::string_view id) {
  auto service_it = services_.find(service);
  if (service_it == services_.end()) return Result::kNotFound;
  auto instance_it = service_it->second.find(id);
  if (instance_it == service_it->second.end()) return Result::kNotFound;
  store().erase(service, id);  // may throw: memory unchanged; false (already gone) is fine
  // `service` may point into the entry erased below: keep a copy of the name.
  const std::string name(service);
  log_event(spdlog::level::info, {"deregistered", name, address_of(instance_it->second.record), id},
            "registry: {}/{} deregistered", name, id);
  service_it->second.erase(instance_it);
  if (service_it->second.empty()) services_.erase(service_it);
  bump(name);
  notify(name);
  return Result::kOk;
}

void Registry::tick() {
  if (mirrored()) return;  // the shared store's leases expire instances, for every node at once
  const auto now = clock_.now();
  std::vector<std::string> changed;
  std::exception_ptr error;

  for (auto service_it = services_.begin(); service_it != services_.end();) {
    const std::string& service = service_it->first;
    Instances& instances = service_it->second;
    bool service_changed = false;
    for (auto instance_it = instances.begin(); instance_it != instances.end();) {
      Instance& instance = instance_it->second;
      if (!instance.record.ttl.has_value()) {
        ++instance_it;
        continue;
      }
      if (instance.health == Health::kPassing &&
          now - instance.last_heartbeat > *instance.record.ttl) {
        instance.health = Health::kCritical;
        instance.critical_since = instance.last_heartbeat + *instance.record.ttl;
        log_event(spdlog::level::warn,
                  {"critical", service, address_of(instance.record), instance_it->first},
                  "registry: {}/{} critical: no heartbeat within its ttl", service,
                  instance_it->first);
        bump(service);
        service_changed = true;
      }
      if (instance.health == Health::kCritical &&
          now - instance.critical_since > deregister_after_) {
        try {
          store().erase(service, instance_it->first);
        } catch (...) {
          if (!error) error = std::current_exception();
          ++instance_it;
          continue;
        }
        log_event(spdlog::level::warn,
                  {"expired", service, address_of(instance.record), instance_it->first},
                  "registry: {}/{} deregistered after {} ms critical", service, instance_it->first,
                  deregister_after_.count());
        instance_it = instances.erase(instance_it);
        bump(service);
        service_changed = true;
        continue;
      }
      ++instance_it;
    }
    if (service_changed) changed.push_back(service);
    if (instances.empty()) {
      service_it = services_.erase(service_it);
    } else {
      ++service_it;
    }
  }

  for (const std::string& service : changed) notify(service);
  if (error) std::rethrow_exception(error);
}

void Registry::mirror(const std::vector<MirrorChange>& changes, uint64_t revision, bool quiet) {
  const auto now = clock_.now();
  std::vector<std::string> changed;
  const auto mark = [&](const std::string& service) {
    if (std::find(changed.begin(), changed.end(), service) == changed.end()) {
      changed.push_back(service);
    }
  };
  for (const MirrorChange& change : changes) {
    Instance* existing = find(change.service, change.id);
    if (!change.record) {
      if (existing == nullptr) continue;
      auto service_it = services_.find(change.service);
      service_it->second.erase(change.id);
      if (service_it->second.empty()) services_.erase(service_it);
      if (!quiet)
        spdlog::info("registry: {}/{} deregistered (shared store)", change.service, change.id);
      mark(change.service);
      continue;
    }
    const Health health = change.passing ? Health::kPassing : Health::kCritical;
    if (existing == nullptr) {
      Instance instance;
      instance.record = *change.record;
      instance.last_heartbeat = now;
      instance.health = health;
      instance.critical_since = now;
      services_[change.service].insert_or_assign(change.id, std::move(instance));
      if (!quiet)
        spdlog::info("registry: {}/{} registered at {}:{}{}", change.service, change.id,
                     change.record->address, change.record->port,
                     change.passing ? "" : " (critical)");
      mark(change.service);
      continue;
    }
    if (existing->record == *change.record && existing->health == health) continue;
    if (existing->health != health) {
      if (health == Health::kCritical) {
        existing->critical_since = now;
        if (!quiet)
          spdlog::warn("registry: {}/{} critical: no heartbeat within its ttl", change.service,
                       change.id);
      } else {
        existing->last_heartbeat = now;
        if (!quiet)
          spdlog::info("registry: {}/{} passing again (heartbeat)", change.service, change.id);
      }
    }
    if (existing->record != *change.record) {
      if (existing->record.draining != change.record->draining) {
        if (!quiet)
          spdlog::info("registry: {}/{} {}", change.service, change.id,
                       change.record->draining ? "draining" : "undrained");
      } else {
        // A re-registration renews the TTL as a heartbeat does.
        existing->last_heartbeat = now;
        if (!quiet)
          spdlog::info("registry: {}/{} updated ({}:{})", change.service, change.id,
                       change.record->address, change.record->port);
      }
      existing->record = *change.record;
    }
    existing->health = health;
    mark(change.service);
  }
  if (changed.empty()) return;
  global_index_ = std::max(global_index_ + 1, revision);
  for (const std::string& service : changed) service_index_[service] = global_index_;
  for (const std::string& service : changed) notify(service);
}

void Registry::note_heartbeat(std::string_view service, std::string_view id) {
  Instance* instance = find(service, id);
  if (instance == nullptr) return;
  ++heartbeats_;
  instance->last_heartbeat = clock_.now();
}

std::vector<ServiceSummary> Registry::services() const {
  std::vector<ServiceSummary> summaries;
  summaries.reserve(services_.size());
  for (const auto& [name, instances] : services_) {
    ServiceSummary summary{name, 0, instances.size()};
    for (const auto& entry : instances) {
      const Instance& instance = entry.second;
      if (instance.health == Health::kPassing && !instance.record.draining) ++summary.passing;
    }
    summaries.push_back(std::move(summary));
  }
  return summaries;
}

std::vector<InstanceView> Registry::instances(std::string_view service) const {
  std::vector<InstanceView> views;
  const auto service_it = services_.find(service);
  if (service_it == services_.end()) return views;
  views.reserve(service_it->second.size());
  for (const auto& entry : service_it->second) {
    const Instance& instance = entry.second;
    InstanceState state = InstanceState::kPassing;
    if (instance.record.draining) {
      state = InstanceState::kDraining;
    } else if (instance.health == Health::kCritical) {
      state = InstanceState::kCritical;
    }
    views.push_back(InstanceView{instance.record, state, instance.last_heartbeat});
  }
  return views;
}

bool Registry::contains(std::string_view service, std::string_view id) const {
  return find(service, id) != nullptr;
}

uint64_t Registry::index(std::string_view service) const {
  const auto it = service_index_.find(service);
  return it == service_index_.end() ? 0 : it->second;
}

Registry::Instance* Registry::find(std::string_view service, std::string_view id) {
  return const_cast<Instance*>(std::as_const(*this).find(service, id));
}

const Registry::Instance* Registry::find(std::string_view service, std::string_view id) const {
  const auto service_it = services_.find(service);
  if (service_it == services_.end()) return nullptr;
  const auto instance_it = service_it->second.find(id);
  return instance_it == service_it->second.end() ? nullptr : &instance_it->second;
}

void Registry::bump(std::string_view service) {
  ++global_index_;
  const auto it = service_index_.find(service);
  if (it == service_index_.end()) {
    service_index_.emplace(std::string(service), global_index_);
  } else {
    it->second = global_index_;
  }
}

void Registry::notify(std::string_view service) const {
  if (on_change_) on_change_(service);
}

}  // namespace sb::registry
