// A counter written by one thread and read by any: relaxed load + store instead of a locked
// read-modify-write, since only the owning worker ever writes it.
#pragma once

#include <atomic>
#include <cstdint>

namespace sb {

class SingleWriterCounter {
 public:
  void add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

}  // namespace sb
