// Where the registry keeps its instances across restarts. An interface, so the embedded SQLite file
// (sqlite_store.hpp) and a later etcd cluster store are interchangeable: nothing above this header
// may assume a local file.
#pragma once

#include <string_view>
#include <vector>

#include "registry/model.hpp"

namespace sb::registry {

// Every mutating call returns only once its change is durable: it survives a kill -9 of the process
// and, for the SQLite store, a power loss. The API answers 2xx only after the call returns, so an
// acknowledged registration, drain or deregistration is never lost. Failures throw
// std::runtime_error; the API then answers 5xx and the registry's in-memory state must not change.
//
// Heartbeats are NOT stored: they only renew a TTL in memory. After a restart every loaded instance
// gets a fresh TTL clock (a grace period for heartbeats to resume), so last-heartbeat times have no
// value on disk and writing them would put an fsync on the hottest registry path.
//
// Not thread-safe: the registry calls its store from the registry's thread only.
class Store {
 public:
  virtual ~Store() = default;

  // Inserts or replaces the record keyed by (record.service, record.id), draining flag included.
  virtual void put(const InstanceRecord& record) = 0;
  // Removes the instance. False if it was not there (nothing changed).
  virtual bool erase(std::string_view service, std::string_view id) = 0;
  // Sets the draining flag of an existing instance. False if there is no such instance.
  virtual bool set_draining(std::string_view service, std::string_view id, bool draining) = 0;
  // Every stored instance, in no particular order; called once at start-up.
  virtual std::vector<InstanceRecord> load_all() = 0;
};

}  // namespace sb::registry
