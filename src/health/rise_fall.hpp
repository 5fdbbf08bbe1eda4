// The up/down state of one instance under active checks (HAProxy's rise/fall): `fall` failed
// checks in a row take it down, `rise` passed checks in a row bring it back. An instance starts
// up, so one that has not been checked yet takes traffic (as a new nginx server does).
#pragma once

#include <cstdint>

namespace sb::health {

class RiseFall {
 public:
  enum class Change { kNone, kWentDown, kCameUp };

  Change record(bool passed, uint32_t rise, uint32_t fall) {
    if (passed != down_) {  // the result agrees with the state: nothing builds up
      streak_ = 0;
      return Change::kNone;
    }
    if (++streak_ < (down_ ? rise : fall)) return Change::kNone;
    down_ = !down_;
    streak_ = 0;
    return down_ ? Change::kWentDown : Change::kCameUp;
  }
  bool down() const { return down_; }
  uint32_t streak() const { return streak_; }  // results in a row against the current state

 private:
  bool down_ = false;
  uint32_t streak_ = 0;
};

}  // namespace sb::health
