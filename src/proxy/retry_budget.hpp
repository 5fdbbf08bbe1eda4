// Envoy's retry budget for one service: retries in flight at once stay under a share of the
// service's active requests (default 20 %), with a floor (default 3) so a quiet service can still
// retry. When every instance fails, each request would otherwise multiply into `tries` attempts
// and the failing service would get several times its normal load just when it can least take it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

#include "core/counter.hpp"

namespace sb::proxy {

class RetryBudget {
 public:
  explicit RetryBudget(unsigned workers)
      : active_(std::make_unique<Slot[]>(workers)), workers_(workers) {}

  // Worker `worker` only: a request of the service starts or ends. Per-worker counters, so the
  // request path takes no shared cache line; only a retry sums them.
  void request_started(unsigned worker) { active_[worker].count.add(); }
  void request_ended(unsigned worker) { active_[worker].count.sub(); }

  // Any worker: whether one more request may go into retry now; true takes a place that
  // release() gives back.
  bool try_acquire(uint32_t percent, uint32_t min_concurrent) {
    uint64_t active = 0;
    for (unsigned w = 0; w < workers_; ++w) active += active_[w].count.get();
    const int64_t allowed =
        std::max<int64_t>(min_concurrent, static_cast<int64_t>(active * percent / 100));
    int64_t current = retries_.load(std::memory_order_relaxed);
    do {
      if (current >= allowed) return false;
    } while (!retries_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    return true;
  }
  void release() { retries_.fetch_sub(1, std::memory_order_relaxed); }
  int64_t retries_in_flight() const { return retries_.load(std::memory_order_relaxed); }

 private:
  struct alignas(64) Slot {
    SingleWriterCounter count;
  };
  std::unique_ptr<Slot[]> active_;
  unsigned workers_;
  alignas(64) std::atomic<int64_t> retries_{0};
};

// A request of a service, counted by its budget for as long as it lives; holds the request's
// place among the retries once it has one. Single thread: the session's worker.
class BudgetedRequest {
 public:
  BudgetedRequest(RetryBudget& budget, unsigned worker) : budget_(budget), worker_(worker) {
    budget_.request_started(worker_);
  }
  ~BudgetedRequest() {
    if (retrying_) budget_.release();
    budget_.request_ended(worker_);
  }
  BudgetedRequest(const BudgetedRequest&) = delete;
  BudgetedRequest& operator=(const BudgetedRequest&) = delete;

  // A request keeps its place for all its retries: the budget bounds requests in retry.
  bool allow_retry(uint32_t percent, uint32_t min_concurrent) {
    if (!retrying_) retrying_ = budget_.try_acquire(percent, min_concurrent);
    return retrying_;
  }

 private:
  RetryBudget& budget_;
  unsigned worker_;
  bool retrying_ = false;
};

}  // namespace sb::proxy
