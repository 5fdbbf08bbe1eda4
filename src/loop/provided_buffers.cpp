#include "loop/provided_buffers.hpp"

#include <sys/mman.h>

namespace sb::loop {

bool ProvidedBuffers::setup(io_uring& ring, unsigned count, size_t size) {
  const size_t ring_bytes = count * sizeof(io_uring_buf);
  void* entries =
      ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (entries == MAP_FAILED) return false;
  // Pages of the buffers are touched only as the kernel first fills them.
  void* memory =
      ::mmap(nullptr, count * size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (memory == MAP_FAILED) {
    ::munmap(entries, ring_bytes);
    return false;
  }
  ring_ = static_cast<io_uring_buf_ring*>(entries);
  io_uring_buf_ring_init(ring_);
  io_uring_buf_reg registration{};
  registration.ring_addr = reinterpret_cast<uint64_t>(ring_);
  registration.ring_entries = count;
  registration.bgid = kGroup;
  if (io_uring_register_buf_ring(&ring, &registration, 0) != 0) {
    ::munmap(entries, ring_bytes);
    ::munmap(memory, count * size);
    ring_ = nullptr;
    return false;
  }
  memory_ = static_cast<char*>(memory);
  count_ = count;
  size_ = size;
  for (unsigned id = 0; id < count; ++id) give_back(static_cast<uint16_t>(id));
  return true;
}

ProvidedBuffers::~ProvidedBuffers() {
  // The ring's registration ends with the ring itself (io_uring_queue_exit, after this).
  if (ring_ == nullptr) return;
  ::munmap(ring_, count_ * sizeof(io_uring_buf));
  ::munmap(memory_, count_ * size_);
}

void ProvidedBuffers::give_back(uint16_t id) {
  io_uring_buf_ring_add(ring_, data(id), static_cast<unsigned>(size_), id,
                        io_uring_buf_ring_mask(count_), 0);
  io_uring_buf_ring_advance(ring_, 1);
  ++available_;
}

}  // namespace sb::loop
