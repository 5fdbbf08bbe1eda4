// Unit tests of src/proxy/conn_queue.hpp: the queue's bound across workers, and that a finished
// request wakes its worker's longest waiter (and only that one).
#include <gtest/gtest.h>

#include <optional>

#include "proxy/conn_queue.hpp"

namespace sb::proxy {
namespace {

TEST(ConnQueue, AdmitsUpToItsSize) {
  ConnQueue queue(2);
  EXPECT_TRUE(queue.enter(2));
  EXPECT_TRUE(queue.enter(2));
  EXPECT_FALSE(queue.enter(2));
  queue.leave();
  EXPECT_TRUE(queue.enter(2));
  EXPECT_EQ(queue.waiting(), 2);
  EXPECT_FALSE(ConnQueue(1).enter(0));  // size 0: nobody waits
}

// A coroutine waiting an hour on `timer`; `result` says how the wait ended (false: cut short).
loop::Task<void> wait_long(QueueTimer& timer, std::optional<bool>& result) {
  result = co_await timer.wait_for(std::chrono::hours(1));
}

void turn(loop::EventLoop& loop) {
  for (int i = 0; i < 3; ++i) loop.run_once(std::chrono::milliseconds(1));
}

TEST(ConnQueue, NotifyWakesTheLongestWaiterOfThatWorkerOnly) {
  loop::EventLoop loop(64);
  loop.enable();
  ConnQueue queue(2);
  QueueTimer first_timer(loop), second_timer(loop), other_timer(loop);
  ConnQueue::Waiter first(queue, 0, first_timer), second(queue, 0, second_timer),
      other(queue, 1, other_timer);
  std::optional<bool> first_result, second_result, other_result;
  loop.spawn(wait_long(first_timer, first_result));
  loop.spawn(wait_long(second_timer, second_result));
  loop.spawn(wait_long(other_timer, other_result));
  first.park();
  second.park();
  other.park();

  queue.notify_one(0);
  turn(loop);
  ASSERT_TRUE(first_result);
  EXPECT_FALSE(*first_result);  // woken, not timed out
  EXPECT_FALSE(second_result);
  EXPECT_FALSE(other_result);

  // Once the first has left the list, the next notification reaches the second.
  first.unpark();
  queue.notify_one(0);
  turn(loop);
  EXPECT_TRUE(second_result);
  EXPECT_FALSE(other_result);
  other.unpark();
  queue.notify_one(1);  // nobody parked: nothing to wake, nothing breaks
  other_timer.cancel();
  turn(loop);
}

TEST(ConnQueue, DestroyedWaiterLeavesTheList) {
  loop::EventLoop loop(64);
  loop.enable();
  ConnQueue queue(1);
  QueueTimer kept_timer(loop);
  ConnQueue::Waiter kept(queue, 0, kept_timer);
  {
    QueueTimer gone_timer(loop);
    ConnQueue::Waiter gone(queue, 0, gone_timer);
    gone.park();
    kept.park();
  }
  std::optional<bool> result;
  loop.spawn(wait_long(kept_timer, result));
  queue.notify_one(0);  // the gone waiter was first; it must not be touched
  turn(loop);
  EXPECT_TRUE(result);
}

}  // namespace
}  // namespace sb::proxy
