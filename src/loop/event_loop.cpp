#include "loop/event_loop.hpp"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace sb::loop {

namespace {

// Completions taken from the ring per batch.
constexpr unsigned kBatch = 256;
// Slots of the ring's file table: the long-lived connections of one worker that get one (more
// use plain descriptors, which work the same, a little slower).
constexpr unsigned kFileSlots = 16384;
// Provided buffers of the multishot receives: 32 KiB, the size of a session's upstream buffer, so
// a large body is relayed in as few writes as before (16 KiB cost 17 % of the requests per
// CPU-second at 64 KiB bodies); 256 of them (8 MiB of address space per worker) are touched only
// as they are used.
constexpr size_t kProvidedBufferSize = 32768;
// How long the teardown waits for cancelled operations to come back from the kernel.
constexpr auto kDrainLimit = std::chrono::seconds(2);

int create_ring(unsigned entries, io_uring& ring) {
  // Preferred first; older kernels (before 6.1) get the next best.
  constexpr unsigned kFlagSets[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED,
      IORING_SETUP_R_DISABLED,
  };
  int result = -EINVAL;
  for (const unsigned flags : kFlagSets) {
    io_uring_params params{};
    params.flags = flags;
    result = io_uring_queue_init_params(entries, &ring, &params);
    if (result != -EINVAL) return result;
  }
  return result;
}

// liburing 2.3 (Debian 12) declares io_uring_enable_rings but does not export it.
int enable_rings(const io_uring& ring) {
  const long result =
      ::syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
  return result < 0 ? -errno : 0;
}

}  // namespace

namespace detail {
void report_escaped_exception() noexcept {
  try {
    throw;
  } catch (const std::exception& e) {
    spdlog::error("a connection ended on an unexpected error: {}", e.what());
  } catch (...) {
    spdlog::error("a connection ended on an unexpected error");
  }
}
}  // namespace detail

EventLoop::EventLoop(unsigned entries, unsigned provided_buffers)
    : provided_buffers_(provided_buffers) {
  const int result = create_ring(entries, ring_);
  if (result < 0) throw std::system_error(-result, std::generic_category(), "io_uring_setup");
  wakeup_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (wakeup_fd_ < 0) {
    const int error = errno;
    io_uring_queue_exit(&ring_);
    throw std::system_error(error, std::generic_category(), "eventfd");
  }
}

EventLoop::~EventLoop() {
  shutdown();
  io_uring_queue_exit(&ring_);
  ::close(wakeup_fd_);
}

io_uring_sqe* EventLoop::next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void EventLoop::cancel_fd(int fd, bool fixed) {
  if (closing_) return;
  io_uring_sqe* sqe = next_sqe();
  // The kernel matches operations by the file, so a slot also cancels those submitted with the
  // plain descriptor before the socket had one.
  io_uring_prep_cancel_fd(sqe, fd,
                          IORING_ASYNC_CANCEL_ALL | (fixed ? IORING_ASYNC_CANCEL_FD_FIXED : 0));
  io_uring_sqe_set_data(sqe, nullptr);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_submit(&ring_);
}

int EventLoop::install(int fd) {
  if (!files_ || free_slots_.empty() || closing_) return -1;
  const int slot = free_slots_.back();
  if (io_uring_register_files_update(&ring_, static_cast<unsigned>(slot), &fd, 1) != 1) return -1;
  free_slots_.pop_back();
  return slot;
}

void EventLoop::uninstall(int slot) {
  if (slot < 0) return;
  if (!receivers_.empty()) receivers_[slot].reset(*this);
  int none = -1;
  io_uring_register_files_update(&ring_, static_cast<unsigned>(slot), &none, 1);
  free_slots_.push_back(slot);
}

void EventLoop::post(std::function<void()> work) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(work));
  }
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wakeup_fd_, &one, sizeof one);
}

void EventLoop::stop() {
  stop_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wakeup_fd_, &one, sizeof one);
}

void EventLoop::arm_wakeup() {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_read(sqe, wakeup_fd_, &wakeup_value_, sizeof wakeup_value_, 0);
  track(sqe, &wakeup_op_);
}

void EventLoop::run_posted() {
  std::vector<std::function<void()>> work;
  {
    std::lock_guard lock(posted_mutex_);
    work.swap(posted_);
  }
  for (auto& w : work) w();
}

void EventLoop::run_ready() {
  // Resuming may schedule more (a finished request wakes a queued one): until none is left.
  while (!ready_.empty()) {
    running_.swap(ready_);
    for (const std::coroutine_handle<> h : running_) h.resume();
    running_.clear();
  }
}

void EventLoop::fire_timers(Clock::time_point now) {
  while (!timers_.empty() && timers_.begin()->first <= now) {
    Timer* timer = timers_.begin()->second;
    timers_.erase(timers_.begin());
    timer->waiting_ = false;
    timer->fired_ = true;
    ready_.push_back(timer->waiter_);
  }
}

