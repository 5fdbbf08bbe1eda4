// Recycled memory for coroutine frames, per thread. Every co_await of a Task creates a frame; on
// the request path that is several per request, and malloc/free for each cost about 5 % of the
// proxy's user time under Asio (perf, BENCHMARKS.md). Frames are sized by the compiler, so blocks
// come in 64-byte size classes; a freed block waits on its class's free list for the next frame of
// that size. Blocks larger than the biggest class go to the global allocator.
#pragma once

#include <cstddef>
#include <new>

namespace sb::loop {

class FramePool {
 public:
  static void* allocate(size_t size) {
    const size_t cls = size_class(size);
    if (cls >= kClasses) return ::operator new(size);
    Lists& lists = local();
    if (Block* block = lists.free[cls]) {
      lists.free[cls] = block->next;
      --lists.count[cls];
      return block;
    }
    return ::operator new((cls + 1) * kGranule);
  }

  static void deallocate(void* pointer, size_t size) noexcept {
    const size_t cls = size_class(size);
    if (cls >= kClasses) {
      ::operator delete(pointer);
      return;
    }
    Lists& lists = local();
    if (lists.count[cls] >= kMaxFreePerClass) {
      ::operator delete(pointer);
      return;
    }
    auto* block = static_cast<Block*>(pointer);
    block->next = lists.free[cls];
    lists.free[cls] = block;
    ++lists.count[cls];
  }

 private:
  static constexpr size_t kGranule = 64;
  static constexpr size_t kClasses = 64;  // frames up to 4 KiB
  // Enough for the deepest nesting of every connection of a busy worker to come and go without
  // the allocator; beyond it, memory goes back.
  static constexpr size_t kMaxFreePerClass = 4096;

  struct Block {
    Block* next;
  };
  struct Lists {
    Block* free[kClasses] = {};
    size_t count[kClasses] = {};
    ~Lists() {
      for (Block* head : free) {
        while (head != nullptr) {
          Block* next = head->next;
          ::operator delete(head);
          head = next;
        }
      }
    }
  };

  static size_t size_class(size_t size) { return (size + kGranule - 1) / kGranule - 1; }
  static Lists& local() {
    thread_local Lists lists;
    return lists;
  }
};

}  // namespace sb::loop
