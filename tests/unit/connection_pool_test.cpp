// Unit tests of src/upstream/connection_pool: the per-instance connection gauges it keeps as
// connections come back idle, go out again, are dropped (stale, over max_idle) and evicted.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <unordered_set>
#include <vector>

#include "loop/event_loop.hpp"
#include "loop/socket.hpp"
#include "upstream/connection_pool.hpp"

namespace sb {
namespace {

using std::chrono_literals::operator""s;

// One end of a socket pair as a pooled connection; the other end stays with the test, so the
// pool's peek finds the connection alive until the test closes it.
class Connections {
 public:
  ~Connections() {
    for (const int fd : peers_) ::close(fd);
  }
  loop::Socket open(loop::EventLoop& loop, upstream::InstanceCounters& counters) {
    int pair[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    peers_.push_back(pair[1]);
    counters.connections.add();  // as the session counts a connection it opens
    return loop::Socket(loop, pair[0]);
  }
  void close_peer(size_t i) {
    ::close(peers_[i]);
    peers_[i] = -1;
  }

 private:
  std::vector<int> peers_;
};

TEST(ConnectionPool, KeepsTheInstanceConnectionGauges) {
  loop::EventLoop loop;
  upstream::InstanceCounters counters;
  upstream::ConnectionPool pool(2, 30s);
  Connections connections;
  for (int i = 0; i < 3; ++i) pool.give(7, counters, connections.open(loop, counters));
  // Three came back, two stay idle: the least recently used one is closed.
  EXPECT_EQ(counters.connections.get(), 2u);
  EXPECT_EQ(counters.idle_connections.get(), 2u);

  std::optional<loop::Socket> in_use = pool.take(7);  // the most recent one (peer 2)
  ASSERT_TRUE(in_use.has_value());
  EXPECT_EQ(counters.connections.get(), 2u);  // still open, in use now
  EXPECT_EQ(counters.idle_connections.get(), 1u);

  connections.close_peer(1);  // the backend closed the idle one: dropped when next taken
  EXPECT_FALSE(pool.take(7).has_value());
  EXPECT_EQ(counters.connections.get(), 1u);
  EXPECT_EQ(counters.idle_connections.get(), 0u);

  pool.give(7, counters, std::move(*in_use));
  EXPECT_EQ(counters.idle_connections.get(), 1u);
  // Still routed: kept. No longer routed but shown (draining): closed and counted.
  const std::unordered_set<uint64_t> routed{7};
  const std::unordered_set<uint64_t> none;
  pool.evict(&routed, &routed);
  EXPECT_EQ(pool.idle_count(), 1u);
  pool.evict(&none, &routed);
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_EQ(counters.connections.get(), 0u);
  EXPECT_EQ(counters.idle_connections.get(), 0u);
}

TEST(ConnectionPool, GoneInstancesAreEvictedWithoutTouchingTheirCounters) {
  loop::EventLoop loop;
  upstream::InstanceCounters counters;
  upstream::ConnectionPool pool(4, 30s);
  Connections connections;
  pool.give(9, counters, connections.open(loop, counters));
  const std::unordered_set<uint64_t> none;
  pool.evict(&none, &none);  // the instance left the snapshot: its counters may be gone
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_EQ(counters.connections.get(), 1u);
}

TEST(ConnectionPool, WithoutKeepaliveAConnectionGivenBackIsClosed) {
  loop::EventLoop loop;
  upstream::InstanceCounters counters;
  upstream::ConnectionPool pool(0, 30s);
  Connections connections;
  pool.give(1, counters, connections.open(loop, counters));
  EXPECT_EQ(counters.connections.get(), 0u);
  EXPECT_EQ(counters.idle_connections.get(), 0u);
}

}  // namespace
}  // namespace sb
