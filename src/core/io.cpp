#include "core/io.hpp"

#include <array>

namespace sb {

Task<size_t> read_some(Socket& socket, std::span<char> into, bool data_likely, ErrorCode& ec) {
  bool try_now = data_likely;
  for (;;) {
    if (try_now) {
      const size_t n = socket.read_some(asio::buffer(into.data(), into.size()), ec);
      if (ec == asio::error::eof) {
        ec = {};
        co_return 0;
      }
      if (ec != asio::error::would_block && ec != asio::error::try_again) co_return n;
    }
    // The socket is registered with epoll (edge-triggered) once; this wait costs no syscall.
    auto [wait_ec] = co_await socket.async_wait(Socket::wait_read, use_task);
    if (wait_ec) {
      ec = wait_ec;
      co_return 0;
    }
    try_now = true;
  }
}

Task<void> write_all(Socket& socket, std::span<const asio::const_buffer> buffers, ErrorCode& ec) {
  std::array<asio::const_buffer, 3> pending{};
  size_t count = 0;
  for (const auto& b : buffers) {
    if (b.size() > 0 && count < pending.size()) pending[count++] = b;
  }
  size_t first = 0;
  while (first < count) {
    const size_t n = socket.write_some(std::span(pending.data() + first, count - first), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      auto [wait_ec] = co_await socket.async_wait(Socket::wait_write, use_task);
      if (wait_ec) {
        ec = wait_ec;
        co_return;
      }
      continue;
    }
    if (ec) co_return;
    size_t left = n;
    while (first < count && left >= pending[first].size()) left -= pending[first++].size();
    if (first < count) pending[first] += left;
  }
  ec = {};
}

Task<void> write_all(Socket& socket, std::string_view data, ErrorCode& ec) {
  const asio::const_buffer buffer(data.data(), data.size());
  co_await write_all(socket, std::span(&buffer, 1), ec);
}

}  // namespace sb
