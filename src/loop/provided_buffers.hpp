// A ring of buffers handed to the kernel up front (io_uring's provided buffers): a multishot
// receive (loop/receiver.hpp) takes one when bytes arrive, so a socket that waits holds no buffer,
// and the loop gives each one back once its bytes are copied out.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>

namespace sb::loop {

class ProvidedBuffers {
 public:
  static constexpr uint16_t kGroup = 0;

  ProvidedBuffers() = default;
  ~ProvidedBuffers();
  ProvidedBuffers(const ProvidedBuffers&) = delete;
  ProvidedBuffers& operator=(const ProvidedBuffers&) = delete;

  // Registers `count` (a power of two) buffers of `size` bytes with the ring; false when the
  // kernel has no buffer rings (before 5.19), and then nothing is held.
  bool setup(io_uring& ring, unsigned count, size_t size);
  bool ready() const { return ring_ != nullptr; }

  char* data(uint16_t id) const { return memory_ + size_t{id} * size_; }
  size_t size() const { return size_; }
  // Buffers the kernel can still pick.
  unsigned available() const { return available_; }
  // A completion carried buffer `id`: the kernel took it.
  void taken() { --available_; }
  void give_back(uint16_t id);

 private:
  io_uring_buf_ring* ring_ = nullptr;
  char* memory_ = nullptr;
  unsigned count_ = 0;
  size_t size_ = 0;
  unsigned available_ = 0;
};

}  // namespace sb::loop
