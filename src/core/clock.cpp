// The shared MonotonicClock instance.
#include "core/clock.hpp"

namespace sb {

const Clock& monotonic_clock() {
  static const MonotonicClock clock;
  return clock;
}

}  // namespace sb
