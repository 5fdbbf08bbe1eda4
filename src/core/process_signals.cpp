#include "core/process_signals.hpp"

#include <pthread.h>

#include <cerrno>
#include <csignal>
#include <ctime>

namespace sb {

namespace {

sigset_t process_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void block_process_signals() {
  const sigset_t set = process_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A shell starts a background job (`switchboard serve &` in a script) with SIGINT ignored, and
  // nohup ignores SIGHUP. POSIX leaves open whether a blocked signal that is ignored is kept for
  // sigwait or discarded (Linux keeps it), so they get their default action back, which a blocked
  // signal never takes; Asio's handlers replaced an ignored action the same way.
  for (const int number : {SIGINT, SIGTERM, SIGHUP}) std::signal(number, SIG_DFL);
}

int wait_for_process_signal(std::optional<std::chrono::milliseconds> timeout) {
  const sigset_t set = process_signals();
  const auto deadline = std::chrono::steady_clock::now() + timeout.value_or(std::chrono::hours(0));
  for (;;) {
    int number = 0;
    if (!timeout) {
      number = sigwaitinfo(&set, nullptr);
    } else {
      const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return 0;
      const timespec wait{static_cast<time_t>(left.count() / 1'000'000'000),
                          static_cast<long>(left.count() % 1'000'000'000)};
      number = sigtimedwait(&set, nullptr, &wait);
    }
    if (number > 0) return number;
    if (errno == EAGAIN) return 0;  // the time ran out
    // EINTR: another signal (one not in the set) interrupted the wait; wait on.
  }
}

}  // namespace sb
