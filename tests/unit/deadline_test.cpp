// Unit tests for src/core/deadline: the per-worker sweep fires armed deadlines once they are due,
// never disarmed ones; expire_idle/expire_all fire on demand; a Deadline unlinks itself when
// destroyed. Waits turn the event loop with an upper bound instead of sleeping.
#include "core/deadline.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "run_until.hpp"

namespace sb {
namespace {

using namespace std::chrono_literals;

struct Fired {
  int count = 0;
};

void count_expiry(void* context) {
  ++static_cast<Fired*>(context)->count;
}

using testing_support::run_until;

class DeadlineTest : public testing::Test {
 protected:
  void SetUp() override {
    io_.enable();
    sweeper_.start();
  }
  void TearDown() override { sweeper_.stop(); }

  loop::EventLoop io_{64};
  DeadlineSweeper sweeper_{io_, 10ms};
};

TEST_F(DeadlineTest, ArmedDeadlineFiresAfterItsTimeout) {
  Fired fired;
  Deadline deadline(sweeper_, count_expiry, &fired);
  const auto armed_at = CoarseClock::now();
  deadline.arm(50ms);
  EXPECT_FALSE(deadline.expired());
  ASSERT_TRUE(run_until(io_, [&] { return fired.count > 0; }));
  EXPECT_GE(CoarseClock::now() - armed_at, 50ms);
  EXPECT_TRUE(deadline.expired());
  EXPECT_EQ(fired.count, 1);

  // Later sweeps do not fire it again: wait for a second deadline armed now to fire.
  Fired later;
  Deadline marker(sweeper_, count_expiry, &later);
  marker.arm(30ms);
  ASSERT_TRUE(run_until(io_, [&] { return later.count > 0; }));
  EXPECT_EQ(fired.count, 1);
}

TEST_F(DeadlineTest, DisarmedDeadlineDoesNotFire) {
  Fired disarmed_fired;
  Fired marker_fired;
  Deadline disarmed(sweeper_, count_expiry, &disarmed_fired);
  Deadline marker(sweeper_, count_expiry, &marker_fired);
  disarmed.arm(20ms);
  marker.arm(60ms);
  disarmed.disarm();
  // Once the later marker fires, a sweep has run after the disarmed one would have been due.
  ASSERT_TRUE(run_until(io_, [&] { return marker_fired.count > 0; }));
  EXPECT_EQ(disarmed_fired.count, 0);
  EXPECT_FALSE(disarmed.expired());
}

TEST_F(DeadlineTest, DeadlineNotYetDueDoesNotFire) {
  Fired far_fired;
  Fired near_fired;
  Deadline far(sweeper_, count_expiry, &far_fired);
  Deadline near(sweeper_, count_expiry, &near_fired);
  far.arm(60s);
  near.arm(30ms);
  ASSERT_TRUE(run_until(io_, [&] { return near_fired.count > 0; }));
  EXPECT_EQ(far_fired.count, 0);
  EXPECT_FALSE(far.expired());
}

TEST_F(DeadlineTest, RearmingClearsExpiredAndFiresAgain) {
  Fired fired;
  Deadline deadline(sweeper_, count_expiry, &fired);
  deadline.arm(0ms);
  ASSERT_TRUE(run_until(io_, [&] { return fired.count == 1; }));
  EXPECT_TRUE(deadline.expired());
  deadline.arm(20ms);
  EXPECT_FALSE(deadline.expired());
  ASSERT_TRUE(run_until(io_, [&] { return fired.count == 2; }));
  EXPECT_TRUE(deadline.expired());
}

TEST_F(DeadlineTest, ExpireIdleFiresOnlyArmedIdleDeadlines) {
  Fired idle_fired;
  Fired busy_fired;
  Fired idle_disarmed_fired;
  Deadline idle(sweeper_, count_expiry, &idle_fired);
  Deadline busy(sweeper_, count_expiry, &busy_fired);
  Deadline idle_disarmed(sweeper_, count_expiry, &idle_disarmed_fired);
  idle.set_idle(true);
  idle.arm(60s);
  busy.arm(60s);
  idle_disarmed.set_idle(true);

  sweeper_.expire_idle();
  EXPECT_EQ(idle_fired.count, 1);
  EXPECT_TRUE(idle.expired());
  EXPECT_EQ(busy_fired.count, 0);
  EXPECT_FALSE(busy.expired());
  EXPECT_EQ(idle_disarmed_fired.count, 0);

  // A connection that left the idle state is not closed by the next drain.
  busy.set_idle(false);
  idle.set_idle(false);
  idle.arm(60s);
  sweeper_.expire_idle();
  EXPECT_EQ(idle_fired.count, 1);
  EXPECT_EQ(busy_fired.count, 0);
}

TEST_F(DeadlineTest, ExpireAllFiresEveryArmedDeadline) {
  Fired a_fired;
  Fired b_fired;
  Fired unarmed_fired;
  Deadline a(sweeper_, count_expiry, &a_fired);
  Deadline b(sweeper_, count_expiry, &b_fired);
  Deadline unarmed(sweeper_, count_expiry, &unarmed_fired);
  a.arm(60s);
  b.arm(1h);
  sweeper_.expire_all();
  EXPECT_EQ(a_fired.count, 1);
  EXPECT_EQ(b_fired.count, 1);
  EXPECT_EQ(unarmed_fired.count, 0);
  sweeper_.expire_all();  // fired deadlines are disarmed
  EXPECT_EQ(a_fired.count, 1);
  EXPECT_EQ(b_fired.count, 1);
}

TEST_F(DeadlineTest, DestroyedDeadlineUnlinks) {
  Fired fired[4];
  EXPECT_EQ(sweeper_.size(), 0u);
  auto first = std::make_unique<Deadline>(sweeper_, count_expiry, &fired[0]);
  auto middle = std::make_unique<Deadline>(sweeper_, count_expiry, &fired[1]);
  auto last = std::make_unique<Deadline>(sweeper_, count_expiry, &fired[2]);
  EXPECT_EQ(sweeper_.size(), 3u);
  first->arm(0ms);
  middle->arm(0ms);
  last->arm(0ms);

  middle.reset();
  EXPECT_EQ(sweeper_.size(), 2u);
  sweeper_.expire_all();  // would touch freed memory (ASan) if the list still held it
  EXPECT_EQ(fired[0].count, 1);
  EXPECT_EQ(fired[1].count, 0);
  EXPECT_EQ(fired[2].count, 1);

  last.reset();  // the most recently linked: the list's head
  EXPECT_EQ(sweeper_.size(), 1u);
  auto added = std::make_unique<Deadline>(sweeper_, count_expiry, &fired[3]);
  EXPECT_EQ(sweeper_.size(), 2u);
  first->arm(0ms);
  added->arm(0ms);
  sweeper_.expire_all();
  EXPECT_EQ(fired[0].count, 2);
  EXPECT_EQ(fired[3].count, 1);

  first.reset();
  added.reset();
  EXPECT_EQ(sweeper_.size(), 0u);
  sweeper_.expire_all();
}

TEST_F(DeadlineTest, DestroyedArmedDeadlineIsNotSwept) {
  Fired gone_fired;
  Fired marker_fired;
  auto gone = std::make_unique<Deadline>(sweeper_, count_expiry, &gone_fired);
  Deadline marker(sweeper_, count_expiry, &marker_fired);
  gone->arm(0ms);
  marker.arm(20ms);
  gone.reset();
  ASSERT_TRUE(run_until(io_, [&] { return marker_fired.count > 0; }));
  EXPECT_EQ(gone_fired.count, 0);
}

TEST(DeadlineSweeperStop, StoppedSweeperFiresNothing) {
  loop::EventLoop io{64};
  io.enable();
  DeadlineSweeper sweeper(io, 10ms);
  Fired fired;
  Deadline deadline(sweeper, count_expiry, &fired);
  sweeper.start();
  deadline.arm(0ms);
  sweeper.stop();
  // Past several sweep periods, with the sweeping coroutine ended by the stop.
  const auto until = std::chrono::steady_clock::now() + 50ms;
  while (std::chrono::steady_clock::now() < until) io.run_once(10ms);
  EXPECT_EQ(io.roots().size(), 0u);
  EXPECT_EQ(fired.count, 0);
  EXPECT_FALSE(deadline.expired());
}

TEST(CoarseClockTest, IsMonotonic) {
  const auto a = CoarseClock::now();
  const auto b = CoarseClock::now();
  EXPECT_LE(a, b);
  EXPECT_GT(a.time_since_epoch().count(), 0);
}

}  // namespace
}  // namespace sb
