// What the workers counted for one service: requests routed to it, and the responses the proxy
// made itself for them (no instance, every attempt failed, timeouts, a bad body), by status class.
// Owned by the snapshot builder's entry for the service, so the figures survive the rebuilds a
// registry change or a reload makes of its Service; single-writer counters per worker, summed
// at scrape time.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "core/counter.hpp"

namespace sb::proxy {

struct alignas(64) ServiceWorkerCounters {
  SingleWriterCounter requests;
  std::array<SingleWriterCounter, 5> local_responses;  // 1xx..5xx
};

class ServiceCounters {
 public:
  explicit ServiceCounters(unsigned workers)
      : workers_(workers), counters_(std::make_unique<ServiceWorkerCounters[]>(workers)) {}

  // Worker thread `worker` only.
  ServiceWorkerCounters& worker(unsigned worker) { return counters_[worker]; }

  // Any thread.
  uint64_t requests() const {
    uint64_t sum = 0;
    for (unsigned w = 0; w < workers_; ++w) sum += counters_[w].requests.get();
    return sum;
  }
  uint64_t local_responses(int status_class) const {  // 1..5
    uint64_t sum = 0;
    for (unsigned w = 0; w < workers_; ++w) {
      sum += counters_[w].local_responses[status_class - 1].get();
    }
    return sum;
  }

 private:
  unsigned workers_;
  std::unique_ptr<ServiceWorkerCounters[]> counters_;
};

}  // namespace sb::proxy