void EventLoop::handle(uint64_t user_data, int32_t result, uint32_t flags) {
  if (user_data == 0) return;  // a cancellation's own failure (nothing left to cancel)
  if ((user_data & kReceiveTag) != 0) {
    handle_receive(user_data, result, flags);
    return;
  }
  auto* operation = reinterpret_cast<Operation*>(user_data);
  if ((flags & IORING_CQE_F_MORE) == 0) --in_flight_;
  if (operation == &wakeup_op_) {
    run_posted();
    if (!stop_.load(std::memory_order_acquire)) arm_wakeup();
    return;
  }
  operation->result = result;
  operation->flags = flags;
  operation->waiter.resume();
}

void EventLoop::handle_receive(uint64_t user_data, int32_t result, uint32_t flags) {
  if ((flags & IORING_CQE_F_MORE) == 0) --in_flight_;
  if ((flags & IORING_CQE_F_BUFFER) != 0) buffers_.taken();
  const auto slot = static_cast<uint32_t>(user_data);
  Receiver& receiver = receivers_[slot];
  if (static_cast<uint32_t>((user_data & ~kReceiveTag) >> 32) != receiver.generation()) {
    // The slot's earlier socket, closed since: only its buffer matters.
    if ((flags & IORING_CQE_F_BUFFER) != 0) {
      buffers_.give_back(static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT));
    }
    return;
  }
  receiver.on_completion(*this, static_cast<int>(slot), result, flags);
}

void EventLoop::enable() {
  if (enabled_) return;
  const int enabled = enable_rings(ring_);
  if (enabled < 0) throw std::system_error(-enabled, std::generic_category(), "io_uring_enable");
  enabled_ = true;
  now_ = Clock::now();
  if (io_uring_register_files_sparse(&ring_, kFileSlots) == 0) {
    files_ = true;
    free_slots_.reserve(kFileSlots);
    for (int i = static_cast<int>(kFileSlots) - 1; i >= 0; --i) free_slots_.push_back(i);
    if (buffers_.setup(ring_, provided_buffers_, kProvidedBufferSize)) {
      receivers_.resize(kFileSlots);
      multishot_receives_ = true;
    }
  }
  arm_wakeup();
}

void EventLoop::run(const std::function<void()>& start) {
  enable();
  start();
  while (!stop_.load(std::memory_order_acquire)) run_once();
  shutdown();
}

void EventLoop::run_once(std::optional<Clock::duration> max_wait) {
  run_ready();
  ++turns_;
  std::optional<Clock::duration> wait = max_wait;
  if (!timers_.empty()) {
    // From the turn's clock reading, not a fresh one: a timer fires late by at most the time
    // the turn's work took (microseconds), and the loop reads the clock once per turn.
    const Clock::duration until_timer = timers_.begin()->first - now_;
    if (!wait || until_timer < *wait) wait = until_timer;
  }
  io_uring_cqe* first = nullptr;
  if (!wait) {
    io_uring_submit_and_wait(&ring_, 1);
  } else {
    const int64_t ns =
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(*wait).count());
    __kernel_timespec ts{ns / 1'000'000'000, ns % 1'000'000'000};
    io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
  }
  now_ = Clock::now();
  // Copied out before any is handled: a resumed coroutine may submit (and so complete) more.
  io_uring_cqe* cqes[kBatch];
  struct Completion {
    uint64_t user_data;
    int32_t result;
    uint32_t flags;
  };
  Completion batch[kBatch];
  for (;;) {
    const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, kBatch);
    if (n == 0) break;
    for (unsigned i = 0; i < n; ++i) batch[i] = {cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
    io_uring_cq_advance(&ring_, n);
    for (unsigned i = 0; i < n; ++i) handle(batch[i].user_data, batch[i].result, batch[i].flags);
    completions_ += n;
    if (n < kBatch) break;
  }
  if (!timers_.empty()) fire_timers(now_);
  run_ready();
}

void EventLoop::shutdown() {
  if (!enabled_ || closing_) return;
  // Everything still in the kernel is cancelled and waited for (its buffers live in the frames
  // about to be destroyed), then the suspended Tasks are destroyed without being resumed.
  closing_ = true;
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  io_uring_sqe_set_data(sqe, nullptr);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  const auto give_up = Clock::now() + kDrainLimit;
  while (in_flight_ > 0 && Clock::now() < give_up) {
    __kernel_timespec ts{0, 50'000'000};
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    io_uring_cqe* cqes[kBatch];
    const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, kBatch);
    for (unsigned i = 0; i < n; ++i) {
      if (cqes[i]->user_data != 0 && (cqes[i]->flags & IORING_CQE_F_MORE) == 0) --in_flight_;
    }
    io_uring_cq_advance(&ring_, n);
  }
  for (auto& [at, timer] : timers_) timer->waiting_ = false;
  timers_.clear();
  ready_.clear();
  if (in_flight_ > 0) {
    // The kernel may still write into their buffers: the frames are left alone (the process is
    // on its way out) rather than freed under it.
    spdlog::warn("event loop: {} operation(s) did not end; {} connection(s) left as they are",
                 in_flight_, roots_.size());
    return;
  }
  roots_.destroy_all();
}

}  // namespace sb::loop
