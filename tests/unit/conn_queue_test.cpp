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

TEST(ConnQueue, NotifyWakesTheLongestWaiterOfThatWorkerOnly) {
  asio::io_context context;
  ConnQueue queue(2);
  QueueTimer first_timer(context.get_executor()), second_timer(context.get_executor()),
      other_timer(context.get_executor());
  ConnQueue::Waiter first(queue, 0, first_timer), second(queue, 0, second_timer),
      other(queue, 1, other_timer);
  std::optional<ErrorCode> first_result, second_result, other_result;
  const auto arm = [](QueueTimer& timer, std::optional<ErrorCode>& result) {
    timer.expires_after(std::chrono::hours(1));
    timer.async_wait([&result](ErrorCode ec) { result = ec; });
  };
  arm(first_timer, first_result);
  arm(second_timer, second_result);
  arm(other_timer, other_result);
  first.park();
  second.park();
  other.park();

  queue.notify_one(0);
  context.run_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(first_result);
  EXPECT_EQ(*first_result, asio::error::operation_aborted);
  EXPECT_FALSE(second_result);
  EXPECT_FALSE(other_result);

  // Once the first has left the list, the next notification reaches the second.
  first.unpark();
  queue.notify_one(0);
  context.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(second_result);
  EXPECT_FALSE(other_result);
  other.unpark();
  queue.notify_one(1);  // nobody parked: nothing to wake, nothing breaks
}

TEST(ConnQueue, DestroyedWaiterLeavesTheList) {
  asio::io_context context;
  ConnQueue queue(1);
  QueueTimer kept_timer(context.get_executor());
  ConnQueue::Waiter kept(queue, 0, kept_timer);
  {
    QueueTimer gone_timer(context.get_executor());
    ConnQueue::Waiter gone(queue, 0, gone_timer);
    gone.park();
    kept.park();
  }
  std::optional<ErrorCode> result;
  kept_timer.expires_after(std::chrono::hours(1));
  kept_timer.async_wait([&](ErrorCode ec) { result = ec; });
  queue.notify_one(0);  // the gone waiter was first; it must not be touched
  context.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(result);
}

}  // namespace
}  // namespace sb::proxy
