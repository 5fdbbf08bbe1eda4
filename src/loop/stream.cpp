#include "loop/stream.hpp"

#include <sys/uio.h>

#include <array>
#include <boost/asio/error.hpp>
#include <cerrno>
#include <cstring>

namespace sb::loop {

namespace {

constexpr size_t kGatherLimit = 1024;

ErrorCode error_of(int negative_errno) {
  if (negative_errno == -ECANCELED) return boost::asio::error::operation_aborted;
  return ErrorCode(-negative_errno, boost::system::system_category());
}

}  // namespace

Task<size_t> read_some(Socket& socket, std::span<char> into, ErrorCode& ec, bool expect_empty) {
  const int n = co_await socket.recv(into, expect_empty);
  if (n < 0) {
    ec = error_of(n);
    co_return 0;
  }
  ec = {};
  co_return static_cast<size_t>(n);
}

Task<size_t> read_view(Socket& socket, std::span<char> into, std::span<char>& data, ErrorCode& ec) {
  const int n = co_await socket.recv_view(into, &data);
  if (n < 0) {
    ec = error_of(n);
    co_return 0;
  }
  ec = {};
  co_return static_cast<size_t>(n);
}

Task<void> write_all(Socket& socket, std::span<const boost::asio::const_buffer> buffers,
                     ErrorCode& ec, bool more) {
  std::array<iovec, 3> pending{};
  size_t count = 0;
  for (const auto& b : buffers) {
    if (b.size() > 0 && count < pending.size()) {
      pending[count++] = {const_cast<void*>(b.data()), b.size()};
    }
  }
  // A small message in pieces (a response head and a short body) goes as one buffer: copying a
  // few hundred bytes costs less than the kernel's import of a scatter list.
  std::array<char, kGatherLimit> gathered;
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) total += pending[i].iov_len;
  if (count > 1 && total <= gathered.size()) {
    char* out = gathered.data();
    for (size_t i = 0; i < count; ++i) {
      std::memcpy(out, pending[i].iov_base, pending[i].iov_len);
      out += pending[i].iov_len;
    }
    pending[0] = {gathered.data(), total};
    count = 1;
  }
  size_t first = 0;
  ec = {};
  while (first < count) {
    // The kernel waits for room in the socket buffer itself; a short count means part was sent.
    const int sent = co_await socket.send(pending.data() + first, count - first, more);
    if (sent < 0) {
      ec = error_of(sent);
      co_return;
    }
    auto left = static_cast<size_t>(sent);
    while (first < count && left >= pending[first].iov_len) left -= pending[first++].iov_len;
    if (first < count) {
      pending[first].iov_base = static_cast<char*>(pending[first].iov_base) + left;
      pending[first].iov_len -= left;
    }
  }
}

Task<void> write_all(Socket& socket, std::string_view data, ErrorCode& ec, bool more) {
  const boost::asio::const_buffer buffer(data.data(), data.size());
  co_await write_all(socket, std::span(&buffer, 1), ec, more);
}

}  // namespace sb::loop
