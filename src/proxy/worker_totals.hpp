// The workers' single-writer counters added up, for /lb-status and /metrics (any thread).
#pragma once

#include <array>
#include <cstdint>

#include "proxy/server.hpp"

namespace sb::proxy {

struct WorkerTotals {
  uint64_t accepted = 0, handled = 0, requests = 0, active = 0, reading = 0, writing = 0,
           tunnels = 0, retries = 0, retries_over_budget = 0;
  std::array<uint64_t, 5> local_responses{};  // 1xx..5xx
};

inline WorkerTotals sum_workers(const Server& server) {
  WorkerTotals t;
  for (unsigned i = 0; i < server.worker_count(); ++i) {
    const WorkerStats& s = server.worker(i).stats();
    t.accepted += s.accepted.get();
    t.handled += s.handled.get();
    t.requests += s.requests.get();
    t.active += s.active.get();
    t.reading += s.reading.get();
    t.writing += s.writing.get();
    t.tunnels += s.tunnels.get();
    t.retries += s.retries.get();
    t.retries_over_budget += s.retries_over_budget.get();
    for (size_t c = 0; c < t.local_responses.size(); ++c) {
      t.local_responses[c] += s.local_responses[c].get();
    }
  }
  return t;
}

}  // namespace sb::proxy
