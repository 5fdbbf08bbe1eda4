// EtcdRegistry: the sync loop (full read, watch, resume, resync), API writes as etcd
// transactions, and batched lease keep-alives (see etcd_registry.hpp).
#include "registry/etcd_registry.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <random>
#include <set>
#include <utility>

#include "core/base64.hpp"

namespace sb::registry::etcd {
namespace {

constexpr auto kMinBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::seconds(2);
// Keys per page of the full read: pages stay well under the gateway's message limits (an
// instance is a few hundred bytes of base64) and the read stays at one revision throughout.
constexpr int kPageSize = 1000;
// Compare-and-swap rounds before a write under constant concurrent change gives up (503).
constexpr int kCasAttempts = 5;
// Keep-alive calls in flight at once; heartbeats arriving meanwhile wait for the next call and go
// together, one JSON object each in a single streamed request.
constexpr int kMaxKeepaliveFlushes = 4;
constexpr size_t kMaxKeepaliveBatch = 2000;

// A quarter of a write's deadline, so a write can outlast an election by trying again (etcd
// elects in about one election timeout, 1 s by default): 500 ms for the default 2 s.
std::chrono::milliseconds attempt_timeout(std::chrono::milliseconds timeout) {
  return std::clamp<std::chrono::milliseconds>(timeout / 4, std::chrono::milliseconds(100),
                                               std::chrono::seconds(2));
}

std::string b64(std::string_view bytes) {
  return base64_encode(bytes);
}

Json put_op(const std::string& key, const std::string& value, int64_t lease) {
  Json put = {{"key", b64(key)}, {"value", b64(value)}};
  if (lease != 0) put["lease"] = std::to_string(lease);
  return {{"request_put", std::move(put)}};
}

// A put that keeps whatever lease the key has (a drain must not end or change its TTL).
Json put_keeping_lease(const std::string& key, const std::string& value) {
  return {{"request_put", {{"key", b64(key)}, {"value", b64(value)}, {"ignore_lease", true}}}};
}

Json delete_op(const std::string& key) {
  return {{"request_delete_range", {{"key", b64(key)}}}};
}

Json range_op(const std::string& key) {
  return {{"request_range", {{"key", b64(key)}}}};
}

// mod_revision 0 matches a key that does not exist.
Json mod_equals(const std::string& key, int64_t mod_revision) {
  return {{"key", b64(key)},
          {"target", "MOD"},
          {"result", "EQUAL"},
          {"mod_revision", std::to_string(mod_revision)}};
}

Json exists(const std::string& key) {
  return {{"key", b64(key)}, {"target", "VERSION"}, {"result", "GREATER"}, {"version", "0"}};
}

Json range_request(const std::string& from, const std::string& end) {
  return {{"key", b64(from)}, {"range_end", b64(end)}, {"limit", kPageSize}};
}

Json watch_request(const Json& key, const Json& range_end, int64_t start) {
  return {{"create_request",
           {{"key", key}, {"range_end", range_end}, {"start_revision", std::to_string(start)}}}};
}

Json txn(Json compare, Json success, Json failure = Json::array()) {
  return {{"compare", std::move(compare)},
          {"success", std::move(success)},
          {"failure", std::move(failure)}};
}

bool succeeded(const Json& answer) {
  return answer.value("succeeded", false);
}

// The key a failed txn's range op read: its current version, or none if it is gone.
std::optional<KeyValue> failure_range(const Json& answer) {
  const auto responses = answer.find("responses");
  if (responses == answer.end() || !responses->is_array() || responses->empty()) {
    return std::nullopt;
  }
  const auto range = responses->front().find("response_range");
  if (range == responses->front().end()) return std::nullopt;
  const auto kvs = range->find("kvs");
  if (kvs == range->end() || !kvs->is_array() || kvs->empty()) return std::nullopt;
  return decode_kv(kvs->front());
}

bool draining_of(const KeyLayout& layout, const KeyValue& kv) {
  const KeyLayout::Parsed parsed = layout.parse(kv.key);
  try {
    return from_stored_json(parsed.service, parsed.id, kv.value).draining;
  } catch (const std::exception&) {
    return false;
  }
}

// GCC 12 cannot keep a braced list's backing array in a coroutine frame ("array used as
// initializer"), so coroutines build their lists with these.
std::vector<int64_t> leases_of(int64_t a, int64_t b = 0) {
  std::vector<int64_t> leases;
  if (a != 0) leases.push_back(a);
  if (b != 0) leases.push_back(b);
  return leases;
}

Json list(Json a) {
  Json out = Json::array();
  out.push_back(std::move(a));
  return out;
}

Json list(Json a, Json b) {
  Json out = list(std::move(a));
  out.push_back(std::move(b));
  return out;
}

Json single(const char* name, std::string value) {
  Json out = Json::object();
  out[name] = std::move(value);
  return out;
}

std::string reason_for_stop() {
  return "shutting down";
}

}  // namespace

struct EtcdRegistry::KeepaliveWaiter {
  explicit KeepaliveWaiter(asio::io_context& context) : timer(context) {}
  std::vector<int64_t> leases;
  std::map<int64_t, int64_t> ttls;
  bool done = false;
  std::string error;
  SteadyTimer timer;
};

EtcdRegistry::EtcdRegistry(asio::io_context& context, Registry& cache, EtcdOptions options,
                           std::function<void()> publish)
    : context_(context),
      cache_(cache),
      options_(std::move(options)),
      publish_(std::move(publish)),
      client_(context, options_.members, attempt_timeout(options_.timeout)),
      mirror_(options_.prefix) {
  if (!cache_.mirrored()) throw std::logic_error("EtcdRegistry needs a mirror Registry");
}

EtcdRegistry::~EtcdRegistry() = default;

void EtcdRegistry::start() {
  backoff_timer_.emplace(context_);
  asio::co_spawn(context_, sync_loop(), asio::detached);
}

bool EtcdRegistry::wait_first_sync(std::chrono::milliseconds timeout) {
  return first_sync_future_.wait_for(timeout) == std::future_status::ready && synced_once_;
}

void EtcdRegistry::stop() {
  stopping_ = true;
  client_.close();
  if (backoff_timer_) backoff_timer_->cancel();
  for (auto& entry : revision_waiters_) entry.second->cancel();
  for (auto& waiter : keepalive_queue_) waiter->timer.cancel();
  signal_first_sync();
}

void EtcdRegistry::signal_first_sync() {
  if (first_sync_done_) return;
  first_sync_done_ = true;
  first_sync_.set_value();
}

// ------------------------------------------------------------------------------------------
// Following etcd

Task<void> EtcdRegistry::sync_loop() {
  auto backoff = std::chrono::milliseconds(kMinBackoff);
  std::minstd_rand random{std::random_device{}()};
  const Json key = b64(mirror_.layout().prefix());
  const Json range_end = b64(mirror_.layout().range_end());
  while (!stopping_) {
    std::string failure;
    bool again_now = false;  // a full resync is due: no reason to wait
    try {
      if (need_full_) co_await resync();
      const Json create = watch_request(key, range_end, revision_ + 1);
      std::unique_ptr<Client::Watch> watch =
          co_await client_.watch(create, Clock::now() + options_.timeout);
      watch_ = watch.get();
      for (;;) {
        const WatchMessage message = co_await watch->next();
        if (message.created) {
          if (cluster_id_ != 0 && message.header.cluster_id != 0 &&
              message.header.cluster_id != cluster_id_) {
            // Restored from a backup or rebuilt: its revisions are not the ones we followed.
            spdlog::warn("registry: etcd answers as another cluster now (id {} -> {}); full resync",
                         cluster_id_, message.header.cluster_id);
            need_full_ = true;
            again_now = true;
            break;
          }
          set_up(watch->member());
          backoff = kMinBackoff;
          continue;
        }
        if (message.canceled) {
          if (message.compact_revision > 0) {
            spdlog::warn(
                "registry: etcd compacted its history past revision {} (compacted to {}); full "
                "resync",
                revision_ + 1, message.compact_revision);
            need_full_ = true;
            again_now = true;
            break;
          }
          throw Unavailable("etcd canceled the watch: " + message.cancel_reason);
        }
        apply(message);
      }
      watch_ = nullptr;
    } catch (const Unavailable& e) {
      failure = e.what();  // resume from revision_ + 1: etcd keeps the history
    } catch (const EtcdError& e) {
      failure = std::string("etcd: ") + e.what();
      if (e.code() == EtcdError::kOutOfRange) again_now = true;  // compacted mid-read
      need_full_ = true;
    } catch (const std::exception& e) {
      // Something etcd sent that we could not follow: start again from a fresh read.
      failure = std::string("etcd: ") + e.what();
      need_full_ = true;
    }
    watch_ = nullptr;
    if (stopping_) break;
    if (!failure.empty()) {
      ++watch_restarts_;
      set_down(failure);
      signal_first_sync();  // start-up goes on without etcd (static stability)
    }
    if (again_now) continue;
    const auto jitter = std::chrono::milliseconds(
        std::uniform_int_distribution<int64_t>(0, backoff.count() / 4)(random));
    backoff_timer_->expires_after(backoff + jitter);
    co_await backoff_timer_->async_wait(use_task);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
  }
}

Task<void> EtcdRegistry::resync() {
  const auto started = Clock::now();
  std::vector<KeyValue> kvs;
  int64_t at = 0;
  uint64_t cluster = 0;
  std::string from = mirror_.layout().prefix();
  const std::string end = mirror_.layout().range_end();
  for (;;) {
    Json request = range_request(from, end);
    // Every page at the first page's revision: one consistent picture, whatever changes meanwhile.
    if (at != 0) request["revision"] = std::to_string(at);
    const Json answer =
        co_await client_.call_json("/v3/kv/range", request, Clock::now() + options_.timeout);
    if (at == 0) {
      const ResponseHeader header = decode_header(answer);
      at = header.revision;
      cluster = header.cluster_id;
    }
    size_t page = 0;
    if (const auto found = answer.find("kvs"); found != answer.end() && found->is_array()) {
      for (const Json& kv : *found) {
        kvs.push_back(decode_kv(kv));
        ++page;
      }
    }
    if (!answer.value("more", false) || page == 0) break;
    from = kvs.back().key;
    from.push_back('\0');  // the next key after it
  }
  const auto changes = mirror_.reset(kvs);
  // The first read registers everything: one summary line instead of one per instance. Later
  // reads log what changed while this node was not following.
  cache_.mirror(changes, static_cast<uint64_t>(at), !synced_once_);
  cluster_id_ = cluster;
  need_full_ = false;
  ++full_resyncs_;
  publish_();
  revision_ = at;  // also when it is lower: another cluster starts its revisions anew
  advance(at);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  spdlog::info("registry: {} instance(s) read from etcd at revision {} in {} ms ({} key(s))",
               mirror_.instances(), at, took, kvs.size());
  synced_once_ = true;
  signal_first_sync();
}

void EtcdRegistry::apply(const WatchMessage& message) {
  if (message.events.empty()) {
    // A progress notification: nothing under our prefix changed up to its revision.
    advance(message.header.revision);
    return;
  }
  int64_t latest = 0;
  for (const Event& event : message.events) latest = std::max(latest, event.kv.mod_revision);
  cache_.mirror(mirror_.apply(message.events), static_cast<uint64_t>(latest));
  publish_();  // before the writes waiting for this revision answer
  advance(latest);
}

void EtcdRegistry::advance(int64_t revision) {
  revision_ = std::max(revision_, revision);
  const auto end = revision_waiters_.upper_bound(revision_);
  for (auto it = revision_waiters_.begin(); it != end; ++it) it->second->cancel();
}

void EtcdRegistry::set_up(const Member& member) {
  if (!up_.exchange(true, std::memory_order_relaxed)) {
    spdlog::info("registry: following etcd at {} from revision {}", member.name(), revision_ + 1);
  }
  down_reason_.clear();
}

void EtcdRegistry::set_down(const std::string& reason) {
  const bool was_up = up_.exchange(false, std::memory_order_relaxed);
  if (was_up || reason != down_reason_) {
    spdlog::warn("registry: etcd unreachable, serving the last snapshot: {}", reason);
  }
  down_reason_ = reason;
}

Task<bool> EtcdRegistry::wait_applied(int64_t revision, Deadline deadline) {
  if (revision_ >= revision) co_return true;
  SteadyTimer timer(context_);
  const auto entry = revision_waiters_.emplace(revision, &timer);
  while (revision_ < revision && !stopping_ && Clock::now() < deadline) {
    timer.expires_at(deadline);
    co_await timer.async_wait(use_task);
  }
  revision_waiters_.erase(entry);
  co_return revision_ >= revision;
}

WriteOutcome EtcdRegistry::unseen(int64_t revision) const {
  if (stopping_) return {Result::kOk, reason_for_stop()};
  return {Result::kOk, "stored in etcd at revision " + std::to_string(revision) +
                           ", but this node's watch did not deliver it within " +
                           std::to_string(options_.timeout.count()) + " ms (" +
                           (up() ? std::string("watch lagging") : down_reason_) + ")"};
}

// ------------------------------------------------------------------------------------------
// Writes

Task<WriteOutcome> EtcdRegistry::write(RegistryWrite write) {
  const Deadline deadline = Clock::now() + options_.timeout;
  std::string failure;
  try {
    switch (write.op) {
      case RegistryWrite::Op::kUpsert:
        co_return co_await upsert(std::move(write.record), deadline);
      case RegistryWrite::Op::kHeartbeat:
        co_return co_await heartbeat(std::move(write.service), std::move(write.id), deadline);
      case RegistryWrite::Op::kDrain:
      case RegistryWrite::Op::kUndrain:
        co_return co_await set_draining(std::move(write.service), std::move(write.id),
                                        write.op == RegistryWrite::Op::kDrain, deadline);
      case RegistryWrite::Op::kDeregister:
        co_return co_await deregister(std::move(write.service), std::move(write.id), deadline);
    }
  } catch (const Unavailable& e) {
    failure = stopping_ ? reason_for_stop() : std::string("etcd unreachable: ") + e.what();
  } catch (const std::exception& e) {
    failure = std::string("etcd: ") + e.what();
  }
  co_return WriteOutcome{Result::kOk, failure.empty() ? "etcd: unknown write" : failure};
}

Task<int64_t> EtcdRegistry::grant(std::chrono::milliseconds ttl, Deadline deadline) {
  // Leases count whole seconds: round up, so an instance is never critical before its ttl.
  const int64_t seconds = std::max<int64_t>(1, (ttl.count() + 999) / 1000);
  const Json request = single("TTL", std::to_string(seconds));
  const Json answer = co_await client_.call_json("/v3/lease/grant", request, deadline);
  const int64_t id = json_int(answer, "ID");
  if (id == 0) {
    throw EtcdError(0, "no lease granted: " + answer.value("error", std::string("no ID")));
  }
  co_return id;
}

Task<WriteOutcome> EtcdRegistry::upsert(InstanceRecord record, Deadline deadline) {
  const KeyLayout& layout = mirror_.layout();
  const std::string key = layout.instance_key(record.service, record.id);
  const std::string alive = layout.alive_key(record.service, record.id);
  int64_t lease = 0;
  int64_t alive_lease = 0;
  if (record.ttl) {
    lease = co_await grant(*record.ttl + options_.deregister_after, deadline);
    alive_lease = co_await grant(*record.ttl, deadline);
  }
  const std::optional<EtcdMirror::Instance> known = mirror_.find(record.service, record.id);
  int64_t expected = known ? known->mod_revision : 0;
  bool draining = known && known->record.draining;  // a registration keeps the flag
  int64_t old_lease = known ? known->lease : 0;
  const int64_t old_alive_lease = known ? known->alive_lease : 0;
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    record.draining = draining;
    Json success = list(put_op(key, to_stored_json(record), lease),
                        alive_lease != 0 ? put_op(alive, "", alive_lease) : delete_op(alive));
    // Compare-and-swap on the instance key, so a drain another node made meanwhile is not lost.
    const Json request =
        txn(list(mod_equals(key, expected)), std::move(success), list(range_op(key)));
    const Json answer = co_await client_.call_json("/v3/kv/txn", request, deadline);
    const int64_t at = decode_header(answer).revision;
    if (succeeded(answer)) {
      std::vector<int64_t> replaced = leases_of(old_lease, old_alive_lease);
      std::erase_if(replaced, [&](int64_t old) { return old == lease || old == alive_lease; });
      revoke_later(std::move(replaced));
      if (!co_await wait_applied(at, deadline)) co_return unseen(at);
      co_return WriteOutcome{expected == 0 ? Result::kCreated : Result::kOk, {}};
    }
    const std::optional<KeyValue> current = failure_range(answer);
    expected = current ? current->mod_revision : 0;
    draining = current && draining_of(layout, *current);
    old_lease = current ? current->lease : 0;
  }
  revoke_later(leases_of(lease, alive_lease));
  co_return WriteOutcome{Result::kOk, "the instance kept changing under concurrent writes"};
}

