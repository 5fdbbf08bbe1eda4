// Time for code whose behaviour depends on it (EWMA decay): an interface tests can script
// (DESIGN rule 5), over the monotonic clock in production.
#pragma once

#include <chrono>
#include <cstdint>

namespace sb {

class Clock {
 public:
  virtual ~Clock() = default;
  // Nanoseconds on a monotonic scale; only differences mean anything.
  virtual int64_t now_ns() const = 0;
};

// std::chrono::steady_clock (CLOCK_MONOTONIC, a vDSO read), the clock the proxy times requests by.
class MonotonicClock final : public Clock {
 public:
  int64_t now_ns() const override { return to_ns(std::chrono::steady_clock::now()); }
  static int64_t to_ns(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }
};

// The process's one monotonic clock (stateless, shared by every thread).
const Clock& monotonic_clock();

}  // namespace sb
