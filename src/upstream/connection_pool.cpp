#include "upstream/connection_pool.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace sb::upstream {

namespace {

// A pooled connection closed here: it was idle, and now it is not open either.
void count_closed(InstanceCounters& counters, size_t n = 1) {
  counters.idle_connections.sub(n);
  counters.connections.sub(n);
}

// A non-blocking peek finds nothing: the upstream neither closed the connection nor sent bytes
// nobody asked for (a framing doubt). What nginx learns from the read event it keeps armed on
// idle connections; here, for connections without a multishot receive.
bool nothing_to_read(const loop::Socket& socket) {
  char byte;
  const ssize_t n =
      ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT | MSG_NOSIGNAL);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

std::optional<loop::Socket> ConnectionPool::take(uint64_t instance) {
  const auto it = idle_.find(instance);
  if (it == idle_.end()) return std::nullopt;
  auto& list = it->second.idle;
  InstanceCounters& counters = *it->second.counters;
  const auto oldest_allowed = CoarseClock::now() - idle_timeout_;
  while (!list.empty()) {
    Idle idle = std::move(list.back());
    list.pop_back();
    if (idle.since >= oldest_allowed) {
      // Its multishot receive would have taken anything that came; without one, a recv looks.
      const std::optional<bool> quiet = idle.socket.quiet();
      if (quiet.has_value() ? *quiet : nothing_to_read(idle.socket)) {
        counters.idle_connections.sub();  // in use from now on, still open
        return std::move(idle.socket);
      }
    }
    count_closed(counters);  // `idle` closes its socket as it goes
  }
  return std::nullopt;
}

void ConnectionPool::give(uint64_t instance, InstanceCounters& counters, loop::Socket socket) {
  if (max_idle_ == 0) {
    counters.connections.sub();  // `socket` closes as it goes
    return;
  }
  PerInstance& entry = idle_[instance];
  entry.counters = &counters;
  if (entry.idle.size() >= max_idle_) {
    entry.idle.erase(entry.idle.begin());  // drop the least recently used
    count_closed(counters);
  }
  entry.idle.push_back({std::move(socket), CoarseClock::now()});
  counters.idle_connections.add();
}

void ConnectionPool::evict(const std::unordered_set<uint64_t>* live,
                           const std::unordered_set<uint64_t>* shown) {
  const auto oldest_allowed = CoarseClock::now() - idle_timeout_;
  for (auto it = idle_.begin(); it != idle_.end();) {
    PerInstance& entry = it->second;
    const bool counted = shown == nullptr || shown->contains(it->first);
    if (live != nullptr && !live->contains(it->first)) {
      if (counted) count_closed(*entry.counters, entry.idle.size());
      it = idle_.erase(it);
      continue;
    }
    const size_t before = entry.idle.size();
    std::erase_if(entry.idle, [&](const Idle& idle) { return idle.since < oldest_allowed; });
    if (counted) count_closed(*entry.counters, before - entry.idle.size());
    it = entry.idle.empty() ? idle_.erase(it) : std::next(it);
  }
}

size_t ConnectionPool::idle_count() const {
  size_t n = 0;
  for (const auto& [id, entry] : idle_) n += entry.idle.size();
  return n;
}

}  // namespace sb::upstream
