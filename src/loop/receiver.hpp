// The multishot receive of one long-lived socket (a keep-alive client, a pooled upstream
// connection): armed once, it takes what arrives into the loop's provided buffers for as long as
// the socket lives, where a receive per message arms and disarms the kernel's readiness wait each
// time. A bare relay on this loop's ring set-up served 8 % more requests per CPU-second with it
// (bench/floor, BENCHMARKS.md). Bytes wait here in order until the socket's reader copies them
// out; a reader that comes while nothing waits is parked and resumed by the next completion.
//
// An idle pooled connection needs no other watch: whatever the upstream sends, or its close,
// lands here, so the pool sees it without a syscall (quiet()).
//
// Bounded: when kThrottle buffers wait unread the receive is cancelled, and armed again when the
// reader has caught up. When the ring has no buffer left (or the kernel has no multishot
// receive) a parked reader gets a plain receive into its own buffer instead.
#pragma once

#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace sb::loop {

class EventLoop;
struct Operation;

class Receiver {
 public:
  // A parked reader resumed with this result copies from the queue (take()); any other result
  // is the receive's own (a count read into its buffer, 0 for end of stream, -errno).
  static constexpr int32_t kFromQueue = INT32_MIN;
  static constexpr size_t kThrottle = 4;

  uint32_t generation() const { return generation_; }
  bool active() const { return active_; }
  // Input or the end of the stream is waiting: a read completes at once.
  bool ready() const { return head_ < chunks_.size() || end_.has_value(); }
  // For an idle socket: true when nothing arrived, false when something did (bytes or the
  // peer's close), nullopt when nothing is known: the receive is not armed, or was armed in
  // this loop turn `turn` and has not yet seen what the kernel already held.
  std::optional<bool> quiet(uint64_t turn) const {
    if (ready()) return false;
    if (!armed_ || armed_turn_ == turn) return std::nullopt;
    return true;
  }

  // The socket in `slot` receives this way from now on (armed at once when `arm_now`, else by
  // the next read), unless the loop has no multishot receives.
  void start(EventLoop& loop, int slot, bool arm_now);
  // The slot's socket is closed or the slot reused: buffers go back, a parked reader resumes
  // with -ECANCELED, and completions still to come from the old receive are ignored.
  void reset(EventLoop& loop);
  // Socket::cancel: a parked reader resumes with -ECANCELED (the receive is cancelled with the
  // socket's other operations).
  void note_cancel() { cancel_requested_ = true; }

  // A reader that found nothing ready(): parked until the next completion, or given a plain
  // receive into `into` (its own Operation) when the multishot one cannot be armed.
  void wait(EventLoop& loop, int slot, Operation& reader, std::span<char> into);
  // Copies waiting bytes into `into` (as many as fit); when none wait, the end of the stream
  // (0, or -errno).
  int take(EventLoop& loop, std::span<char> into);
  // The first waiting chunk, lent to the reader where it is (no copy) until give_back_lent();
  // empty when none waits. A close of the socket ends the loan.
  std::span<char> lend(EventLoop& loop);
  void give_back_lent(EventLoop& loop);
  // When none waits, what take() would return: the end of the stream.
  int end_or_again() const { return end_.value_or(-EAGAIN); }

  // A completion of this receive (its generation matched).
  void on_completion(EventLoop& loop, int slot, int32_t result, uint32_t flags);

 private:
  struct Chunk {
    uint16_t id;
    uint32_t offset;
    uint32_t length;
  };
  bool arm(EventLoop& loop, int slot);
  // The chunk at head_ is read: its buffer goes back to the ring.
  void drop_head(EventLoop& loop);
  void resume_reader(int32_t result);
  void plain_receive(EventLoop& loop, int slot);

  uint32_t generation_ = 0;
  bool active_ = false;
  bool armed_ = false;
  bool throttled_ = false;
  bool cancel_requested_ = false;
  uint64_t armed_turn_ = 0;
  std::optional<int32_t> end_;
  std::vector<Chunk> chunks_;  // from head_ on: waiting to be read
  size_t head_ = 0;
  bool lent_ = false;            // the chunk at head_ is lent
  Operation* reader_ = nullptr;  // parked
  std::span<char> reader_into_;
};

}  // namespace sb::loop
