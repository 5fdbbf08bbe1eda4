// Idle keep-alive connections to upstream instances, per worker thread (so no locking): the most
// recently used first, at most `max_idle` per instance, closed after `idle_timeout` unused (shorter
// than backends' usual keep-alive timeouts, so we rarely pick one the backend is about to close).
// A connection is handed out only after a non-blocking peek finds nothing to read: one the upstream
// closed, or on which it sent bytes nobody asked for (a framing doubt), is dropped instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/coarse_clock.hpp"
#include "loop/socket.hpp"

namespace sb::upstream {

class ConnectionPool {
 public:
  ConnectionPool(size_t max_idle, std::chrono::milliseconds idle_timeout)
      : max_idle_(max_idle), idle_timeout_(idle_timeout) {}

  std::optional<loop::Socket> take(uint64_t instance);
  void give(uint64_t instance, loop::Socket socket);
  // Closes connections idle for longer than the timeout, and those of instances not in `live`.
  void evict(const std::unordered_set<uint64_t>* live);
  void clear() { idle_.clear(); }
  size_t idle_count() const;

 private:
  struct Idle {
    loop::Socket socket;
    CoarseClock::time_point since;
  };
  size_t max_idle_;
  std::chrono::milliseconds idle_timeout_;
  std::unordered_map<uint64_t, std::vector<Idle>> idle_;
};

}  // namespace sb::upstream
