// Passive health of one upstream instance, nginx's max_fails / fail_timeout: `max_fails` failed
// attempts within `fail_timeout` mark the instance down for `fail_timeout`; a success clears the
// count. Shared by every worker (the instance object is), so the state is a few relaxed atomics:
// two workers failing at the same moment may both count, which only makes "down" come a request
// sooner, and no lock is taken on the request path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/coarse_clock.hpp"

namespace sb::health {

struct PassivePolicy {
  uint32_t max_fails = 1;  // 0 disables passive health (nginx: max_fails=0)
  std::chrono::milliseconds fail_timeout{10'000};
};

class PassiveHealth {
 public:
  // The coarse clock the deadlines use: a few ms of resolution is plenty against fail_timeout.
  using Clock = CoarseClock;

  // Any worker thread. Returns true when this failure marked the instance down (for a log line).
  bool record_failure(Clock::time_point now, const PassivePolicy& policy);
  // Any worker: true for exactly one caller once a down period has ended, or its mark was reset
  // (to log that the instance is back).
  bool take_return(Clock::time_point now) {
    if (!out_.load(std::memory_order_relaxed) || down(now)) return false;
    return out_.exchange(false, std::memory_order_relaxed);
  }
  // Any worker thread: a response came back (whatever its status, unless it counts as failure).
  void record_success() {
    if (fails_.load(std::memory_order_relaxed) != 0) fails_.store(0, std::memory_order_relaxed);
  }
  bool down(Clock::time_point now) const {
    return now.time_since_epoch().count() < down_until_.load(std::memory_order_relaxed);
  }
  // When all of a service's instances are down they are all tried again (nginx): this clears
  // the mark so the next success or failure decides afresh.
  void reset() {
    down_until_.store(0, std::memory_order_relaxed);
    fails_.store(0, std::memory_order_relaxed);
  }
  uint32_t fails() const { return fails_.load(std::memory_order_relaxed); }
  // When the last down period ends or ended (0: never down).
  Clock::rep down_until() const { return down_until_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t> fails_{0};
  std::atomic<Clock::rep> window_start_{0};  // the first failure of the current window
  std::atomic<Clock::rep> down_until_{0};
  std::atomic<bool> out_{false};  // marked down and its return not yet logged
};

}  // namespace sb::health
