// Unit tests of src/balance/ewma: peak-EWMA latency estimates (shared, lock-free) and the P2C pick
// over latency x (active + 1), with scripted time and draws.
#include "balance/ewma.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <thread>

#include "balance_test_support.hpp"

namespace sb {
namespace {

using balance_test::equal_instances;
using balance_test::ManualClock;
using balance_test::picks;
using balance_test::ScriptedRandom;
using balance_test::set_active;
using namespace std::chrono_literals;

int64_t ns(std::chrono::nanoseconds d) {
  return d.count();
}

double ms(double nanoseconds) {
  return nanoseconds / 1e6;
}

TEST(PeakEwma, UnmeasuredIsSlowish) {
  const auto list = equal_instances(1);
  EXPECT_DOUBLE_EQ(balance::latency_estimate_ns(*list[0], 0), 30e6);
}

TEST(PeakEwma, PeaksAtOnceAndDecaysTowardSamples) {
  const auto list = equal_instances(1);
  ManualClock clock;
  upstream::Instance& instance = *list[0];
  balance::record_latency(instance, ns(10ms), clock.now_ns());
  EXPECT_NEAR(ms(balance::latency_estimate_ns(instance, clock.now_ns())), 10.0, 0.001);
  // Slower: taken as is, at once.
  clock.advance(1ms);
  balance::record_latency(instance, ns(100ms), clock.now_ns());
  EXPECT_NEAR(ms(balance::latency_estimate_ns(instance, clock.now_ns())), 100.0, 0.01);
  // Faster, 10 s (one decay constant) later: e^-1 of the old estimate is left.
  clock.advance(10s);
  balance::record_latency(instance, ns(1ms), clock.now_ns());
  const double expected = 100.0 * std::exp(-1.0) + 1.0 * (1 - std::exp(-1.0));
  EXPECT_NEAR(ms(balance::latency_estimate_ns(instance, clock.now_ns())), expected, 0.01);
  // Faster right after: barely moves (the average weighs by time, not by sample count).
  balance::record_latency(instance, ns(1ms), clock.now_ns());
  EXPECT_NEAR(ms(balance::latency_estimate_ns(instance, clock.now_ns())), expected, 0.01);
}

TEST(PeakEwma, EstimateFadesWithoutSamples) {
  const auto list = equal_instances(1);
  ManualClock clock;
  balance::record_latency(*list[0], ns(50ms), clock.now_ns());
  clock.advance(20s);
  EXPECT_NEAR(ms(balance::latency_estimate_ns(*list[0], clock.now_ns())), 50.0 * std::exp(-2.0),
              0.01);
}

TEST(Ewma, PrefersTheFasterOfTwo) {
  const auto list = equal_instances(2);
  ManualClock clock;
  ScriptedRandom random{0, 1, 1, 0};
  balance::Options options;
  options.random = &random;
  options.clock = &clock;
  balance::Ewma ewma(list, options);
  balance::record_latency(*list[0], ns(2ms), clock.now_ns());
  balance::record_latency(*list[1], ns(40ms), clock.now_ns());
  EXPECT_EQ(picks(ewma, 2), "aa");  // whichever is drawn first
}

TEST(Ewma, LoadMultipliesLatency) {
  const auto list = equal_instances(2);
  ManualClock clock;
  ScriptedRandom random{0, 1, 0, 1};
  balance::Options options;
  options.random = &random;
  options.clock = &clock;
  balance::Ewma ewma(list, options);
  balance::record_latency(*list[0], ns(2ms), clock.now_ns());
  balance::record_latency(*list[1], ns(10ms), clock.now_ns());
  set_active(*list[0], 4);  // 2 ms x 5 = 10 ms: a tie, the second draw wins
  EXPECT_EQ(picks(ewma, 1), "b");
  set_active(*list[0], 3);  // 2 ms x 4 = 8 ms against 10 ms
  EXPECT_EQ(picks(ewma, 1), "a");
}

TEST(Ewma, NewcomerIsNotFloodedButIsTriedLater) {
  const auto list = equal_instances(2);
  ManualClock clock;
  ScriptedRandom random{1, 0, 1, 0};
  balance::Options options;
  options.random = &random;
  options.clock = &clock;
  balance::record_latency(*list[0], ns(1ms), clock.now_ns());
  balance::Ewma ewma(list, options);  // b is new: it starts at 30 ms
  EXPECT_EQ(picks(ewma, 1), "a");
  // a stays busy; a minute without a sample decays b's default (30 ms x e^-6 = 0.07 ms).
  set_active(*list[0], 2);
  clock.advance(60s);
  balance::record_latency(*list[0], ns(1ms), clock.now_ns());
  EXPECT_EQ(picks(ewma, 1), "b");
}

TEST(Ewma, ExcludedNeverPicked) {
  const auto list = equal_instances(3);
  balance::Ewma ewma(list);
  balance::record_latency(*list[0], 1000, monotonic_clock().now_ns());  // the fastest, excluded
  const std::array<bool, 3> exclude_a{true, false, false};
  for (const char c : picks(ewma, 50, exclude_a)) EXPECT_NE(c, 'a');
  const std::array<bool, 3> all{true, true, true};
  EXPECT_EQ(picks(ewma, 2, all), "--");
}

TEST(PeakEwma, ConcurrentSamplesKeepAValidEstimate) {
  const auto list = equal_instances(1);
  std::array<std::thread, 4> threads;
  for (size_t t = 0; t < threads.size(); ++t) {
    threads[t] = std::thread([&, t] {
      for (int i = 0; i < 20'000; ++i) {
        balance::record_latency(*list[0], ns(1ms) * static_cast<int64_t>(t + 1),
                                monotonic_clock().now_ns());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double estimate = balance::latency_estimate_ns(*list[0], monotonic_clock().now_ns());
  EXPECT_GE(ms(estimate), 0.9);
  EXPECT_LE(ms(estimate), 4.01);
}

}  // namespace
}  // namespace sb
