// Idle keep-alive connections to upstream instances, per worker thread (so no locking): the most
// recently used first, at most `max_idle` per instance, closed after `idle_timeout` unused (shorter
// than backends' usual keep-alive timeouts, so we rarely pick one the backend is about to close).
// A connection is handed out only if nothing arrived on it while it was idle: one the upstream
// closed, or on which it sent bytes nobody asked for (a framing doubt), is dropped instead. Its
// multishot receive (loop/receiver.hpp) tells without a syscall; a connection without one is
// checked with a non-blocking peek.
// The pool keeps the instance's connection gauges of this worker (InstanceCounters::connections
// and idle_connections) right as connections come, go back out and are closed here.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/coarse_clock.hpp"
#include "loop/socket.hpp"
#include "upstream/instance.hpp"

namespace sb::upstream {

class ConnectionPool {
 public:
  ConnectionPool(size_t max_idle, std::chrono::milliseconds idle_timeout)
      : max_idle_(max_idle), idle_timeout_(idle_timeout) {}

  std::optional<loop::Socket> take(uint64_t instance);
  // `counters`: this worker's counters of the instance, which must live as long as the instance
  // is in `shown` at every evict() (the snapshot holds it).
  void give(uint64_t instance, InstanceCounters& counters, loop::Socket socket);
  // Closes connections idle for longer than the timeout, and those of instances not in `live`.
  // `shown`: the instances whose counters still count (every instance of the snapshot, routed or
  // held back); a connection of any other instance is closed without touching its counters,
  // which may be gone. Null: every instance is live and shown.
  void evict(const std::unordered_set<uint64_t>* live, const std::unordered_set<uint64_t>* shown);
  // At teardown: closes everything, counters untouched.
  void clear() { idle_.clear(); }
  size_t idle_count() const;

 private:
  struct Idle {
    loop::Socket socket;
    CoarseClock::time_point since;
  };
  struct PerInstance {
    InstanceCounters* counters = nullptr;
    std::vector<Idle> idle;
  };
  size_t max_idle_;
  std::chrono::milliseconds idle_timeout_;
  std::unordered_map<uint64_t, PerInstance> idle_;
};

}  // namespace sb::upstream
