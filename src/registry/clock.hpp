// The registry's notion of time, injected so tests script it: SystemClock in the server,
// ManualClock in tests (time moves only when the test advances it).
#pragma once

#include <chrono>

namespace sb::registry {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point now() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::now();
  }
};

// Starts at `start` (by default the steady clock's epoch) and stands still until advanced.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::steady_clock::time_point start = {}) : now_(start) {}

  std::chrono::steady_clock::time_point now() const override { return now_; }
  void advance(std::chrono::steady_clock::duration d) { now_ += d; }
  void set(std::chrono::steady_clock::time_point t) { now_ = t; }

 private:
  std::chrono::steady_clock::time_point now_;
};

}  // namespace sb::registry
