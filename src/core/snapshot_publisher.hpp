// RCU-style publication of immutable state to worker threads: a writer builds a new value off the
// hot path and publishes it; each worker keeps its own reference and re-reads only when the version
// moved, so the request path pays one relaxed atomic load, not a shared reference-count update.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace sb {

template <typename T>
class SnapshotPublisher {
 public:
  void publish(std::shared_ptr<const T> value) {
    std::lock_guard lock(mutex_);
    current_ = std::move(value);
    version_.fetch_add(1, std::memory_order_release);
  }
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  std::shared_ptr<const T> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;
  std::atomic<uint64_t> version_{0};
};

// A worker's view: refresh() is cheap when nothing changed.
template <typename T>
class SnapshotReader {
 public:
  explicit SnapshotReader(const SnapshotPublisher<T>& publisher) : publisher_(&publisher) {
    refresh();
  }
  // Returns true when a new snapshot was taken.
  bool refresh() {
    const uint64_t v = publisher_->version();
    if (v == seen_ && value_) return false;
    value_ = publisher_->current();
    seen_ = v;
    return true;
  }
  const T& get() const { return *value_; }
  const std::shared_ptr<const T>& shared() const { return value_; }

 private:
  const SnapshotPublisher<T>* publisher_;
  std::shared_ptr<const T> value_;
  uint64_t seen_ = ~uint64_t{0};
};

}  // namespace sb
