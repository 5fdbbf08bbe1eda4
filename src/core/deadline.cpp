#include "core/deadline.hpp"

namespace sb {

Deadline::Deadline(DeadlineSweeper& sweeper, OnExpire on_expire, void* context)
    : on_expire_(on_expire), context_(context), sweeper_(&sweeper) {
  sweeper_->link(this);
}

Deadline::~Deadline() {
  sweeper_->unlink(this);
}

DeadlineSweeper::DeadlineSweeper(asio::io_context& context, std::chrono::milliseconds period)
    : period_(period) {
  timer_.emplace(context.get_executor());
}

void DeadlineSweeper::start() {
  running_ = true;
  schedule();
}

void DeadlineSweeper::stop() {
  running_ = false;
  if (timer_) timer_->cancel();
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

void DeadlineSweeper::schedule() {
  if (!timer_) return;
  timer_->expires_after(period_);
  timer_->async_wait([this](const ErrorCode& ec) {
    if (ec || !running_) return;
    sweep(CoarseClock::now(), Sweep::kDue);
    schedule();
  });
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
