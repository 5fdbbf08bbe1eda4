// Coarse per-worker timeouts. Each connection owns one Deadline that it arms before every wait; one
// periodic sweep per worker fires the expired ones. Arming is two stores, where an Asio timer per
// wait would cost timer-queue work and, when the earliest timer moves, a timerfd syscall per
// request. Resolution is the sweep period (100 ms), ample for timeouts measured in seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "core/coarse_clock.hpp"
#include "loop/event_loop.hpp"

namespace sb {

class DeadlineSweeper;

class Deadline {
 public:
  using OnExpire = void (*)(void* context);
  Deadline(DeadlineSweeper& sweeper, OnExpire on_expire, void* context);
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  ~Deadline();

  void arm(std::chrono::milliseconds timeout) {
    at_ = CoarseClock::now() + timeout;
    expired_ = false;
  }
  void disarm() { at_ = CoarseClock::time_point::max(); }
  bool expired() const { return expired_; }
  // An idle connection (keep-alive wait) may be closed at once when the worker drains.
  void set_idle(bool idle) { idle_ = idle; }

 private:
  friend class DeadlineSweeper;
  CoarseClock::time_point at_ = CoarseClock::time_point::max();
  bool expired_ = false;
  bool idle_ = false;
  OnExpire on_expire_;
  void* context_;
  Deadline* prev_ = nullptr;
  Deadline* next_ = nullptr;
  DeadlineSweeper* sweeper_;
};

// Runs on its worker's thread only.
class DeadlineSweeper {
 public:
  DeadlineSweeper(loop::EventLoop& loop, std::chrono::milliseconds period);
  // The loop's thread: sweeps every period until stop().
  void start();
  void stop();
  size_t size() const { return size_; }
  // Fires every armed deadline now (shutdown).
  void expire_all();
  // Fires the deadlines of idle connections (shutdown closes keep-alive connections at once).
  void expire_idle();

 private:
  friend class Deadline;
  void link(Deadline* d);
  void unlink(Deadline* d);
  loop::Task<void> sweep_periodically();
  enum class Sweep { kDue, kAll, kIdle };
  void sweep(CoarseClock::time_point now, Sweep which);

  loop::EventLoop& loop_;
  loop::Timer timer_;
  std::chrono::milliseconds period_;
  Deadline* head_ = nullptr;
  size_t size_ = 0;
  bool running_ = false;
};

}  // namespace sb
