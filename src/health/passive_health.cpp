// nginx-style passive health of one instance (see passive_health.hpp).
#include "health/passive_health.hpp"

namespace sb::health {

bool PassiveHealth::record_failure(Clock::time_point now, const PassivePolicy& policy) {
  if (policy.max_fails == 0) return false;
  const Clock::rep t = now.time_since_epoch().count();
  const Clock::rep window = Clock::duration(policy.fail_timeout).count();
  uint32_t fails;
  if (t - window_start_.load(std::memory_order_relaxed) > window) {
    // The earlier failures are older than fail_timeout: this one starts a new window.
    window_start_.store(t, std::memory_order_relaxed);
    fails_.store(1, std::memory_order_relaxed);
    fails = 1;
  } else {
    fails = fails_.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  if (fails < policy.max_fails) return false;
  fails_.store(0, std::memory_order_relaxed);
  const bool was_up = !down(now);
  down_until_.store(t + window, std::memory_order_relaxed);
  if (was_up) out_.store(true, std::memory_order_relaxed);
  return was_up;
}

}  // namespace sb::health
