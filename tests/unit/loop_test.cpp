// Unit tests of src/loop/: Tasks (results, exceptions, symmetric transfer, when_all), the event
// loop (timers, cancellation, work posted from another thread, stop, teardown of suspended
// coroutines), and sockets on loopback (accept, connect, send, receive, cancel, close, refused).
// Waits turn the loop with an upper bound; nothing sleeps.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "loop/event_loop.hpp"
#include "loop/socket.hpp"
#include "loop/stream.hpp"
#include "loop/task.hpp"
#include "run_until.hpp"

namespace sb::loop {
namespace {

using namespace std::chrono_literals;

using testing_support::run_until;

Task<int> forty_two() {
  co_return 42;
}
Task<int> add_one(Task<int> inner) {
  co_return co_await std::move(inner) + 1;
}
Task<void> fail() {
  throw std::runtime_error("boom");
  co_return;
}

TEST(LoopTask, ReturnsValuesThroughNestedAwaits) {
  EventLoop loop(64);
  loop.enable();
  std::optional<int> result;
  loop.spawn([](std::optional<int>& out) -> Task<void> {
    out = co_await add_one(add_one(forty_two()));
  }(result));
  ASSERT_TRUE(result);  // nothing waited on the kernel: done before spawn returned
  EXPECT_EQ(*result, 44);
  EXPECT_EQ(loop.roots().size(), 0u);
}

TEST(LoopTask, ExceptionReachesTheAwaiter) {
  EventLoop loop(64);
  loop.enable();
  std::string caught;
  loop.spawn([](std::string& out) -> Task<void> {
    try {
      co_await fail();
    } catch (const std::runtime_error& e) {
      out = e.what();
    }
  }(caught));
  EXPECT_EQ(caught, "boom");
}

TEST(LoopTask, DeepChainsDoNotGrowTheStack) {
  // Symmetric transfer: 100,000 Tasks each awaiting the next return without recursion.
  EventLoop loop(64);
  loop.enable();
  struct Chain {
    static Task<int> depth(int n) {
      if (n == 0) co_return 0;
      co_return co_await depth(n - 1) + 1;
    }
  };
  std::optional<int> result;
  loop.spawn(
      [](std::optional<int>& out) -> Task<void> { out = co_await Chain::depth(100000); }(result));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, 100000);
}

TEST(LoopTimer, FiresAfterItsTimeAndInOrder) {
  EventLoop loop(64);
  loop.enable();
  std::string order;
  const auto wait = [](EventLoop& l, std::chrono::milliseconds d, char mark,
                       std::string& out) -> Task<void> {
    Timer timer(l);
    const bool fired = co_await timer.wait_for(d);
    if (fired) out.push_back(mark);
  };
  const auto start = std::chrono::steady_clock::now();
  loop.spawn(wait(loop, 40ms, 'b', order));
  loop.spawn(wait(loop, 10ms, 'a', order));
  ASSERT_TRUE(run_until(loop, [&] { return order.size() == 2; }));
  EXPECT_EQ(order, "ab");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 40ms);
}

TEST(LoopTimer, CancelWakesTheWaiterAtOnceWithFalse) {
  EventLoop loop(64);
  loop.enable();
  Timer timer(loop);
  std::optional<bool> result;
  loop.spawn([](Timer& t, std::optional<bool>& out) -> Task<void> {
    out = co_await t.wait_for(1h);
  }(timer, result));
  EXPECT_TRUE(timer.waiting());
  timer.cancel();
  EXPECT_FALSE(result);  // resumed in the loop's turn, not from inside cancel()
  loop.run_once(0ms);
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result);
  EXPECT_FALSE(timer.waiting());
}

TEST(LoopWhenAll, EndsWhenBothHave) {
  EventLoop loop(64);
  loop.enable();
  std::string order;
  bool done = false;
  const auto wait = [](EventLoop& l, std::chrono::milliseconds d, char mark,
                       std::string& out) -> Task<void> {
    Timer timer(l);
    co_await timer.wait_for(d);
    out.push_back(mark);
  };
  loop.spawn([](EventLoop& l, std::string& out, bool& finished, auto& w) -> Task<void> {
    co_await when_all(w(l, 30ms, 'x', out), w(l, 5ms, 'y', out));
    finished = true;
  }(loop, order, done, wait));
  ASSERT_TRUE(run_until(loop, [&] { return done; }));
  EXPECT_EQ(order, "yx");
}

