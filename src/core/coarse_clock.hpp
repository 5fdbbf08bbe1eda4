// A cheap monotonic clock for timeouts and health windows: CLOCK_MONOTONIC_COARSE is a vDSO read
// with a resolution of a few milliseconds, where steady_clock costs a full clock read.
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>

namespace sb {

// A cheap monotonic clock (CLOCK_MONOTONIC_COARSE: a vDSO read, a few ms of resolution).
struct CoarseClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<CoarseClock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return time_point(duration(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec));
  }
};

}  // namespace sb