Task<WriteOutcome> EtcdRegistry::heartbeat(std::string service, std::string id, Deadline deadline) {
  // Unknown here is 404 even if another node registered it a moment ago and our watch has not
  // delivered it yet: the client re-registers, which is idempotent.
  const std::optional<EtcdMirror::Instance> known = mirror_.find(service, id);
  if (!known) co_return WriteOutcome{Result::kNotFound, {}};
  if (!known->record.ttl) {
    cache_.note_heartbeat(service, id);  // nothing expires, nothing to renew
    co_return WriteOutcome{};
  }
  const std::vector<int64_t> leases =
      leases_of(known->lease, known->alive ? known->alive_lease : 0);
  std::map<int64_t, int64_t> ttls;
  if (!leases.empty()) ttls = co_await keepalive(leases, deadline);
  if (known->lease != 0 && ttls[known->lease] <= 0) {
    // Its lease ran out: etcd deleted it (the watch brings the deletion); re-register.
    co_return WriteOutcome{Result::kNotFound, {}};
  }
  const bool alive = known->alive && known->alive_lease != 0 && ttls[known->alive_lease] > 0;
  if (!alive) {
    // Critical (its alive key expired): this heartbeat makes it passing again, for every node.
    const int64_t alive_lease = co_await grant(*known->record.ttl, deadline);
    const std::string key = mirror_.layout().instance_key(service, id);
    const Json request = txn(
        list(exists(key)), list(put_op(mirror_.layout().alive_key(service, id), "", alive_lease)));
    const Json answer = co_await client_.call_json("/v3/kv/txn", request, deadline);
    if (!succeeded(answer)) {
      revoke_later(leases_of(alive_lease));
      co_return WriteOutcome{Result::kNotFound, {}};
    }
    const int64_t at = decode_header(answer).revision;
    if (!co_await wait_applied(at, deadline)) co_return unseen(at);
  }
  cache_.note_heartbeat(service, id);
  co_return WriteOutcome{};
}

