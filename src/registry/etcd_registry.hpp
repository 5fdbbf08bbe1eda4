// Cluster mode: the registry kept in etcd v3 and shared by several switchboards. Every node keeps
// a local cache (a Registry built as a mirror) fed only by etcd: a full range read at revision R,
// then a watch from R+1, so the cache replays etcd's history in order and misses no change. The
// proxy's snapshot is rebuilt from that cache, as in the single-node mode.
//
// Writes go to etcd and are answered once this node's watch delivered the write's revision (and
// the snapshot with it was published): a 2xx means this node already routes by it, and the other
// nodes follow as fast as their watches (BENCHMARKS.md: cross-node propagation).
//
// TTLs are etcd leases, two per instance with a ttl, so the registry's Consul-style lifecycle is
// the same for every node and needs no node to be alive: the instance key is leased for
// ttl + deregister_after and an "alive" key for ttl; a heartbeat renews both. When the alive
// lease runs out etcd deletes that key and every node marks the instance critical; when the
// instance lease runs out etcd deletes the instance and every node deregisters it. Leases count
// in whole seconds, so a ttl is rounded up to one.
//
// etcd unreachable (static stability): the cache and the snapshot stay as they are, traffic
// flows, and writes answer 503 with the reason as soon as every member has refused (or within
// registry.etcd_timeout). The watch reconnects with backoff (100 ms doubling to 2 s, any member)
// and resumes from the last revision it applied; if etcd compacted that revision away, or the
// cluster is another one (its cluster id changed), the node resyncs with a fresh full read. A
// member cut off from the quorum counts as unreachable: every request requires a leader, so such
// a member refuses calls and ends the watch (after three election timeouts), and the watch
// resumes on another member instead of stalling on one that hears of no change.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "registry/api.hpp"
#include "registry/etcd_client.hpp"
#include "registry/etcd_mirror.hpp"
#include "registry/registry.hpp"

namespace sb::registry::etcd {

struct EtcdOptions {
  std::vector<Member> members;
  std::string prefix = "/switchboard/";
  std::chrono::milliseconds timeout{2'000};  // a write's whole deadline
  std::chrono::milliseconds deregister_after = kDefaultDeregisterAfter;
};

// Runs on the registry thread (the io_context given); only wait_first_sync() and the atomics
// behind up()/revision() may be used from another thread.
class EtcdRegistry {
 public:
  // `cache` must be a mirror Registry. `publish` publishes the proxy's snapshot if the cache
  // changed; called after every change the watch applied, before the writes waiting for it wake.
  EtcdRegistry(asio::io_context& context, Registry& cache, EtcdOptions options,
               std::function<void()> publish);
  ~EtcdRegistry();
  EtcdRegistry(const EtcdRegistry&) = delete;
  EtcdRegistry& operator=(const EtcdRegistry&) = delete;

  // Starts the sync loop (the first full read, then the watch).
  void start();
  // Any thread: waits until the first full read is done (true) or `timeout` passed (false).
  bool wait_first_sync(std::chrono::milliseconds timeout);
  // Registry thread: closes connections and ends every coroutine, so the loop can run out of work.
  void stop();

  // Carries out an API write (RegistryApi, WriteMode::kDeferred).
  Task<WriteOutcome> write(RegistryWrite write);

  // For /metrics and logs.
  bool up() const { return up_.load(std::memory_order_relaxed); }
  int64_t revision() const { return revision_; }
  uint64_t full_resyncs() const { return full_resyncs_; }
  uint64_t watch_restarts() const { return watch_restarts_; }
  uint64_t keepalive_batches() const { return keepalive_batches_; }
  uint64_t keepalives() const { return keepalives_; }
  const std::string& down_reason() const { return down_reason_; }

 private:
  struct KeepaliveWaiter;

  Task<void> sync_loop();
  // The full read: every key under the prefix at one revision, in pages.
  Task<void> resync();
  void apply(const WatchMessage& message);
  void advance(int64_t revision);
  void set_up(const Member& member);
  void set_down(const std::string& reason);
  void signal_first_sync();

  Task<WriteOutcome> upsert(InstanceRecord record, Deadline deadline);
  Task<WriteOutcome> heartbeat(std::string service, std::string id, Deadline deadline);
  Task<WriteOutcome> set_draining(std::string service, std::string id, bool draining,
                                  Deadline deadline);
  Task<WriteOutcome> deregister(std::string service, std::string id, Deadline deadline);

  // Until this node's cache applied `revision`; false at the deadline or on stop.
  Task<bool> wait_applied(int64_t revision, Deadline deadline);
  WriteOutcome unseen(int64_t revision) const;
  Task<int64_t> grant(std::chrono::milliseconds ttl, Deadline deadline);
  // Renews leases, batched with every other heartbeat waiting: lease -> remaining TTL (0: gone).
  Task<std::map<int64_t, int64_t>> keepalive(std::vector<int64_t> leases, Deadline deadline);
  Task<void> flush_keepalives();
  // Best effort, not awaited: leases a write replaced (etcd would expire them anyway).
  void revoke_later(std::vector<int64_t> leases);
  Task<void> revoke(std::vector<int64_t> leases);

  asio::io_context& context_;
  Registry& cache_;
  EtcdOptions options_;
  std::function<void()> publish_;
  Client client_;
  EtcdMirror mirror_;

  int64_t revision_ = 0;     // every event up to here is in the cache
  uint64_t cluster_id_ = 0;  // of the last full read
  bool need_full_ = true;
  std::atomic<bool> up_{false};
  std::string down_reason_;
  bool stopping_ = false;
  Client::Watch* watch_ = nullptr;
  std::optional<SteadyTimer> backoff_timer_;
  std::multimap<int64_t, SteadyTimer*> revision_waiters_;
  std::deque<std::shared_ptr<KeepaliveWaiter>> keepalive_queue_;
  int keepalive_flushes_ = 0;
  std::promise<void> first_sync_;
  std::future<void> first_sync_future_ = first_sync_.get_future();
  bool first_sync_done_ = false;
  std::atomic<bool> synced_once_{false};
  uint64_t full_resyncs_ = 0;
  uint64_t watch_restarts_ = 0;
  uint64_t keepalive_batches_ = 0;
  uint64_t keepalives_ = 0;
};

}  // namespace sb::registry::etcd
