// The in-memory service registry: every registered instance with its TTL clock, health and
// draining flag, kept in step with a durable Store, plus Consul-style modify indexes for blocking
// queries and a change listener for the proxy.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "registry/clock.hpp"
#include "registry/model.hpp"
#include "registry/store.hpp"

namespace sb::registry {

// What an operation did; the HTTP layer maps it to a status code.
enum class Result {
  kOk,        // 200: done (or nothing to do: already in that state)
  kCreated,   // 201: a new instance was registered
  kNotFound,  // 404: no such instance (for a heartbeat: the client should re-register)
};

// What the proxy and the API see of an instance: draining wins over health.
enum class InstanceState { kPassing, kCritical, kDraining };

std::string_view to_string(InstanceState state);

struct InstanceView {
  InstanceRecord record;
  InstanceState state = InstanceState::kPassing;
  std::chrono::steady_clock::time_point last_heartbeat;
};

struct ServiceSummary {
  std::string name;
  size_t passing = 0;  // neither critical nor draining: the instances that get new traffic
  size_t total = 0;
};

inline constexpr std::chrono::milliseconds kDefaultDeregisterAfter = std::chrono::minutes(1);

// Runs on one thread (the admin/registry event loop): no member is thread-safe, the Store is called
// from that thread only, and the change listener runs on it too.
//
// Durability: every change that must survive a restart (registration, drain, undrain,
// deregistration) is written to the Store first; memory changes only once the Store call returned.
// A Store failure throws std::runtime_error out of the operation with memory unchanged, so the API
// answers 5xx and nothing unacknowledged is half-applied. Heartbeats and health live in memory
// only.
//
// Lifecycle: an instance with a ttl whose last heartbeat is older than its ttl turns critical at
// the next tick(), counted from the moment its ttl ran out; critical for longer than
// deregister_after, it is deregistered (Store too). A heartbeat or re-registration makes a critical
// instance passing again. Instances without a ttl never expire.
//
// Indexes (Consul semantics): a registry-wide counter, starting at 0, incremented on every change
// that matters for routing (registration, an update that changes the record, drain, undrain,
// deregistration, passing<->critical). Each service remembers the counter value of its last change,
// also after its last instance is gone, so a blocking query on it wakes on that deregistration.
// Indexes are not persisted: they restart after a restart (load() bumps them past 0).
//
// Cluster mode (several switchboards sharing an etcd store, registry/etcd_registry.hpp): the
// registry is a cache of the shared store, built with the mirror constructor. It changes only
// through mirror(), with what the store's watch delivered; writes go to the store elsewhere, TTL
// expiry is the store's (leases), so upsert/drain/undrain/deregister/load throw std::logic_error
// and tick() does nothing. Indexes then follow the store's revisions, so every node of a cluster
// reports the same index for the same state and a blocking query can move between nodes.
class Registry {
 public:
  using OnChange = std::function<void(std::string_view service)>;

  Registry(Store& store, const Clock& clock,
           std::chrono::milliseconds deregister_after = kDefaultDeregisterAfter);
  struct MirrorOfSharedStore {};
  Registry(MirrorOfSharedStore, const Clock& clock);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // At start-up, before any other operation: replaces memory with every record in the Store, all
  // passing with their TTL clocks starting now (a grace period for heartbeats to resume). Bumps the
  // index once and notifies each loaded service. Propagates Store exceptions (memory unchanged).
  void load();

  // Registers (kCreated) or updates (kOk) the instance, idempotently. `record.draining` is ignored:
  // a new instance starts not draining, an update keeps the instance's flag. Resets the TTL clock
  // and makes the instance passing. Always writes the Store; bumps the index and notifies only if
  // something changed (new instance, different record, or it was critical).
  Result upsert(const InstanceRecord& record);

  // Renews the TTL, in memory only. kNotFound if unknown. A critical instance becomes passing
  // (a change); otherwise nothing changes for routing and the index stays.
  Result heartbeat(std::string_view service, std::string_view id);

  // Set or clear the draining flag, persisted. kNotFound if unknown; kOk without touching the
  // Store if the flag is already so.
  Result drain(std::string_view service, std::string_view id);
  Result undrain(std::string_view service, std::string_view id);

  // Erases from the Store, then from memory. kNotFound if unknown.
  Result deregister(std::string_view service, std::string_view id);

  // Applies the clock: expiries (passing -> critical) and deregistrations of long-critical
  // instances. Call it periodically (e.g. every 100-250 ms). Notifies each changed service once,
  // after all changes. If Store::erase throws for an instance, that instance stays (critical,
  // retried at the next tick), the others are still processed, and the first exception is rethrown
  // at the end.
  void tick();

  // Cluster mode: one instance as the shared store now has it. No `record`: it is gone.
  struct MirrorChange {
    std::string service;
    std::string id;
    std::optional<InstanceRecord> record;  // record->draining is the shared draining flag
    bool passing = true;                   // the shared TTL state (etcd's alive key)
  };
  // Cluster mode: applies the changes in order, as of the store's `revision`. Changed services get
  // the index max(global index + 1, revision) and are notified once each, after all changes. A
  // change that changes nothing (same record, same health) bumps nothing. `quiet`: no log line
  // per instance (a node's first read of a large registry).
  void mirror(const std::vector<MirrorChange>& changes, uint64_t revision, bool quiet = false);
  // Cluster mode: this node relayed a heartbeat the store accepted (for /metrics and
  // last_heartbeat_ms_ago; heartbeats through other nodes are not seen here).
  void note_heartbeat(std::string_view service, std::string_view id);
  bool mirrored() const { return store_ == nullptr; }

  // Services with at least one instance, by name.
  std::vector<ServiceSummary> services() const;
  // The service's instances by id; empty if the service is unknown.
  std::vector<InstanceView> instances(std::string_view service) const;
  bool contains(std::string_view service, std::string_view id) const;

  // The index of the service's last change; 0 if it never had one.
  uint64_t index(std::string_view service) const;
  uint64_t global_index() const { return global_index_; }
  // Heartbeats accepted since start (for /metrics: their rate).
  uint64_t heartbeats() const { return heartbeats_; }

  // Called after each change with the changed service's name; must not throw. The listener may
  // read the registry but not modify it.
  void set_on_change(OnChange on_change) { on_change_ = std::move(on_change); }

 private:
  enum class Health { kPassing, kCritical };

  struct Instance {
    InstanceRecord record;  // record.draining is the draining flag
    std::chrono::steady_clock::time_point last_heartbeat;
    Health health = Health::kPassing;
    std::chrono::steady_clock::time_point critical_since;  // when the ttl ran out
  };
  using Instances = std::map<std::string, Instance, std::less<>>;

  Instance* find(std::string_view service, std::string_view id);
  const Instance* find(std::string_view service, std::string_view id) const;
  Result set_draining(std::string_view service, std::string_view id, bool draining);
  // Bumps the global index and records it as the service's.
  void bump(std::string_view service);
  void notify(std::string_view service) const;

  Store& store();

  Store* store_;  // null in cluster mode (a mirror of a shared store)
  const Clock& clock_;
  std::chrono::milliseconds deregister_after_;
  std::map<std::string, Instances, std::less<>> services_;  // no empty entries
  std::map<std::string, uint64_t, std::less<>> service_index_;
  uint64_t heartbeats_ = 0;
  uint64_t global_index_ = 0;
  OnChange on_change_;
};

}  // namespace sb::registry