Task<WriteOutcome> EtcdRegistry::set_draining(std::string service, std::string id, bool draining,
                                              Deadline deadline) {
  const std::string key = mirror_.layout().instance_key(service, id);
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    const std::optional<EtcdMirror::Instance> known = mirror_.find(service, id);
    if (!known) co_return WriteOutcome{Result::kNotFound, {}};
    if (known->record.draining == draining) co_return WriteOutcome{};
    InstanceRecord record = known->record;
    record.draining = draining;
    const Json request =
        txn(list(mod_equals(key, known->mod_revision)),
            list(put_keeping_lease(key, to_stored_json(record))), list(range_op(key)));
    const Json answer = co_await client_.call_json("/v3/kv/txn", request, deadline);
    if (succeeded(answer)) {
      const int64_t at = decode_header(answer).revision;
      if (!co_await wait_applied(at, deadline)) co_return unseen(at);
      co_return WriteOutcome{};
    }
    // Changed under us: let the cache catch up with etcd's version, then decide again from it.
    const std::optional<KeyValue> current = failure_range(answer);
    if (!current) co_return WriteOutcome{Result::kNotFound, {}};
    if (!co_await wait_applied(current->mod_revision, deadline)) {
      co_return unseen(current->mod_revision);
    }
  }
  co_return WriteOutcome{Result::kOk, "the instance kept changing under concurrent writes"};
}

