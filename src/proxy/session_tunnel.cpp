// Session, the WebSocket tunnel: after the instance's 101, bytes pass both ways unchanged until
// either side ends or the tunnel is idle for websocket_idle; the connection is never pooled.
#include "loop/stream.hpp"
#include "proxy/session.hpp"
#include "proxy/worker.hpp"

namespace sb::proxy {

using loop::ErrorCode;
using loop::read_some;
using loop::write_all;

namespace {

// One direction of a WebSocket tunnel: bytes from `from` to `to` until either side ends, added
// to `bytes` and to the instance's `counted` as they pass.
loop::Task<void> pump(loop::Socket& from, loop::Socket& to, char* buffer, size_t size,
                      Deadline& deadline, std::chrono::milliseconds idle, uint64_t& bytes,
                      SingleWriterCounter& counted) {
  for (;;) {
    ErrorCode ec;
    const size_t n = co_await read_some(from, {buffer, size}, ec);
    if (n == 0) {
      if (ec) {
        from.close();
        to.close();
      } else {
        to.shutdown_send();  // pass the half-close on
      }
      co_return;
    }
    deadline.arm(idle);
    co_await write_all(to, std::string_view(buffer, n), ec);
    if (ec) {
      from.close();
      to.close();
      co_return;
    }
    bytes += n;
    counted.add(n);
  }
}

}  // namespace

loop::Task<void> Session::tunnel() {
  set_phase(Phase::kTunnel);
  const auto idle = worker_.snapshot().timeouts.websocket_idle;
  upstream::InstanceCounters& counters = instance_->counters(worker_.index());
  ErrorCode ec;
  // Frames the client sent right behind its handshake are already in the buffer.
  if (parsed_ < end_) {
    co_await write_all(*upstream_, std::string_view(in_.get() + parsed_, end_ - parsed_), ec);
    if (ec) co_return;
    counters.sent_bytes.add(end_ - parsed_);
  }
  begin_ = parsed_ = end_ = 0;
  deadline_.arm(idle);
  uint64_t up = 0;
  uint64_t down = 0;
  co_await loop::when_all(
      pump(client_, *upstream_, in_.get(), in_.size(), deadline_, idle, up, counters.sent_bytes),
      pump(*upstream_, client_, out_.get(), out_.size(), deadline_, idle, down,
           counters.received_bytes));
  close_upstream();
  if (worker_.access_log().enabled()) {
    state_->log.bytes_in += up;
    state_->log.bytes_out += down;
  }
}
}  // namespace sb::proxy
