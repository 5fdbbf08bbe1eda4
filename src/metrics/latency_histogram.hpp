// A latency histogram one worker writes and a scrape reads: fixed buckets (Prometheus's default
// layout stretched down to 0.5 ms, where a proxy's upstream answers land), each a single-writer
// counter, plus the sum. Workers record into their own copy; /metrics adds them up.
#pragma once

#include <array>
#include <cstdint>

#include "core/counter.hpp"

namespace sb::metrics {

struct LatencyHistogram {
  // Upper bounds in microseconds; one more bucket for +Inf.
  static constexpr std::array<int64_t, 14> kBoundsUs{
      500,     1'000,   2'500,   5'000,     10'000,    25'000,    50'000,
      100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000};

  std::array<SingleWriterCounter, kBoundsUs.size() + 1> counts;  // per bucket, not cumulative
  SingleWriterCounter sum_us;

  void record(int64_t micros) {
    size_t bucket = 0;
    while (bucket < kBoundsUs.size() && micros > kBoundsUs[bucket]) ++bucket;
    counts[bucket].add();
    sum_us.add(static_cast<uint64_t>(micros < 0 ? 0 : micros));
  }
};

// What a scrape sums over the workers.
struct LatencyTotals {
  std::array<uint64_t, LatencyHistogram::kBoundsUs.size() + 1> counts{};
  uint64_t sum_us = 0;

  void add(const LatencyHistogram& h) {
    for (size_t i = 0; i < counts.size(); ++i) counts[i] += h.counts[i].get();
    sum_us += h.sum_us.get();
  }
  uint64_t count() const {
    uint64_t n = 0;
    for (const uint64_t c : counts) n += c;
    return n;
  }
  // The upper bound (us) of the bucket holding quantile q (0-1): coarse, as bucket bounds are;
  // 0 without samples; the last bound for the +Inf bucket.
  int64_t quantile_us(double q) const {
    const uint64_t n = count();
    if (n == 0) return 0;
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(n - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < LatencyHistogram::kBoundsUs.size(); ++i) {
      seen += counts[i];
      if (seen >= rank) return LatencyHistogram::kBoundsUs[i];
    }
    return LatencyHistogram::kBoundsUs.back();
  }
};

}  // namespace sb::metrics
