// EtcdMirror: etcd keys and events -> registry changes (see etcd_mirror.hpp).
#include "registry/etcd_mirror.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace sb::registry::etcd {

std::optional<EtcdMirror::Key> EtcdMirror::take(const KeyValue& kv, bool deleted) {
  KeyLayout::Parsed parsed = layout_.parse(kv.key);
  if (parsed.kind == KeyLayout::Kind::kOther) return std::nullopt;
  Key key{std::move(parsed.service), std::move(parsed.id)};
  Entry& entry = entries_[key];
  if (parsed.kind == KeyLayout::Kind::kAlive) {
    entry.alive = !deleted;
    entry.alive_lease = deleted ? 0 : kv.lease;
  } else if (deleted) {
    entry.record.reset();
    entry.mod_revision = 0;
    entry.lease = 0;
  } else {
    try {
      entry.record = from_stored_json(key.first, key.second, kv.value);
      entry.mod_revision = kv.mod_revision;
      entry.lease = kv.lease;
    } catch (const std::exception& e) {
      // Someone else's value under our prefix, or a newer switchboard's format: never a crash,
      // and never a half-understood route. The instance is left out until a valid value comes.
      ++undecodable_;
      spdlog::error("registry: skipping etcd key {}: {}", kv.key, e.what());
      entry.record.reset();
      entry.mod_revision = kv.mod_revision;
      entry.lease = kv.lease;
    }
  }
  return key;
}

Registry::MirrorChange EtcdMirror::change_of(const Key& key) const {
  Registry::MirrorChange change{key.first, key.second, std::nullopt, true};
  const auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.record) return change;
  change.record = it->second.record;
  // An instance without a ttl never expires and has no alive key.
  change.passing = !it->second.record->ttl || it->second.alive;
  return change;
}

std::vector<Registry::MirrorChange> EtcdMirror::reset(const std::vector<KeyValue>& kvs) {
  std::set<Key> touched;
  for (const auto& [key, entry] : entries_) touched.insert(key);
  entries_.clear();
  for (const KeyValue& kv : kvs) {
    if (auto key = take(kv, false)) touched.insert(std::move(*key));
  }
  std::vector<Registry::MirrorChange> changes;
  changes.reserve(touched.size());
  for (const Key& key : touched) changes.push_back(change_of(key));
  std::erase_if(entries_,
                [](const auto& item) { return !item.second.record && !item.second.alive; });
  return changes;
}

std::vector<Registry::MirrorChange> EtcdMirror::apply(const std::vector<Event>& events) {
  // A registration's txn puts the instance and its alive key together: the registry sees the
  // result of the whole message, never the instance for a moment without its alive key.
  std::vector<Key> touched;
  for (const Event& event : events) {
    if (auto key = take(event.kv, event.deleted)) {
      if (std::find(touched.begin(), touched.end(), *key) == touched.end()) {
        touched.push_back(std::move(*key));
      }
    }
  }
  std::vector<Registry::MirrorChange> changes;
  changes.reserve(touched.size());
  for (const Key& key : touched) {
    changes.push_back(change_of(key));
    const auto it = entries_.find(key);
    if (it != entries_.end() && !it->second.record && !it->second.alive &&
        it->second.mod_revision == 0) {
      entries_.erase(it);
    }
  }
  return changes;
}

std::optional<EtcdMirror::Instance> EtcdMirror::find(const std::string& service,
                                                     const std::string& id) const {
  const auto it = entries_.find(Key{service, id});
  if (it == entries_.end() || !it->second.record) return std::nullopt;
  const Entry& e = it->second;
  return Instance{*e.record, e.mod_revision, e.lease, e.alive, e.alive_lease};
}

size_t EtcdMirror::instances() const {
  return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(),
                                           [](const auto& item) { return item.second.record; }));
}

}  // namespace sb::registry::etcd
