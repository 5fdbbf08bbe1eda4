// TCP sockets of the data plane on an EventLoop: a connected Socket (recv, send, connect) and a
// Listener (accept). Each wait is an io_uring operation awaited by one coroutine;
// results are what the kernel returns (a count, or -errno), not exceptions. A Socket may be
// cancelled or closed from another coroutine of the same loop while one of its operations waits:
// the waiter then resumes with -ECANCELED.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <coroutine>
#include <optional>
#include <span>
#include <utility>

#include "loop/event_loop.hpp"

namespace sb::loop {

class Socket {
 public:
  Socket() = default;
  Socket(EventLoop& loop, int fd) : loop_(&loop), fd_(fd) {}
  Socket(Socket&& other) noexcept
      : loop_(other.loop_),
        fd_(std::exchange(other.fd_, -1)),
        slot_(std::exchange(other.slot_, -1)),
        pending_(other.pending_) {
    other.pending_ = 0;
  }
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      close();
      loop_ = other.loop_;
      fd_ = std::exchange(other.fd_, -1);
      slot_ = std::exchange(other.slot_, -1);
      pending_ = std::exchange(other.pending_, 0);
    }
    return *this;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  // A new TCP socket of the endpoint's family, not connected yet. Empty on failure (errno set).
  static Socket open(EventLoop& loop, const boost::asio::ip::tcp::endpoint& like);

  bool is_open() const { return fd_ >= 0; }
  // Gives the socket a slot in its loop's file table, for a connection that has shown it lives
  // long (a keep-alive client's second request, an upstream connection put in the pool): each
  // operation then costs the kernel less, while a connection that serves one request does not
  // pay the two registration calls (-1.7 % connections per CPU-second with Connection: close
  // when every socket had one). Idempotent; no-op when the table is full.
  // A socket with a slot also receives through a multishot receive (loop/receiver.hpp) when
  // the loop has provided buffers.
  void use_file_slot() {
    if (slot_ >= 0 || fd_ < 0) return;
    slot_ = loop_->install(fd_);
    // Armed now unless a plain receive still waits (the next receive arms it then).
    if (Receiver* receiver = loop_->receiver(slot_)) receiver->start(*loop_, slot_, pending_ == 0);
  }
  // For an idle socket (an upstream connection in the pool): true when nothing arrived since it
  // was last read, false when something did (bytes, or the peer's close), nullopt when unknown
  // (no multishot receive armed: look with a syscall).
  std::optional<bool> quiet() const {
    const Receiver* receiver = streaming();
    return receiver != nullptr ? receiver->quiet(loop_->turns()) : std::nullopt;
  }
  int native_handle() const { return fd_; }
  EventLoop& loop() const { return *loop_; }

  // One operation of this socket, awaited by one coroutine.
  class Awaiter {
   public:
    enum class Kind { kRecv, kConnect, kSend };
    Awaiter(Socket& socket, Kind kind) : socket_(socket), kind_(kind) {}
    Awaiter(Socket& socket, std::span<char> into, bool expect_empty,
            std::span<char>* view = nullptr)
        : socket_(socket),
          kind_(Kind::kRecv),
          into_(into),
          view_(view),
          expect_empty_(expect_empty) {}
    Awaiter(Socket& socket, const boost::asio::ip::tcp::endpoint& to)
        : socket_(socket), kind_(Kind::kConnect), to_(to) {}
    Awaiter(Socket& socket, const iovec* iov, size_t count, int flags)
        : socket_(socket), kind_(Kind::kSend), send_flags_(flags) {
      message_.msg_iov = const_cast<iovec*>(iov);
      message_.msg_iovlen = count;
    }
    bool await_ready() noexcept;
    void await_suspend(std::coroutine_handle<> waiter);
    // Bytes received or sent (0 received: the peer closed), 0 for a connect, or -errno.
    int await_resume() noexcept;

   private:
    Socket& socket_;
    Kind kind_;
    std::span<char> into_;
    std::span<char>* view_ = nullptr;  // recv_view
    boost::asio::ip::tcp::endpoint to_;
    msghdr message_{};
    int send_flags_ = 0;
    bool expect_empty_ = false;
    Operation operation_;
    bool submitted_ = false;
    bool streamed_ = false;  // a receive served by the socket's Receiver
  };

  // `expect_empty`: nothing can have arrived yet (the peer has not had our request, or our
  // response), so the kernel waits for data at once instead of first trying a receive that finds
  // nothing.
  Awaiter recv(std::span<char> into, bool expect_empty = false) {
    return {*this, into, expect_empty};
  }
  // Like recv, but bytes the socket's multishot receive took are not copied: `*view` is set to
  // where they are (a provided buffer, lent until release_view()), or, after a plain receive, to
  // the start of `into` that holds them.
  Awaiter recv_view(std::span<char> into, std::span<char>* view) {
    return {*this, into, false, view};
  }
  void release_view() {
    if (Receiver* receiver = streaming()) receiver->give_back_lent(*loop_);
  }
  Awaiter connect(const boost::asio::ip::tcp::endpoint& to) { return {*this, to}; }
  // Sends what it can of the buffers (a count, or -errno), through the ring. `more`: the rest of
  // the message follows soon, so the kernel may hold a short segment back to go out with it
  // (MSG_MORE).
  Awaiter send(const iovec* iov, size_t count, bool more = false) {
    return {*this, iov, count, more ? MSG_MORE : 0};
  }

  // Ends the operations waiting on this socket (their waiters see -ECANCELED); the socket stays.
  void cancel() {
    if (pending_ > 0 && fd_ >= 0) cancel_in_kernel();
  }
  // Cancels what waits, then closes the descriptor. Safe to call twice.
  void close();
  void shutdown_send() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
  }
  void set_no_delay();
  std::optional<boost::asio::ip::tcp::endpoint> remote_endpoint() const;

 private:
  // Every operation of this socket in the kernel, its multishot receive included.
  void cancel_in_kernel() {
    if (Receiver* receiver = streaming()) receiver->note_cancel();
    loop_->cancel_fd(slot_ >= 0 ? slot_ : fd_, slot_ >= 0);
  }
  Receiver* streaming() const {
    Receiver* receiver = loop_ != nullptr ? loop_->receiver(slot_) : nullptr;
    return receiver != nullptr && receiver->active() ? receiver : nullptr;
  }

  EventLoop* loop_ = nullptr;
  int fd_ = -1;
  int slot_ = -1;    // in the loop's file table, or -1
  int pending_ = 0;  // operations of this socket in the kernel
};

// A listening socket of one worker (SO_REUSEPORT: every worker has its own).
class Listener {
 public:
  explicit Listener(EventLoop& loop) : loop_(loop) {}
  ~Listener() { close(); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens; throws std::system_error naming the step that failed.
  void listen(const boost::asio::ip::tcp::endpoint& endpoint, bool reuse_port);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  bool is_open() const { return fd_ >= 0; }

  class Awaiter {
   public:
    explicit Awaiter(Listener& listener) : listener_(listener) {}
    bool await_ready() const noexcept { return listener_.fd_ < 0; }
    void await_suspend(std::coroutine_handle<> waiter);
    // The accepted connection's descriptor, or -errno.
    int await_resume() noexcept;

   private:
    Listener& listener_;
    Operation operation_;
    bool submitted_ = false;
  };
  Awaiter accept() { return Awaiter(*this); }
  // The loop's thread: a pending accept ends with -ECANCELED.
  void close();

 private:
  EventLoop& loop_;
  int fd_ = -1;
  bool accepting_ = false;
};

}  // namespace sb::loop
