// Parked blocking queries (GET /v1/services...?index=N&wait=...): each waits on its own timer,
// set to its deadline; a change of the service it watches cancels the timer early, so the query
// wakes within the same loop turn as the change that moved the index.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <map>
#include <string>
#include <string_view>

#include "core/io.hpp"

namespace sb::admin {

using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Executor>;

// Runs on the registry's thread, like everything that touches the registry.
class BlockingQueries {
 public:
  // While a Parked lives, a wake() of its service (or any wake(), for the empty service name of
  // GET /v1/services) cancels its timer.
  class Parked {
   public:
    Parked(BlockingQueries& queries, std::string service, Timer& timer);
    ~Parked();
    Parked(const Parked&) = delete;
    Parked& operator=(const Parked&) = delete;

   private:
    BlockingQueries& queries_;
    std::multimap<std::string, Timer*, std::less<>>::iterator entry_;
  };

  // The registry changed `service`: wakes its watchers and those of the whole registry.
  void wake(std::string_view service);
  // Shutdown: wakes everyone; they answer at once with what they have.
  void wake_all();
  size_t parked() const { return timers_.size(); }

 private:
  static void cancel(Timer& timer) { timer.cancel(); }

  std::multimap<std::string, Timer*, std::less<>> timers_;
};

}  // namespace sb::admin