Task<WriteOutcome> EtcdRegistry::deregister(std::string service, std::string id,
                                            Deadline deadline) {
  const KeyLayout& layout = mirror_.layout();
  const std::string key = layout.instance_key(service, id);
  const std::optional<EtcdMirror::Instance> known = mirror_.find(service, id);
  const Json request =
      txn(list(exists(key)), list(delete_op(key), delete_op(layout.alive_key(service, id))));
  const Json answer = co_await client_.call_json("/v3/kv/txn", request, deadline);
  if (!succeeded(answer)) co_return WriteOutcome{Result::kNotFound, {}};
  if (known) revoke_later(leases_of(known->lease, known->alive_lease));
  const int64_t at = decode_header(answer).revision;
  if (!co_await wait_applied(at, deadline)) co_return unseen(at);
  co_return WriteOutcome{};
}

// ------------------------------------------------------------------------------------------
// Leases

Task<std::map<int64_t, int64_t>> EtcdRegistry::keepalive(std::vector<int64_t> leases,
                                                         Deadline deadline) {
  auto waiter = std::make_shared<KeepaliveWaiter>(context_);
  waiter->leases = std::move(leases);
  keepalive_queue_.push_back(waiter);
  if (keepalive_flushes_ < kMaxKeepaliveFlushes) {
    ++keepalive_flushes_;
    asio::co_spawn(context_, flush_keepalives(), asio::detached);
  }
  while (!waiter->done && !stopping_ && Clock::now() < deadline) {
    waiter->timer.expires_at(deadline);
    co_await waiter->timer.async_wait(use_task);
  }
  if (!waiter->done) {
    throw Unavailable(stopping_ ? reason_for_stop() : "etcd did not renew the lease in time");
  }
  if (!waiter->error.empty()) throw Unavailable(waiter->error);
  co_return waiter->ttls;
}

