// Outlier detection of one upstream instance (Envoy's): consecutive 5xx and consecutive gateway
// errors, and the ejection they lead to. Shared by every worker (the Instance is), so the state
// is relaxed atomics, like passive_health.hpp: two workers counting at once may eject a request
// sooner, never lose an ejection. Whether an ejection may happen at all (max_ejection_percent)
// is the service's call: see health::consider_ejection.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "config/config.hpp"
#include "core/coarse_clock.hpp"

namespace sb::health {

enum class Outcome {
  kSuccess,       // any response below 500
  k5xx,           // 500, 501, 505, ...
  kGatewayError,  // 502, 503, 504, or no response at all (refused, reset, timed out): both rules
};

class OutlierState {
 public:
  using Clock = CoarseClock;

  // Any worker. True when this outcome reached a threshold of `policy` (the counts start over).
  bool record(Outcome outcome, const config::OutlierConfig& policy);
  // Ejects the instance from now on for base × n (n: its ejections, less one per base time it
  // stayed back since the last one, as Envoy decrements the multiplier while a host is healthy),
  // capped at max_ejection_time. Returns how long.
  std::chrono::milliseconds eject(Clock::time_point now, const config::OutlierConfig& policy);
  bool ejected(Clock::time_point now) const {
    return now.time_since_epoch().count() < ejected_until_.load(std::memory_order_relaxed);
  }
  // Any worker: true for exactly one caller once an ejection has ended (to log the return).
  bool take_return(Clock::time_point now);
  // The multiplier of the next ejection's length (drops while the instance stays back).
  uint32_t ejections() const { return ejections_.load(std::memory_order_relaxed); }
  // Every ejection since start (a counter; eject() is rare, so one shared atomic does).
  uint64_t ejections_total() const { return ejections_total_.load(std::memory_order_relaxed); }
  // When the last ejection ends or ended (0: never ejected); slow start ramps from there.
  Clock::rep ejected_until() const { return ejected_until_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t> consecutive_5xx_{0};
  std::atomic<uint32_t> consecutive_gateway_{0};
  std::atomic<uint32_t> ejections_{0};
  std::atomic<uint64_t> ejections_total_{0};
  std::atomic<Clock::rep> ejected_until_{0};
  std::atomic<bool> out_{false};  // ejected and its return not yet logged
};

}  // namespace sb::health
