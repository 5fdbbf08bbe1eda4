#include "loop/receiver.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "loop/event_loop.hpp"

namespace sb::loop {

void Receiver::start(EventLoop& loop, int slot, bool arm_now) {
  if (!loop.multishot_receives()) return;
  active_ = true;
  if (arm_now && !armed_ && !end_) arm(loop, slot);
}

bool Receiver::arm(EventLoop& loop, int slot) {
  if (loop.closing() || loop.buffers().available() == 0 || !loop.multishot_receives()) {
    return false;
  }
  io_uring_sqe* sqe = loop.next_sqe();
  io_uring_prep_recv_multishot(sqe, slot, nullptr, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = ProvidedBuffers::kGroup;
  io_uring_sqe_set_data64(sqe, loop.receive_data(slot));
  loop.count_submitted();
  armed_ = true;
  armed_turn_ = loop.turns();
  throttled_ = cancel_requested_ = false;
  return true;
}

void Receiver::reset(EventLoop& loop) {
  for (size_t i = head_; i < chunks_.size(); ++i) loop.buffers().give_back(chunks_[i].id);
  chunks_.clear();
  head_ = 0;
  ++generation_;
  active_ = armed_ = throttled_ = cancel_requested_ = lent_ = false;
  end_.reset();
  if (reader_ != nullptr && !loop.closing()) {
    // Resumed later in this turn, not from inside whoever closes the socket. (At the loop's
    // teardown the reader's coroutine is being destroyed: nothing is resumed.)
    reader_->result = -ECANCELED;
    loop.schedule(reader_->waiter);
  }
  reader_ = nullptr;
}

void Receiver::wait(EventLoop& loop, int slot, Operation& reader, std::span<char> into) {
  reader_ = &reader;
  reader_into_ = into;
  if (armed_ || arm(loop, slot)) return;  // parked: the next completion resumes it
  plain_receive(loop, slot);
}

void Receiver::plain_receive(EventLoop& loop, int slot) {
  Operation& reader = *reader_;
  reader_ = nullptr;
  io_uring_sqe* sqe = loop.next_sqe();
  io_uring_prep_recv(sqe, slot, reader_into_.data(), reader_into_.size(), 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  loop.track(sqe, &reader);
}

int Receiver::take(EventLoop& loop, std::span<char> into) {
  size_t copied = 0;
  while (head_ < chunks_.size() && copied < into.size()) {
    Chunk& chunk = chunks_[head_];
    const size_t n = std::min<size_t>(chunk.length, into.size() - copied);
    std::memcpy(into.data() + copied, loop.buffers().data(chunk.id) + chunk.offset, n);
    copied += n;
    chunk.offset += static_cast<uint32_t>(n);
    chunk.length -= static_cast<uint32_t>(n);
    if (chunk.length == 0) drop_head(loop);
  }
  return copied > 0 ? static_cast<int>(copied) : end_or_again();
}

void Receiver::drop_head(EventLoop& loop) {
  loop.buffers().give_back(chunks_[head_].id);
  if (++head_ == chunks_.size()) {
    chunks_.clear();
    head_ = 0;
  }
}

std::span<char> Receiver::lend(EventLoop& loop) {
  if (head_ == chunks_.size()) return {};
  const Chunk& chunk = chunks_[head_];
  lent_ = true;
  return {loop.buffers().data(chunk.id) + chunk.offset, chunk.length};
}

void Receiver::give_back_lent(EventLoop& loop) {
  if (std::exchange(lent_, false)) drop_head(loop);
}

void Receiver::resume_reader(int32_t result) {
  Operation* reader = std::exchange(reader_, nullptr);
  reader->result = result;
  reader->waiter.resume();
}

void Receiver::on_completion(EventLoop& loop, int slot, int32_t result, uint32_t flags) {
  const bool last = (flags & IORING_CQE_F_MORE) == 0;
  if (last) armed_ = false;
  if (result > 0) {
    const auto id = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    chunks_.push_back({id, 0, static_cast<uint32_t>(result)});
    if (!last && !throttled_ && chunks_.size() - head_ >= kThrottle) {
      // The reader is behind: stop taking buffers until it catches up.
      io_uring_sqe* sqe = loop.next_sqe();
      io_uring_prep_cancel64(sqe, loop.receive_data(slot), 0);
      io_uring_sqe_set_data64(sqe, 0);
      sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
      throttled_ = true;
    }
    if (reader_ != nullptr) resume_reader(kFromQueue);
    return;
  }
  if (result == 0 ||
      (result < 0 && result != -ECANCELED && result != -ENOBUFS && result != -EINVAL)) {
    end_ = result;  // the peer closed, or the socket failed: every later read sees it
    if (reader_ != nullptr) resume_reader(kFromQueue);
    return;
  }
  if (result == -EINVAL) loop.disable_multishot_receives();  // a kernel before 6.0
  if (result == -ECANCELED && std::exchange(cancel_requested_, false)) {
    if (reader_ != nullptr) resume_reader(-ECANCELED);
    return;
  }
  // Throttled, or out of buffers: a parked reader gets the receive armed again, or a plain one.
  if (reader_ != nullptr && !arm(loop, slot)) plain_receive(loop, slot);
}

}  // namespace sb::loop