Task<void> EtcdRegistry::flush_keepalives() {
  while (!keepalive_queue_.empty() && !stopping_) {
    std::vector<std::shared_ptr<KeepaliveWaiter>> batch;
    while (!keepalive_queue_.empty() && batch.size() < kMaxKeepaliveBatch) {
      batch.push_back(std::move(keepalive_queue_.front()));
      keepalive_queue_.pop_front();
    }
    // The gateway reads a stream of requests from one body: {"ID":"1"}{"ID":"2"}..., and answers
    // one {"result": {"ID", "TTL"}} line each (TTL absent: the lease is gone).
    std::string body;
    std::set<int64_t> unique;
    for (const auto& waiter : batch) {
      for (const int64_t lease : waiter->leases) {
        if (unique.insert(lease).second) body += "{\"ID\":\"" + std::to_string(lease) + "\"}";
      }
    }
    std::map<int64_t, int64_t> ttls;
    std::string error;
    try {
      const std::string answer =
          co_await client_.call("/v3/lease/keepalive", body, Clock::now() + options_.timeout);
      size_t start = 0;
      while (start < answer.size()) {
        size_t newline = answer.find('\n', start);
        if (newline == std::string::npos) newline = answer.size();
        const std::string_view line(answer.data() + start, newline - start);
        start = newline + 1;
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
        const Json parsed = Json::parse(line, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_object()) {
          throw std::runtime_error("etcd: a keep-alive answer is not JSON");
        }
        if (parsed.contains("error")) throw decode_error(parsed, 200);
        const Json& result = parsed.at("result");
        ttls[json_int(result, "ID")] = json_int(result, "TTL");
      }
      ++keepalive_batches_;
      keepalives_ += unique.size();
    } catch (const std::exception& e) {
      error = e.what();
    }
    for (const auto& waiter : batch) {
      waiter->error = error;
      for (const int64_t lease : waiter->leases) {
        const auto it = ttls.find(lease);
        if (it != ttls.end()) {
          waiter->ttls[lease] = it->second;
        } else if (waiter->error.empty()) {
          waiter->error = "etcd did not answer for lease " + std::to_string(lease);
        }
      }
      waiter->done = true;
      waiter->timer.cancel();
    }
  }
  --keepalive_flushes_;
}

void EtcdRegistry::revoke_later(std::vector<int64_t> leases) {
  std::erase(leases, 0);
  if (leases.empty() || stopping_) return;
  asio::co_spawn(context_, revoke(std::move(leases)), asio::detached);
}

Task<void> EtcdRegistry::revoke(std::vector<int64_t> leases) {
  for (const int64_t lease : leases) {
    if (stopping_) break;
    try {
      const Json request = single("ID", std::to_string(lease));
      co_await client_.call_json("/v3/lease/revoke", request, Clock::now() + options_.timeout);
    } catch (const std::exception&) {
      // Gone already, or etcd away: the lease expires by itself, holding no key.
    }
  }
}

}  // namespace sb::registry::etcd
