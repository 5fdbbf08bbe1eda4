// One proxy worker's event loop: an io_uring of its own, the Tasks that wait on it, its timers, and
// a queue for work posted from other threads. Everything but post() and stop() runs on the loop's
// thread.
//
// Why not Asio: with Asio on the same io_uring the proxy spent 17.8 us of CPU per request; a
// minimal forwarder on a ring of its own spent 12.2 us, and less than a quarter of the gap was
// user time (BENCHMARKS.md, "Where the time goes"). What this loop does differently:
//   - the ring is SINGLE_ISSUER | DEFER_TASKRUN: the kernel completes operations only when this
//     thread enters it to wait, in one batch, instead of interrupting whichever task is running;
//   - every submission of a loop turn goes to the kernel in the one io_uring_enter that also
//     waits, and completions are taken in batches;
//   - a completion resumes its coroutine directly (no handler queue, no executor dispatch);
//   - a long-lived socket receives through one multishot receive into provided buffers
//     (loop/receiver.hpp), where each receive armed and disarmed a readiness wait.
#pragma once

#include <liburing.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "loop/provided_buffers.hpp"
#include "loop/receiver.hpp"
#include "loop/task.hpp"

namespace sb::loop {

// One submitted operation, owned by the awaiter of the coroutine that waits for it. Its address is
// the submission's user_data.
struct Operation {
  std::coroutine_handle<> waiter;
  int32_t result = 0;
  uint32_t flags = 0;
};

class Timer;

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;

  // Creates the ring (disabled until run() enables it on the loop's thread, which then becomes its
  // only submitter). Throws std::system_error when the kernel refuses every flag combination.
  // `provided_buffers`: how many the multishot receives share (a power of two; tests use few).
  explicit EventLoop(unsigned entries = 4096, unsigned provided_buffers = 256);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // The loop's thread: calls `start` (which spawns the first Tasks), then runs until stop(), then
  // shuts down.
  void run(const std::function<void()>& start);

  // The pieces of run(), for tests that drive a loop on their own thread. enable() makes the
  // calling thread the ring's submitter (idempotent); run_once() is one turn: submit, wait for a
  // completion or a timer (at most `max_wait`, if given), handle what came. shutdown() cancels
  // every operation still in the kernel, waits for them, and destroys the Tasks still suspended,
  // so none outlives the loop and no buffer is written after (idempotent; the destructor calls it
  // too).
  void enable();
  void run_once(std::optional<Clock::duration> max_wait = std::nullopt);
  void shutdown();

  // Any thread.
  void post(std::function<void()> work);
  void stop();

  // The loop's thread, below.
  RootList& roots() { return roots_; }
  void spawn(Task<void> task) { loop::spawn(roots_, std::move(task)); }

  // A submission queue entry for an operation; the caller fills it in and calls submit_later.
  // When the queue is full its entries go to the kernel first.
  io_uring_sqe* next_sqe();
  void track(io_uring_sqe* sqe, Operation* operation) {
    io_uring_sqe_set_data(sqe, operation);
    ++in_flight_;
  }
  // Cancels every operation on `fd` now (they complete with -ECANCELED); the fd must still be
  // open, so this goes to the kernel at once rather than with the turn's batch. `fixed`: `fd` is
  // a slot of the ring's file table.
  void cancel_fd(int fd, bool fixed = false);
  // The ring's table of registered files: an operation on a registered socket skips the kernel's
  // lookup and reference count of the file (+2.4 % requests per CPU-second on keep-alive
  // connections, bench/ab_compare.py). install() returns the slot, or -1 (table full or absent:
  // the descriptor is used); uninstall() frees it before the descriptor is closed. Each is one
  // io_uring_register call.
  int install(int fd);
  void uninstall(int slot);

