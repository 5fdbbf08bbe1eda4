// Peak-EWMA: power of two choices over latency x load, as Finagle's PeakEwma balancer and
// Linkerd's (tower's PeakEwma) do it. Each instance keeps one latency estimate shared by all
// workers: a response head slower than the estimate replaces it at once (peak), a faster one moves
// it by an exponentially weighted average whose weight grows with the time since the last sample
// (decay 10 s); between samples a pick sees it decay toward zero, so an instance that was slow once
// is tried again. An unmeasured instance starts at a "slow-ish" 30 ms (Linkerd's default RTT), so
// newcomers are not flooded before they have shown their speed; its first response replaces the
// default. Two weighted draws; the lower estimate x (active requests + 1) / weight wins.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "balance/balancer.hpp"
#include "balance/weighted_sampler.hpp"

namespace sb::balance {

inline constexpr std::chrono::nanoseconds kEwmaDecay = std::chrono::seconds(10);
inline constexpr std::chrono::nanoseconds kEwmaUnmeasured = std::chrono::milliseconds(30);

// Any thread, lock-free (one CAS loop on the instance's packed word): one response-head latency
// measured at `now_ns` (Clock::now_ns scale).
void record_latency(upstream::Instance& instance, int64_t latency_ns, int64_t now_ns);
// The estimate a pick at `now_ns` sees, in nanoseconds; kEwmaUnmeasured before any sample.
double latency_estimate_ns(const upstream::Instance& instance, int64_t now_ns);

class Ewma final : public Balancer {
 public:
  explicit Ewma(InstanceList instances, const Options& options = {});
  size_t pick(const PickContext& context) override;

 private:
  double cost(size_t index, int64_t now_ns) const;

  std::vector<const upstream::Instance*> instances_;
  WeightedSampler sampler_;
  OwnedRandom random_;
  const Clock& clock_;
};

}  // namespace sb::balance
