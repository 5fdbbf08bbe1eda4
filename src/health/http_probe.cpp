#include "health/http_probe.hpp"

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <string_view>

namespace sb::health {

namespace {

using ProbeTimer =
    asio::basic_waitable_timer<std::chrono::steady_clock,
                               asio::wait_traits<std::chrono::steady_clock>, Executor>;

// "HTTP/1.1 200 OK": the status of a status line, 0 if it is not one.
int parse_status(std::string_view line) {
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') return 0;
  int status = 0;
  const auto [end, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (ec != std::errc() || end != line.data() + 12 || status < 100 || status > 599) return 0;
  return status;
}

Task<ProbeResult> exchange(Socket& socket, asio::ip::tcp::endpoint endpoint,
                           const std::string& request) {
  auto [connect_error] = co_await socket.async_connect(endpoint, use_task);
  if (connect_error) co_return ProbeResult{0, connect_error.message()};
  auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(request), use_task);
  if (write_error) co_return ProbeResult{0, write_error.message()};
  std::array<char, 256> buffer{};
  size_t have = 0;
  for (;;) {
    auto [read_error, n] = co_await socket.async_read_some(
        asio::buffer(buffer.data() + have, buffer.size() - have), use_task);
    have += n;
    const std::string_view got(buffer.data(), have);
    const size_t eol = got.find("\r\n");
    if (eol != std::string_view::npos || have == buffer.size()) {
      const int status = parse_status(got.substr(0, eol));
      if (status == 0) co_return ProbeResult{0, "not an HTTP response"};
      co_return ProbeResult{status, {}};
    }
    if (read_error) {
      co_return ProbeResult{
          0, read_error == asio::error::eof ? "closed before answering" : read_error.message()};
    }
  }
}

}  // namespace

std::string probe_request(const std::string& path, const std::string& host) {
  return "GET " + path + " HTTP/1.1\r\nHost: " + host +
         "\r\nUser-Agent: switchboard-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n";
}

Task<ProbeResult> http_probe(asio::ip::tcp::endpoint endpoint, const std::string& request,
                             std::chrono::milliseconds timeout) {
  const auto executor = co_await asio::this_coro::executor;
  Socket socket(executor);
  ProbeTimer timer(executor);
  timer.expires_after(timeout);
  using namespace asio::experimental::awaitable_operators;
  auto outcome = co_await (exchange(socket, endpoint, request) || timer.async_wait(use_task));
  ErrorCode ignored;
  socket.close(ignored);
  if (outcome.index() == 1) co_return ProbeResult{0, "timed out"};
  co_return std::get<0>(std::move(outcome));
}

}  // namespace sb::health
