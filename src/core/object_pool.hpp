// Objects recycled within one worker thread: a connection borrows its per-request working memory
// (parsers, head buffers) while a request is in flight and returns it when it goes idle, so idle
// keep-alive connections stay small and steady-state traffic allocates nothing.
#pragma once

#include <memory>
#include <vector>

namespace sb {

template <typename T>
class ObjectPool {
 public:
  explicit ObjectPool(size_t max_free = 1024) : max_free_(max_free) {}

  std::unique_ptr<T> take() {
    if (free_.empty()) return std::make_unique<T>();
    std::unique_ptr<T> object = std::move(free_.back());
    free_.pop_back();
    return object;
  }

  void give(std::unique_ptr<T> object) {
    if (object && free_.size() < max_free_) free_.push_back(std::move(object));
  }

 private:
  size_t max_free_;
  std::vector<std::unique_ptr<T>> free_;
};

}  // namespace sb
