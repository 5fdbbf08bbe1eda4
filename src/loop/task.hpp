// The data plane's coroutine type. A Task starts when awaited and hands control straight back to
// its awaiter when it ends (symmetric transfer: no trip through a scheduler queue, no handler
// objects), and its frame comes from the thread's FramePool. Asio's awaitable did the same job
// with an executor dispatch and a handler allocation per resumption, which cost the proxy more
// user time than its HTTP parsing (perf, BENCHMARKS.md).
//
// spawn() starts a detached root Task (one per connection); when_all() runs two Tasks at once
// (the two directions of a tunnel). Everything here runs on one thread: the thread of the
// EventLoop whose operations the Tasks await.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

#include "loop/frame_pool.hpp"

namespace sb::loop {

template <typename T = void>
class Task;

namespace detail {

struct PromiseBase {
  std::coroutine_handle<> continuation = std::noop_coroutine();
  std::exception_ptr error;

  static void* operator new(size_t size) { return FramePool::allocate(size); }
  static void operator delete(void* pointer, size_t size) noexcept {
    FramePool::deallocate(pointer, size);
  }

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <typename Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      return self.promise().continuation;
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <typename T>
struct Promise : PromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() noexcept;
  template <typename U>
  void return_value(U&& result) {
    value.emplace(std::forward<U>(result));
  }
  T take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};

template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() {
    if (error) std::rethrow_exception(error);
  }
};

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(Handle handle) : handle_(handle) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  // Destroying a suspended Task destroys its frame and, through it, the Tasks it awaits: how a
  // worker's teardown ends connections that are still waiting.
  ~Task() {
    if (handle_) handle_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    handle_.promise().continuation = awaiter;
    return handle_;
  }
  T await_resume() { return handle_.promise().take(); }

  Handle release() { return std::exchange(handle_, {}); }

 private:
  Handle handle_;
};

namespace detail {
template <typename T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
}  // namespace detail

// Detached roots (one per connection, the accept loop, housekeeping) are linked into the list of
// the loop that runs them, so the loop's teardown can destroy the ones still suspended.
class RootList {
 public:
  struct Node {
    Node* prev = nullptr;
    Node* next = nullptr;
    std::coroutine_handle<> handle;
  };
  void link(Node* node) {
    node->next = head_;
    if (head_ != nullptr) head_->prev = node;
    head_ = node;
    ++size_;
  }
  void unlink(Node* node) {
    if (node->prev != nullptr) node->prev->next = node->next;
    if (node->next != nullptr) node->next->prev = node->prev;
    if (head_ == node) head_ = node->next;
    --size_;
  }
  size_t size() const { return size_; }
  // Destroys every root still suspended (their frames, the Tasks they await and those Tasks'
  // locals: sessions, sockets, buffers). No operation of theirs may still be in the kernel.
  void destroy_all() {
    while (head_ != nullptr) {
      Node* node = head_;
      unlink(node);
      node->handle.destroy();
    }
  }

 private:
  Node* head_ = nullptr;
  size_t size_ = 0;
};

namespace detail {

// Logs the exception being handled (defined in event_loop.cpp, which has the logger).
void report_escaped_exception() noexcept;

// The coroutine behind spawn(): awaits the Task, then frees itself.
struct Detached {
  struct promise_type {
    RootList* roots = nullptr;
    RootList::Node node;

    static void* operator new(size_t size) { return FramePool::allocate(size); }
    static void operator delete(void* pointer, size_t size) noexcept {
      FramePool::deallocate(pointer, size);
    }
    Detached get_return_object() noexcept {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept {
      if (roots != nullptr) roots->unlink(&node);
      return {};
    }
    void return_void() noexcept {}
    // A connection's coroutine must not take the worker down: what escapes it is logged, and the
    // coroutine ends (its locals, the connection's sockets among them, are destroyed).
    void unhandled_exception() noexcept { report_escaped_exception(); }
  };
  std::coroutine_handle<promise_type> handle;
};

inline Detached run_detached(Task<void> task) {
  co_await std::move(task);
}

}  // namespace detail

// Starts `task` now, on this thread; it runs until its first suspension before spawn returns.
inline void spawn(RootList& roots, Task<void> task) {
  detail::Detached root = detail::run_detached(std::move(task));
  auto& promise = root.handle.promise();
  promise.roots = &roots;
  promise.node.handle = root.handle;
  roots.link(&promise.node);
  root.handle.resume();
}

namespace detail {

struct JoinState {
  int remaining = 0;
  std::coroutine_handle<> parent;
  std::exception_ptr error;
};

// Runs one Task of a when_all; its frame stays until the awaiter that owns it goes.
struct JoinRunner {
  struct promise_type {
    JoinState* state = nullptr;
    static void* operator new(size_t size) { return FramePool::allocate(size); }
    static void operator delete(void* pointer, size_t size) noexcept {
      FramePool::deallocate(pointer, size);
    }
    JoinRunner get_return_object() noexcept {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct Final {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> self) noexcept {
        JoinState* joined = self.promise().state;
        return --joined->remaining == 0 ? joined->parent : std::noop_coroutine();
      }
      void await_resume() noexcept {}
    };
    Final final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept {
      if (!state->error) state->error = std::current_exception();
    }
  };
  std::coroutine_handle<promise_type> handle;
};

inline JoinRunner run_joined(Task<void> task) {
  co_await std::move(task);
}

class JoinAwaiter {
 public:
  JoinAwaiter(Task<void> a, Task<void> b)
      : a_(run_joined(std::move(a)).handle), b_(run_joined(std::move(b)).handle) {}
  JoinAwaiter(const JoinAwaiter&) = delete;
  JoinAwaiter& operator=(const JoinAwaiter&) = delete;
  ~JoinAwaiter() {
    a_.destroy();
    b_.destroy();
  }
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> parent) {
    // Three holders: the two runners and this call, so a runner that ends before the other has
    // started cannot resume the parent early.
    state_.remaining = 3;
    state_.parent = parent;
    a_.promise().state = &state_;
    b_.promise().state = &state_;
    a_.resume();
    b_.resume();
    return --state_.remaining != 0;
  }
  void await_resume() {
    if (state_.error) std::rethrow_exception(state_.error);
  }

 private:
  JoinState state_;
  std::coroutine_handle<JoinRunner::promise_type> a_;
  std::coroutine_handle<JoinRunner::promise_type> b_;
};

}  // namespace detail

// Runs both Tasks at once; done when both are.
inline Task<void> when_all(Task<void> a, Task<void> b) {
  co_await detail::JoinAwaiter(std::move(a), std::move(b));
}

}  // namespace sb::loop
