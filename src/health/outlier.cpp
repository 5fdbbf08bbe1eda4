#include "health/outlier.hpp"

#include <algorithm>

namespace sb::health {

namespace {

// Adds one to `counter` unless the rule is off; true when it reaches `threshold`.
bool count(std::atomic<uint32_t>& counter, uint32_t threshold) {
  if (threshold == 0) return false;
  if (counter.fetch_add(1, std::memory_order_relaxed) + 1 < threshold) return false;
  counter.store(0, std::memory_order_relaxed);
  return true;
}

void clear(std::atomic<uint32_t>& counter) {
  if (counter.load(std::memory_order_relaxed) != 0) counter.store(0, std::memory_order_relaxed);
}

}  // namespace

bool OutlierState::record(Outcome outcome, const config::OutlierConfig& policy) {
  switch (outcome) {
    case Outcome::kSuccess:
      clear(consecutive_5xx_);
      clear(consecutive_gateway_);
      return false;
    case Outcome::k5xx:
      clear(consecutive_gateway_);
      return count(consecutive_5xx_, policy.consecutive_5xx);
    case Outcome::kGatewayError: {
      const bool by_5xx = count(consecutive_5xx_, policy.consecutive_5xx);
      const bool by_gateway = count(consecutive_gateway_, policy.consecutive_gateway_errors);
      return by_5xx || by_gateway;
    }
  }
  return false;
}

std::chrono::milliseconds OutlierState::eject(Clock::time_point now,
                                              const config::OutlierConfig& policy) {
  const Clock::rep t = now.time_since_epoch().count();
  const Clock::rep base = Clock::duration(policy.base_ejection_time).count();
  const Clock::rep last_end = ejected_until_.load(std::memory_order_relaxed);
  int64_t earned = ejections_.load(std::memory_order_relaxed);
  if (last_end != 0 && t > last_end) earned -= (t - last_end) / base;  // time back heals
  const auto n = static_cast<uint32_t>(std::max<int64_t>(earned, 0) + 1);
  ejections_.store(n, std::memory_order_relaxed);
  ejections_total_.fetch_add(1, std::memory_order_relaxed);
  const auto length =
      std::min(policy.base_ejection_time * static_cast<int64_t>(n), policy.max_ejection_time);
  ejected_until_.store(t + Clock::duration(length).count(), std::memory_order_relaxed);
  out_.store(true, std::memory_order_relaxed);
  clear(consecutive_5xx_);
  clear(consecutive_gateway_);
  return length;
}

bool OutlierState::take_return(Clock::time_point now) {
  if (!out_.load(std::memory_order_relaxed) || ejected(now)) return false;
  return out_.exchange(false, std::memory_order_relaxed);
}

}  // namespace sb::health
