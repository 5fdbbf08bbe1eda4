// Test helper for code on a loop::EventLoop: turns the loop until a condition holds, with an
// upper bound (tests poll; nothing sleeps).
#pragma once

#include <chrono>

#include "loop/event_loop.hpp"

namespace sb::testing_support {

// Turns `loop` until `done()` holds; false if `limit` passed first.
template <typename Done>
bool run_until(loop::EventLoop& loop, Done done,
               std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    loop.run_once(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace sb::testing_support
