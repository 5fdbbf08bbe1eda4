#include "loop/socket.hpp"

#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace sb::loop {

Socket Socket::open(EventLoop& loop, const boost::asio::ip::tcp::endpoint& like) {
  const int family = like.protocol().family();
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return {};
  return {loop, fd};
}

bool Socket::Awaiter::await_ready() noexcept {
  if (!socket_.is_open()) return true;
  if (kind_ != Kind::kRecv) return false;
  const Receiver* receiver = socket_.streaming();
  if (receiver == nullptr) return false;
  streamed_ = true;
  return receiver->ready();  // bytes (or the end) are here: no wait
}

void Socket::Awaiter::await_suspend(std::coroutine_handle<> waiter) {
  EventLoop& loop = *socket_.loop_;
  operation_.waiter = waiter;
  ++socket_.pending_;
  submitted_ = true;
  if (streamed_) {
    socket_.streaming()->wait(loop, socket_.slot_, operation_, into_);
    return;
  }
  io_uring_sqe* sqe = loop.next_sqe();
  const int fd = socket_.slot_ >= 0 ? socket_.slot_ : socket_.fd_;
  switch (kind_) {
    case Kind::kRecv:
      io_uring_prep_recv(sqe, fd, into_.data(), into_.size(), 0);
      if (expect_empty_) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
      break;
    case Kind::kConnect:
      io_uring_prep_connect(sqe, fd, to_.data(), static_cast<socklen_t>(to_.size()));
      break;
    case Kind::kSend:
      // One buffer needs no msghdr for the kernel to copy in and check.
      if (message_.msg_iovlen == 1) {
        io_uring_prep_send(sqe, fd, message_.msg_iov[0].iov_base, message_.msg_iov[0].iov_len,
                           MSG_NOSIGNAL | send_flags_);
      } else {
        io_uring_prep_sendmsg(sqe, fd, &message_, MSG_NOSIGNAL | send_flags_);
      }
      break;
  }
  if (socket_.slot_ >= 0) sqe->flags |= IOSQE_FIXED_FILE;
  loop.track(sqe, &operation_);
}

int Socket::Awaiter::await_resume() noexcept {
  if (submitted_) --socket_.pending_;
  int result = submitted_ ? operation_.result : -EBADF;  // -EBADF: closed before the wait began
  if (streamed_ && (!submitted_ || result == Receiver::kFromQueue)) {
    // Bytes (or the end) wait in the socket's Receiver.
    Receiver* receiver = socket_.streaming();
    if (receiver == nullptr) return -ECANCELED;
    if (view_ == nullptr) return receiver->take(*socket_.loop_, into_);
    *view_ = receiver->lend(*socket_.loop_);
    return view_->empty() ? receiver->end_or_again() : static_cast<int>(view_->size());
  }
  // A receive of its own (a plain one, or one cut short by a cancel).
  if (view_ != nullptr) *view_ = into_.first(result > 0 ? static_cast<size_t>(result) : 0);
  return result;
}

void Socket::close() {
  if (fd_ < 0) return;
  // Operations that wait, and a multishot receive armed with nobody waiting.
  if (pending_ > 0 || streaming() != nullptr) cancel_in_kernel();
  loop_->uninstall(std::exchange(slot_, -1));
  ::close(fd_);
  fd_ = -1;
}

void Socket::set_no_delay() {
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::optional<boost::asio::ip::tcp::endpoint> Socket::remote_endpoint() const {
  boost::asio::ip::tcp::endpoint endpoint;
  socklen_t length = static_cast<socklen_t>(endpoint.capacity());
  if (::getpeername(fd_, endpoint.data(), &length) != 0) return std::nullopt;
  endpoint.resize(length);
  return endpoint;
}

void Listener::listen(const boost::asio::ip::tcp::endpoint& endpoint, bool reuse_port) {
  const auto fail = [this](const char* what) {
    const int error = errno;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    throw std::system_error(error, std::generic_category(), what);
  };
  fd_ = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd_ < 0) fail("socket");
  const int one = 1;
  if (::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) fail("SO_REUSEADDR");
  if (reuse_port && ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    fail("SO_REUSEPORT");
  }
  if (::bind(fd_, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0) fail("bind");
  if (::listen(fd_, SOMAXCONN) != 0) fail("listen");
}

boost::asio::ip::tcp::endpoint Listener::local_endpoint() const {
  boost::asio::ip::tcp::endpoint endpoint;
  socklen_t length = static_cast<socklen_t>(endpoint.capacity());
  if (::getsockname(fd_, endpoint.data(), &length) == 0) endpoint.resize(length);
  return endpoint;
}

void Listener::Awaiter::await_suspend(std::coroutine_handle<> waiter) {
  operation_.waiter = waiter;
  io_uring_sqe* sqe = listener_.loop_.next_sqe();
  io_uring_prep_accept(sqe, listener_.fd_, nullptr, nullptr, SOCK_CLOEXEC);
  listener_.loop_.track(sqe, &operation_);
  listener_.accepting_ = true;
  submitted_ = true;
}

int Listener::Awaiter::await_resume() noexcept {
  if (!submitted_) return -EBADF;
  listener_.accepting_ = false;
  return operation_.result;
}

void Listener::close() {
  if (fd_ < 0) return;
  if (accepting_) loop_.cancel_fd(fd_);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace sb::loop
