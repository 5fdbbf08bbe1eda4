// Unit tests of loop/receiver.hpp through loop::Socket: a socket with a file slot receives
// through one multishot receive into the loop's provided buffers. Bytes keep their order across
// buffers and small reads, a reader that is behind stops the receive (and catches up intact),
// an empty buffer ring falls back to plain receives, cancel and close end a parked read, the
// peer's close is seen after the bytes before it, an idle socket tells whether anything came,
// and a view lends the bytes where they are. Real sockets on loopback; waits turn the loop with
// an upper bound.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "loop/event_loop.hpp"
#include "loop/socket.hpp"
#include "loop/stream.hpp"
#include "loop/task.hpp"
#include "run_until.hpp"

namespace sb::loop {
namespace {

using namespace std::chrono_literals;

using testing_support::run_until;

// A connected TCP pair on loopback: `ours` on the loop with a file slot (so it streams), the
// peer a plain blocking descriptor the test writes and reads directly.
struct Connected {
  explicit Connected(EventLoop& loop) {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(listener, 1), 0);
    EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
    peer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::connect(peer, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ours = Socket(loop, ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    ::close(listener);
    ours.use_file_slot();
  }
  ~Connected() { ::close(peer); }
  Connected(const Connected&) = delete;
  Connected& operator=(const Connected&) = delete;

  Socket ours;
  int peer = -1;
};

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

void write_fully(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    ASSERT_GT(n, 0);
    done += static_cast<size_t>(n);
  }
}

// Reads into `out` with reads of at most `piece` bytes until it holds `want` bytes or the stream
// ends (or fails: `error` set).
Task<void> read_all(Socket& s, size_t piece, size_t want, std::string& out,
                    std::optional<ErrorCode>& error) {
  std::string buffer(piece, '\0');
  while (out.size() < want) {
    ErrorCode ec;
    const size_t n = co_await read_some(s, {buffer.data(), buffer.size()}, ec);
    if (n == 0) {
      error = ec;
      co_return;
    }
    out.append(buffer.data(), n);
  }
}

// Reads `sent.size()` bytes from `s` in reads of at most `piece` bytes, turning the loop (and
// calling `between` at each turn) until they are all there: they must be `sent`, in order.
void expect_reads(
    EventLoop& loop, Socket& s, size_t piece, const std::string& sent,
    const std::function<void()>& between = [] {}) {
  std::string got;
  std::optional<ErrorCode> error;
  loop.spawn(read_all(s, piece, sent.size(), got, error));
  ASSERT_TRUE(run_until(loop, [&] {
    between();
    return got.size() == sent.size() || error;
  }));
  EXPECT_FALSE(error);
  EXPECT_TRUE(got == sent) << "bytes lost or out of order";
}

TEST(LoopReceiver, BytesThatCameBeforeTheReadAreReadInOrderInSmallPieces) {
  EventLoop loop(64);
  loop.enable();
  ASSERT_TRUE(loop.buffers().ready()) << "this kernel has no provided buffer rings";
  Connected c(loop);
  const std::string sent = pattern(100'000);  // several provided buffers
  write_fully(c.peer, sent);
  // Let the multishot receive take what came before anybody reads.
  ASSERT_TRUE(run_until(loop, [&] { return c.ours.quiet() == false; }));
  expect_reads(loop, c.ours, 1000, sent);  // pieces smaller than a buffer
}

TEST(LoopReceiver, AReaderThatIsBehindStopsTheReceiveAndCatchesUpIntact) {
  EventLoop loop(64);
  loop.enable();
  Connected c(loop);
  const unsigned all = loop.buffers().available();
  const std::string sent = pattern(16 << 20);  // twice the ring
  // A writer thread would block once the kernel's buffers fill: the peer writes without blocking
  // here, between loop turns.
  size_t written = 0;
  const auto write_some = [&] {
    while (written < sent.size()) {
      const ssize_t n = ::send(c.peer, sent.data() + written, sent.size() - written, MSG_DONTWAIT);
      if (n <= 0) return;
      written += static_cast<size_t>(n);
    }
  };
  // Nobody reads: once kThrottle buffers wait the receive is cancelled, and the rest stays in
  // the kernel. Before the cancel lands, one batch of the kernel's may bring what the socket
  // held (about 100 buffers here); without the throttle it would take the whole ring.
  for (int i = 0; i < 50; ++i) {
    write_some();
    loop.run_once(1ms);
  }
  const unsigned held = all - loop.buffers().available();
  EXPECT_GE(held, Receiver::kThrottle) << held;
  EXPECT_LT(held, all) << "a reader that is behind took the whole ring";
  expect_reads(loop, c.ours, 64 * 1024, sent, write_some);
  EXPECT_EQ(loop.buffers().available(), all);  // every buffer came back
}

TEST(LoopReceiver, WithTheRingEmptyAReadFallsBackToAPlainReceive) {
  EventLoop loop(64, /*provided_buffers=*/4);
  loop.enable();
  // The first socket fills the ring and nobody reads it.
  Connected hog(loop);
  write_fully(hog.peer, pattern(300'000));
  ASSERT_TRUE(run_until(loop, [&] { return loop.buffers().available() == 0; }));
  // The second still reads what it is sent, through plain receives into its reader's buffer.
  Connected c(loop);
  const std::string sent = pattern(50'000);
  write_fully(c.peer, sent);
  expect_reads(loop, c.ours, 4096, sent);
}

TEST(LoopReceiver, CancelEndsAParkedReadAndTheNextReadStillGetsTheBytes) {
  EventLoop loop(64);
  loop.enable();
  Connected c(loop);
  std::string got;
  std::optional<ErrorCode> error;
  loop.spawn(read_all(c.ours, 100, 1, got, error));
  loop.run_once(0ms);
  c.ours.cancel();
  ASSERT_TRUE(run_until(loop, [&] { return error.has_value(); }));
  EXPECT_EQ(*error, boost::asio::error::operation_aborted);
  error.reset();
  loop.spawn(read_all(c.ours, 100, 5, got, error));
  write_fully(c.peer, "hello");
  ASSERT_TRUE(run_until(loop, [&] { return got.size() == 5 || error; }));
  EXPECT_EQ(got, "hello");
}

TEST(LoopReceiver, CloseFromAnotherCoroutineEndsAParkedRead) {
  EventLoop loop(64);
  loop.enable();
  Connected c(loop);
  std::string got;
  std::optional<ErrorCode> error;
  loop.spawn(read_all(c.ours, 100, 1, got, error));
  loop.run_once(0ms);
  loop.spawn([](Socket& s) -> Task<void> {
    s.close();
    co_return;
  }(c.ours));
  ASSERT_TRUE(run_until(loop, [&] { return error.has_value(); }));
  EXPECT_EQ(*error, boost::asio::error::operation_aborted);
  // The peer sees the connection end.
  char byte;
  ASSERT_TRUE(run_until(loop, [&] { return ::recv(c.peer, &byte, 1, MSG_DONTWAIT) == 0; }));
}

TEST(LoopReceiver, ThePeersCloseComesAfterItsBytesAndStays) {
  EventLoop loop(64);
  loop.enable();
  Connected c(loop);
  write_fully(c.peer, "last words");
  ::shutdown(c.peer, SHUT_WR);
  std::string got;
  std::optional<ErrorCode> error;
  loop.spawn(read_all(c.ours, 4, 1000, got, error));
  ASSERT_TRUE(run_until(loop, [&] { return error.has_value(); }));
  EXPECT_EQ(got, "last words");
  EXPECT_FALSE(*error);  // end of stream, not a failure
  // Asked again, the end is still there.
  error.reset();
  loop.spawn(read_all(c.ours, 4, 1000, got, error));
  ASSERT_TRUE(error.has_value());  // at once: nothing to wait for
  EXPECT_FALSE(*error);
}

TEST(LoopReceiver, AnIdleSocketTellsWhetherAnythingCame) {
  EventLoop loop(64);
  loop.enable();
  Connected quiet(loop);
  Connected stray(loop);
  Connected closed(loop);
  // Armed in this turn: nothing known yet (the kernel may hold bytes the receive has not seen).
  EXPECT_EQ(quiet.ours.quiet(), std::nullopt);
  write_fully(stray.peer, "x");
  ::shutdown(closed.peer, SHUT_WR);
  ASSERT_TRUE(
      run_until(loop, [&] { return stray.ours.quiet() == false && closed.ours.quiet() == false; }));
  EXPECT_EQ(quiet.ours.quiet(), true);
  // A socket without a slot has no receive to ask.
  Socket plain(loop, ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(plain.quiet(), std::nullopt);
}

TEST(LoopReceiver, AViewLendsTheBytesWhereTheyAre) {
  EventLoop loop(64);
  loop.enable();
  Connected c(loop);
  const unsigned all = loop.buffers().available();
  write_fully(c.peer, "borrowed bytes");
  std::string got;
  bool in_caller_buffer = true;
  loop.spawn([](Socket& s, std::string& out, bool& in_own) -> Task<void> {
    char own[64];
    std::span<char> data;
    ErrorCode ec;
    const size_t n = co_await read_view(s, own, data, ec);
    in_own = data.data() >= own && data.data() < own + sizeof own;
    out.assign(data.data(), n);
    s.release_view();
  }(c.ours, got, in_caller_buffer));
  ASSERT_TRUE(run_until(loop, [&] { return !got.empty(); }));
  EXPECT_EQ(got, "borrowed bytes");
  EXPECT_FALSE(in_caller_buffer) << "the bytes were copied";
  EXPECT_EQ(loop.buffers().available(), all);  // released
}

}  // namespace
}  // namespace sb::loop
