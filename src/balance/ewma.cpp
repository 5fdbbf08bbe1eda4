// Peak-EWMA estimates and the P2C pick over them (see ewma.hpp).
//
// The estimate lives in one 64-bit word per instance, so an update is a single CAS and a reader
// never sees a latency from one sample with the time of another: the high 32 bits are the time of
// the last sample in milliseconds (wrapping every 49 days; differences are taken modulo 2^32),
// the low 32 bits the estimate as a float in nanoseconds, its sign bit set while the value is
// the unmeasured default (which the first sample replaces outright, where tower's PeakEwma would
// average it in and keep a fast newcomer "slow" for seconds). 0: not even a default yet. Unlike
// Finagle, a pick only reads (it decays the estimate on the fly instead of storing the decayed
// value), so picks on many workers do not all write the shared line.
#include "balance/ewma.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "balance/p2c.hpp"
#include "core/clock.hpp"

namespace sb::balance {

namespace {

constexpr double kDecayMs = std::chrono::duration<double, std::milli>(kEwmaDecay).count();
constexpr double kMinEstimateNs = 1.0;  // keeps a packed word non-zero

constexpr uint32_t kDefaultBit = 0x8000'0000;  // the float's sign bit; latencies are >= 0

struct Estimate {
  uint32_t stamp_ms = 0;
  double latency_ns = 0;
  bool measured = false;
};

uint32_t to_stamp(int64_t now_ns) {
  return static_cast<uint32_t>(static_cast<uint64_t>(now_ns / 1'000'000));
}

uint64_t pack(int64_t now_ns, double latency_ns, bool measured) {
  const auto value = static_cast<float>(std::max(latency_ns, kMinEstimateNs));
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  if (!measured) bits |= kDefaultBit;
  return (uint64_t{to_stamp(now_ns)} << 32) | bits;
}

Estimate unpack(uint64_t word) {
  const auto bits = static_cast<uint32_t>(word);
  const uint32_t magnitude = bits & ~kDefaultBit;
  float value = 0;
  std::memcpy(&value, &magnitude, sizeof value);
  return {static_cast<uint32_t>(word >> 32), static_cast<double>(value), (bits & kDefaultBit) == 0};
}

// exp(-elapsed / decay): how much of the old estimate is left after `elapsed`. A clock that went
// backwards (samples from several threads race) counts as no time passed.
double weight_left(uint32_t stamp_ms, int64_t now_ns) {
  const auto elapsed = static_cast<int32_t>(to_stamp(now_ns) - stamp_ms);
  if (elapsed <= 0) return 1.0;
  return std::exp(-static_cast<double>(elapsed) / kDecayMs);
}

}  // namespace

void record_latency(upstream::Instance& instance, int64_t latency_ns, int64_t now_ns) {
  std::atomic<uint64_t>& word = instance.latency_estimate();
  const auto sample = static_cast<double>(std::max<int64_t>(latency_ns, 0));
  uint64_t old = word.load(std::memory_order_relaxed);
  for (;;) {
    double next = sample;
    if (old != 0) {
      const Estimate e = unpack(old);
      if (e.measured && sample <= e.latency_ns) {  // otherwise a peak (or a first): taken as is
        const double w = weight_left(e.stamp_ms, now_ns);
        next = e.latency_ns * w + sample * (1.0 - w);
      }
    }
    if (word.compare_exchange_weak(old, pack(now_ns, next, true), std::memory_order_relaxed)) {
      return;
    }
  }
}

double latency_estimate_ns(const upstream::Instance& instance, int64_t now_ns) {
  const uint64_t word = instance.latency_estimate().load(std::memory_order_relaxed);
  if (word == 0) return static_cast<double>(kEwmaUnmeasured.count());
  const Estimate e = unpack(word);
  return e.latency_ns * weight_left(e.stamp_ms, now_ns);
}

Ewma::Ewma(InstanceList instances, const Options& options)
    : sampler_(instances),
      random_(options.random),
      clock_(options.clock ? *options.clock : monotonic_clock()) {
  instances_.reserve(instances.size());
  const int64_t now = clock_.now_ns();
  for (const auto& instance : instances) {
    instances_.push_back(instance.get());
    // An unmeasured instance starts at the default from now on, and decays like a measured one
    // (tower's PeakEwma does the same), so one that never wins a pick is still tried eventually.
    uint64_t unmeasured = 0;
    instance->latency_estimate().compare_exchange_strong(
        unmeasured, pack(now, static_cast<double>(kEwmaUnmeasured.count()), false),
        std::memory_order_relaxed);
  }
}

double Ewma::cost(size_t index, int64_t now_ns) const {
  const upstream::Instance& instance = *instances_[index];
  return latency_estimate_ns(instance, now_ns) *
         static_cast<double>(instance.active_requests() + 1) /
         static_cast<double>(sampler_.weight(index));
}

size_t Ewma::pick(const PickContext& context) {
  const TwoChoices choices = draw_two(sampler_, random_.get(), context);
  if (choices.second == kNoInstance) return choices.first;
  const int64_t now = clock_.now_ns();
  return cost(choices.first, now) < cost(choices.second, now) ? choices.first : choices.second;
}

}  // namespace sb::balance
