#include "core/deadline.hpp"

namespace sb {

Deadline::Deadline(DeadlineSweeper& sweeper, OnExpire on_expire, void* context)
    : on_expire_(on_expire), context_(context), sweeper_(&sweeper) {
  sweeper_->link(this);
}

Deadline::~Deadline() {
  sweeper_->unlink(this);
}

DeadlineSweeper::DeadlineSweeper(loop::EventLoop& loop, std::chrono::milliseconds period)
    : loop_(loop), timer_(loop), period_(period) {}

void DeadlineSweeper::start() {
  running_ = true;
  loop_.spawn(sweep_periodically());
}

void DeadlineSweeper::stop() {
  running_ = false;
  timer_.cancel();
}

void DeadlineSweeper::expire_all() {
  sweep(CoarseClock::now(), Sweep::kAll);
}

void DeadlineSweeper::expire_idle() {
  sweep(CoarseClock::now(), Sweep::kIdle);
}

void DeadlineSweeper::link(Deadline* d) {
  d->next_ = head_;
  if (head_ != nullptr) head_->prev_ = d;
  head_ = d;
  ++size_;
}

void DeadlineSweeper::unlink(Deadline* d) {
  if (d->prev_ != nullptr) d->prev_->next_ = d->next_;
  if (d->next_ != nullptr) d->next_->prev_ = d->prev_;
  if (head_ == d) head_ = d->next_;
  d->prev_ = d->next_ = nullptr;
  --size_;
}

loop::Task<void> DeadlineSweeper::sweep_periodically() {
  while (running_) {
    const bool due = co_await timer_.wait_for(period_);
    if (!due || !running_) co_return;
    sweep(CoarseClock::now(), Sweep::kDue);
  }
}

void DeadlineSweeper::sweep(CoarseClock::time_point now, Sweep which) {
  for (Deadline* d = head_; d != nullptr;) {
    Deadline* next = d->next_;  // on_expire only cancels I/O; the owner unlinks later
    const bool armed = d->at_ != CoarseClock::time_point::max();
    const bool fire = which == Sweep::kAll    ? armed
                      : which == Sweep::kIdle ? armed && d->idle_
                                              : d->at_ <= now;
    if (fire) {
      d->at_ = CoarseClock::time_point::max();
      d->expired_ = true;
      d->on_expire_(d->context_);
    }
    d = next;
  }
}

}  // namespace sb