TEST(LoopWhenAll, BothFinishingAtOnceResumesTheParentOnce) {
  EventLoop loop(64);
  loop.enable();
  int resumed = 0;
  loop.spawn([](int& count) -> Task<void> {
    co_await when_all([]() -> Task<void> { co_return; }(), []() -> Task<void> { co_return; }());
    ++count;
  }(resumed));
  EXPECT_EQ(resumed, 1);
}

TEST(LoopEventLoop, RunsWorkPostedFromAnotherThreadAndStops) {
  EventLoop loop(64);
  std::atomic<int> ran{0};
  std::thread runner([&] { loop.run([] {}); });
  loop.post([&] { ran.fetch_add(1); });
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (ran.load() == 0 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  loop.stop();
  runner.join();
  EXPECT_EQ(ran.load(), 1);
}

// A listening socket on 127.0.0.1 with an ephemeral port.
boost::asio::ip::tcp::endpoint loopback() {
  return {boost::asio::ip::make_address("127.0.0.1"), 0};
}

TEST(LoopSocket, AcceptConnectSendReceive) {
  EventLoop loop(64);
  loop.enable();
  Listener listener(loop);
  listener.listen(loopback(), false);
  const auto address = listener.local_endpoint();
  std::string received;
  bool client_done = false;
  loop.spawn([](Listener& l, EventLoop& lp, std::string& out) -> Task<void> {
    const int fd = co_await l.accept();
    if (fd < 0) co_return;
    Socket server(lp, fd);
    char buffer[64];
    ErrorCode ec;
    for (;;) {
      const size_t n = co_await read_some(server, buffer, ec);
      if (n == 0) break;
      out.append(buffer, n);
    }
  }(listener, loop, received));
  loop.spawn([](EventLoop& lp, boost::asio::ip::tcp::endpoint to, bool& done) -> Task<void> {
    Socket client = Socket::open(lp, to);
    const int connected = co_await client.connect(to);
    EXPECT_EQ(connected, 0);
    ErrorCode ec;
    const boost::asio::const_buffer parts[] = {boost::asio::buffer("hello, ", 7),
                                               boost::asio::buffer("world", 5)};
    co_await write_all(client, parts, ec);
    EXPECT_FALSE(ec);
    client.close();
    done = true;
  }(loop, address, client_done));
  ASSERT_TRUE(run_until(loop, [&] { return client_done && received == "hello, world"; }));
}

TEST(LoopSocket, CancelEndsAPendingReceiveWithOperationAborted) {
  EventLoop loop(64);
  loop.enable();
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  Socket ours(loop, pair[0]);
  std::optional<ErrorCode> result;
  loop.spawn([](Socket& s, std::optional<ErrorCode>& out) -> Task<void> {
    char buffer[16];
    ErrorCode ec;
    co_await read_some(s, buffer, ec);
    out = ec;
  }(ours, result));
  loop.run_once(0ms);
  EXPECT_FALSE(result);
  ours.cancel();
  ASSERT_TRUE(run_until(loop, [&] { return result.has_value(); }));
  EXPECT_EQ(*result, boost::asio::error::operation_aborted);
  EXPECT_TRUE(ours.is_open());
  ::close(pair[1]);
}

TEST(LoopSocket, CloseFromAnotherCoroutineEndsItsReceive) {
  EventLoop loop(64);
  loop.enable();
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  Socket ours(loop, pair[0]);
  std::optional<size_t> got;
  loop.spawn([](Socket& s, std::optional<size_t>& out) -> Task<void> {
    char buffer[16];
    ErrorCode ec;
    out = co_await read_some(s, buffer, ec);
  }(ours, got));
  loop.run_once(0ms);
  ours.close();
  ASSERT_TRUE(run_until(loop, [&] { return got.has_value(); }));
  EXPECT_EQ(*got, 0u);
  EXPECT_FALSE(ours.is_open());
  ::close(pair[1]);
}

TEST(LoopSocket, AFileSlotCarriesOperationsCancelsOlderOnesAndLetsCloseClose) {
  EventLoop loop(64);
  loop.enable();
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  Socket ours(loop, pair[0]);
  // A receive submitted with the plain descriptor, then the socket gets its slot: cancelling
  // through the slot still ends it (the kernel matches the file).
  std::optional<ErrorCode> first;
  loop.spawn([](Socket& s, std::optional<ErrorCode>& out) -> Task<void> {
    char buffer[16];
    ErrorCode ec;
    co_await read_some(s, buffer, ec);
    out = ec;
  }(ours, first));
  loop.run_once(0ms);
  ours.use_file_slot();
  ours.cancel();
  ASSERT_TRUE(run_until(loop, [&] { return first.has_value(); }));
  EXPECT_EQ(*first, boost::asio::error::operation_aborted);
  // Through the slot: receive and send.
  std::string got;
  loop.spawn([](Socket& s, std::string& out) -> Task<void> {
    char buffer[16];
    ErrorCode ec;
    const size_t n = co_await read_some(s, buffer, ec);
    out.assign(buffer, n);
    co_await write_all(s, std::string_view("pong"), ec);
  }(ours, got));
  ASSERT_EQ(::write(pair[1], "ping", 4), 4);
  ASSERT_TRUE(run_until(loop, [&] { return got == "ping"; }));
  char reply[8];
  ASSERT_TRUE(run_until(loop, [&] { return ::recv(pair[1], reply, 4, MSG_DONTWAIT) == 4; }));
  EXPECT_EQ(std::string(reply, 4), "pong");
  // Closing frees the slot too, so the connection really ends: the peer reads end of stream
  // (once the loop has turned: the cancelled multishot receive lets go of the file then).
  ours.close();
  ASSERT_TRUE(run_until(loop, [&] { return ::recv(pair[1], reply, 1, MSG_DONTWAIT) == 0; }));
  ::close(pair[1]);
}

TEST(LoopSocket, ConnectToAClosedPortIsRefused) {
  EventLoop loop(64);
  loop.enable();
  // A port nobody listens on: bind one, note it, close it.
  Listener probe(loop);
  probe.listen(loopback(), false);
  const auto address = probe.local_endpoint();
  probe.close();
  std::optional<int> result;
  loop.spawn(
      [](EventLoop& lp, boost::asio::ip::tcp::endpoint to, std::optional<int>& out) -> Task<void> {
        Socket s = Socket::open(lp, to);
        out = co_await s.connect(to);
      }(loop, address, result));
  ASSERT_TRUE(run_until(loop, [&] { return result.has_value(); }));
  EXPECT_EQ(*result, -ECONNREFUSED);
}

TEST(LoopEventLoop, ShutdownDestroysSuspendedCoroutinesAndTheirLocals) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  struct Witness {
    bool& destroyed;
    ~Witness() { destroyed = true; }
  };
  bool destroyed = false;
  {
    EventLoop loop(64);
    loop.enable();
    loop.spawn([](EventLoop& lp, int fd, bool& flag) -> Task<void> {
      Witness witness{flag};
      Socket s(lp, fd);  // closed by the teardown, with its receive cancelled first
      char buffer[16];
      ErrorCode ec;
      co_await read_some(s, buffer, ec);
      ADD_FAILURE() << "resumed during teardown";
    }(loop, pair[0], destroyed));
    loop.run_once(0ms);
    EXPECT_EQ(loop.roots().size(), 1u);
    EXPECT_EQ(loop.in_flight(), 2u);  // the receive and the loop's own wake-up read
    loop.shutdown();
    EXPECT_TRUE(destroyed);
    EXPECT_EQ(loop.roots().size(), 0u);
  }
  // Our end was closed with the coroutine: the peer sees end of file.
  char byte;
  EXPECT_EQ(::read(pair[1], &byte, 1), 0);
  ::close(pair[1]);
}

}  // namespace
}  // namespace sb::loop
