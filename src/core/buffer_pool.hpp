// Fixed-size I/O buffers recycled within one worker thread. A connection holds buffers only while a
// request is in flight and gives them back when it goes idle, so 10,000 idle keep-alive clients
// cost no buffer memory, and steady-state traffic allocates nothing.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace sb {

class BufferPool {
 public:
  explicit BufferPool(size_t buffer_size, size_t max_free = 1024)
      : buffer_size_(buffer_size), max_free_(max_free) {}

  size_t buffer_size() const { return buffer_size_; }

  std::unique_ptr<char[]> take() {
    if (free_.empty()) return std::make_unique_for_overwrite<char[]>(buffer_size_);
    std::unique_ptr<char[]> b = std::move(free_.back());
    free_.pop_back();
    return b;
  }

  void give(std::unique_ptr<char[]> buffer) {
    if (buffer && free_.size() < max_free_) free_.push_back(std::move(buffer));
  }

 private:
  size_t buffer_size_;
  size_t max_free_;
  std::vector<std::unique_ptr<char[]>> free_;
};

// A buffer on loan from a pool for as long as the lease lives or until released early.
class BufferLease {
 public:
  explicit BufferLease(BufferPool& pool) : pool_(&pool) {}
  BufferLease(const BufferLease&) = delete;
  BufferLease& operator=(const BufferLease&) = delete;
  ~BufferLease() { release(); }

  char* get() {
    if (!buffer_) buffer_ = pool_->take();
    return buffer_.get();
  }
  bool held() const { return buffer_ != nullptr; }
  size_t size() const { return pool_->buffer_size(); }
  void release() {
    if (buffer_) pool_->give(std::move(buffer_));
  }

 private:
  BufferPool* pool_;
  std::unique_ptr<char[]> buffer_;
};

}  // namespace sb
