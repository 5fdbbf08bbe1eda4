// What this node knows of the etcd keyspace under the registry's prefix, kept from a full range
// read and the watch's events, and turned into Registry::MirrorChange for the local cache. Pure
// bookkeeping (no I/O), so tests feed it events directly.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "registry/etcd_client.hpp"
#include "registry/etcd_keys.hpp"
#include "registry/model.hpp"
#include "registry/registry.hpp"

namespace sb::registry::etcd {

class EtcdMirror {
 public:
  explicit EtcdMirror(std::string prefix) : layout_(std::move(prefix)) {}

  // An instance as etcd has it, with what a write needs: the instance key's mod_revision (for
  // compare-and-swap) and lease, and the alive key's lease.
  struct Instance {
    InstanceRecord record;
    int64_t mod_revision = 0;
    int64_t lease = 0;
    bool alive = false;
    int64_t alive_lease = 0;
  };

  // Replaces everything with a full read (every key under the prefix at one revision); returns
  // the changes that make the registry equal to it (removals of what is gone included).
  std::vector<Registry::MirrorChange> reset(const std::vector<KeyValue>& kvs);
  // Applies one watch message's events, in order; returns one change per instance touched.
  std::vector<Registry::MirrorChange> apply(const std::vector<Event>& events);

  // Copies, as the caller keeps them across suspensions where the mirror may change.
  std::optional<Instance> find(const std::string& service, const std::string& id) const;
  size_t instances() const;
  const KeyLayout& layout() const { return layout_; }
  // Values that did not decode (skipped, and logged once each).
  uint64_t undecodable() const { return undecodable_; }

 private:
  struct Entry {
    std::optional<InstanceRecord> record;
    int64_t mod_revision = 0;
    int64_t lease = 0;
    bool alive = false;
    int64_t alive_lease = 0;
  };
  using Key = std::pair<std::string, std::string>;  // service, id

  // Returns the instance the key belongs to, if it is one of the layout's.
  std::optional<Key> take(const KeyValue& kv, bool deleted);
  Registry::MirrorChange change_of(const Key& key) const;

  KeyLayout layout_;
  std::map<Key, Entry> entries_;
  uint64_t undecodable_ = 0;
};

}  // namespace sb::registry::etcd
