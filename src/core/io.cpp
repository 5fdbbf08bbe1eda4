#include "core/io.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>

namespace sb {

Task<size_t> read_some(Socket& socket, std::span<char> into, ErrorCode& ec) {
  const auto result =
      co_await socket.async_read_some(asio::buffer(into.data(), into.size()), use_task);
  ec = std::get<0>(result);
  if (ec == asio::error::eof) {
    ec = {};
    co_return 0;
  }
  co_return ec ? 0 : std::get<1>(result);
}

Task<void> write_all(Socket& socket, std::span<const asio::const_buffer> buffers, ErrorCode& ec) {
  std::array<iovec, 3> pending{};
  size_t count = 0;
  for (const auto& b : buffers) {
    if (b.size() > 0 && count < pending.size()) {
      pending[count++] = {const_cast<void*>(b.data()), b.size()};
    }
  }
  size_t first = 0;
  ec = {};
  // A direct non-blocking sendmsg: a response usually fits the socket buffer at once, and a
  // synchronous write then costs one syscall and no trip through the event loop.
  while (first < count) {
    msghdr message{};
    message.msg_iov = pending.data() + first;
    message.msg_iovlen = count - first;
    const ssize_t n = ::sendmsg(socket.native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec = ErrorCode(errno, boost::system::system_category());
        co_return;
      }
      const auto waited = co_await socket.async_wait(Socket::wait_write, use_task);
      if (std::get<0>(waited)) {
        ec = std::get<0>(waited);
        co_return;
      }
      continue;
    }
    auto left = static_cast<size_t>(n);
    while (first < count && left >= pending[first].iov_len) left -= pending[first++].iov_len;
    if (first < count) {
      pending[first].iov_base = static_cast<char*>(pending[first].iov_base) + left;
      pending[first].iov_len -= left;
    }
  }
}

Task<void> write_all(Socket& socket, std::string_view data, ErrorCode& ec) {
  const asio::const_buffer buffer(data.data(), data.size());
  co_await write_all(socket, std::span(&buffer, 1), ec);
}

}  // namespace sb