  // Multishot receives of sockets in the file table (loop/receiver.hpp), and the provided
  // buffers they fill. Without buffer rings or a file table, no socket streams and every receive
  // is a plain one.
  Receiver* receiver(int slot) {
    return slot >= 0 && !receivers_.empty() ? &receivers_[slot] : nullptr;
  }
  ProvidedBuffers& buffers() { return buffers_; }
  bool multishot_receives() const { return multishot_receives_; }
  void disable_multishot_receives() { multishot_receives_ = false; }
  uint64_t receive_data(int slot) const {
    return kReceiveTag | (uint64_t{receivers_[slot].generation()} << 32) |
           static_cast<uint32_t>(slot);
  }
  // An operation submitted without an Operation of its own (a multishot receive).
  void count_submitted() { ++in_flight_; }
  // Resumes `handle` in this turn, after the completions being handled (not from inside the
  // caller: what the caller is doing must not be re-entered).
  void schedule(std::coroutine_handle<> handle) { ready_.push_back(handle); }
  bool closing() const { return closing_; }
  // The time this turn's completions were taken from the ring: when what they report arrived,
  // to within the kernel's batching. One clock read per turn serves every latency figure of it.
  Clock::time_point now() const { return now_; }
  size_t in_flight() const { return in_flight_; }
  // Loop turns (each one io_uring_enter) and completions handled since start.
  uint64_t turns() const { return turns_; }
  uint64_t completions() const { return completions_; }

 private:
  friend class Timer;
  void arm_wakeup();
  void run_posted();
  void run_ready();
  void fire_timers(Clock::time_point now);
  void handle(uint64_t user_data, int32_t result, uint32_t flags);
  void handle_receive(uint64_t user_data, int32_t result, uint32_t flags);

  // A multishot receive's user_data: this bit (never set in a user-space pointer), the
  // Receiver's generation (completions of a slot's earlier socket are told apart) and the slot.
  static constexpr uint64_t kReceiveTag = uint64_t{1} << 63;
  unsigned provided_buffers_;
  ProvidedBuffers buffers_;
  std::vector<Receiver> receivers_;
  bool multishot_receives_ = false;

  io_uring ring_{};
  int wakeup_fd_ = -1;
  uint64_t wakeup_value_ = 0;
  Operation wakeup_op_;
  size_t in_flight_ = 0;
  bool enabled_ = false;
  bool files_ = false;
  std::vector<int> free_slots_;
  bool closing_ = false;
  uint64_t turns_ = 0;
  Clock::time_point now_ = Clock::now();
  uint64_t completions_ = 0;
  RootList roots_;
  std::vector<std::coroutine_handle<>> ready_;
  std::vector<std::coroutine_handle<>> running_;
  std::multimap<Clock::time_point, Timer*> timers_;

  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  std::atomic<bool> stop_{false};
};

// A cancellable wait on the loop's clock. One wait at a time; destroying the Timer (or its
// coroutine) while it waits withdraws the wait.
class Timer {
 public:
  explicit Timer(EventLoop& loop) : loop_(&loop) {}
  ~Timer() { withdraw(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  struct Awaiter {
    Timer& timer;
    EventLoop::Clock::time_point at;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> waiter) {
      timer.waiter_ = waiter;
      timer.fired_ = false;
      timer.position_ = timer.loop_->timers_.emplace(at, &timer);
      timer.waiting_ = true;
    }
    // True when the time came, false when cancel() cut the wait short.
    bool await_resume() noexcept { return timer.fired_; }
  };
  Awaiter wait_until(EventLoop::Clock::time_point at) { return {*this, at}; }
  Awaiter wait_for(EventLoop::Clock::duration d) { return {*this, EventLoop::Clock::now() + d}; }
  // Ends the wait now (the waiter resumes in this loop turn with false); no-op when not waiting.
  void cancel() {
    if (!waiting_) return;
    withdraw();
    loop_->schedule(waiter_);
  }
  bool waiting() const { return waiting_; }

 private:
  friend class EventLoop;
  void withdraw() {
    if (!waiting_) return;
    loop_->timers_.erase(position_);
    waiting_ = false;
  }

  EventLoop* loop_;
  std::coroutine_handle<> waiter_;
  std::multimap<EventLoop::Clock::time_point, Timer*>::iterator position_;
  bool waiting_ = false;
  bool fired_ = false;
};

}  // namespace sb::loop
