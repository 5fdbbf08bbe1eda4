// The queue of a service with `max_conns`: requests that found every instance full wait here,
// at most `queue.size` of them (across workers) and at most `queue.timeout` each. A request that
// finishes on a worker wakes that worker's longest waiter at once; waiters also look again every
// few milliseconds, since a place freed on another worker wakes no one here (workers share no
// event loop, and a cross-thread post per finished request would cost every request).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "loop/event_loop.hpp"

namespace sb::proxy {

using QueueTimer = loop::Timer;

class ConnQueue {
 public:
  // How often a waiter looks for a place freed on another worker.
  static constexpr std::chrono::milliseconds kRecheck{2};

  // One waiting request, parked on its worker's list while its timer runs; leaves the list when
  // destroyed (a session torn down mid-wait included).
  class Waiter {
   public:
    Waiter(ConnQueue& queue, unsigned worker, QueueTimer& timer)
        : queue_(queue), worker_(worker), timer_(timer) {}
    ~Waiter() { unpark(); }
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
    void park();
    void unpark();

   private:
    friend class ConnQueue;
    ConnQueue& queue_;
    unsigned worker_;
    QueueTimer& timer_;
    Waiter* prev_ = nullptr;
    Waiter* next_ = nullptr;
    bool parked_ = false;
  };

  explicit ConnQueue(unsigned workers) : lists_(std::make_unique<List[]>(workers)) {}

  // Any worker: takes a place if fewer than `size` requests wait (false: the queue is full).
  bool enter(uint32_t size) {
    int64_t current = waiting_.load(std::memory_order_relaxed);
    do {
      if (current >= static_cast<int64_t>(size)) return false;
    } while (!waiting_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    return true;
  }
  void leave() { waiting_.fetch_sub(1, std::memory_order_relaxed); }
  int64_t waiting() const { return waiting_.load(std::memory_order_relaxed); }

  // Worker `worker`: a request of this service finished there; its longest waiter looks now.
  void notify_one(unsigned worker) {
    if (Waiter* first = lists_[worker].head) first->timer_.cancel();
  }

 private:
  struct List {
    Waiter* head = nullptr;
    Waiter* tail = nullptr;
  };
  std::unique_ptr<List[]> lists_;
  alignas(64) std::atomic<int64_t> waiting_{0};
};

inline void ConnQueue::Waiter::park() {
  if (parked_) return;
  List& list = queue_.lists_[worker_];
  prev_ = list.tail;
  next_ = nullptr;
  (list.tail ? list.tail->next_ : list.head) = this;
  list.tail = this;
  parked_ = true;
}

inline void ConnQueue::Waiter::unpark() {
  if (!parked_) return;
  List& list = queue_.lists_[worker_];
  (prev_ ? prev_->next_ : list.head) = next_;
  (next_ ? next_->prev_ : list.tail) = prev_;
  parked_ = false;
}

}  // namespace sb::proxy
