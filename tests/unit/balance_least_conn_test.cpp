// Unit tests of src/balance/least_conn: nginx's weighted least connections with a smooth
// round-robin tie-break, over active-request counts shared by every worker.
#include "balance/least_conn.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <thread>

#include "balance_test_support.hpp"

namespace sb {
namespace {

using balance_test::count_letters;
using balance_test::make_instances;
using balance_test::picks;
using balance_test::set_active;

TEST(LeastConn, IdleInstancesTakeTurns) {
  const auto list = make_instances({1, 1, 1});
  balance::LeastConn lc(list);
  EXPECT_EQ(picks(lc, 9), "abcabcabc");
}

TEST(LeastConn, TiesFollowSmoothWeights) {
  const auto list = make_instances({5, 1, 1});
  balance::LeastConn lc(list);
  EXPECT_EQ(picks(lc, 7), "aabacaa");  // all idle: round robin's own sequence
}

TEST(LeastConn, SteersAroundABusyInstance) {
  const auto list = make_instances({1, 1, 1});
  balance::LeastConn lc(list);
  set_active(*list[0], 3);
  set_active(*list[2], 1);
  EXPECT_EQ(picks(lc, 4), "bbbb");  // b has none in flight (the counts do not move here)
  set_active(*list[1], 1);
  EXPECT_EQ(count_letters(picks(lc, 10)), (std::map<char, int>{{'b', 5}, {'c', 5}}));
}

TEST(LeastConn, FollowsRequestsAsTheyStartAndEnd) {
  const auto list = make_instances({1, 1, 1});
  balance::LeastConn lc(list);
  // A slow instance keeps its requests; fast ones finish before the next pick.
  upstream::ActiveRequest slow;
  std::string sequence;
  for (int i = 0; i < 12; ++i) {
    const size_t index = lc.pick({});
    sequence.push_back(static_cast<char>('a' + index));
    if (index == 0) {
      slow.assign(*list[0]);  // held, never released during the run
    }
  }
  EXPECT_EQ(sequence.front(), 'a');
  EXPECT_EQ(std::count(sequence.begin(), sequence.end(), 'a'), 1) << sequence;
}

TEST(LeastConn, CountsPerUnitOfWeight) {
  const auto list = make_instances({1, 3});
  balance::LeastConn lc(list);
  set_active(*list[0], 1);
  set_active(*list[1], 2);  // 2/3 per weight against 1/1
  EXPECT_EQ(picks(lc, 1), "b");
  set_active(*list[1], 4);  // 4/3 against 1
  EXPECT_EQ(picks(lc, 1), "a");
}

TEST(LeastConn, CountsAreGlobalAcrossWorkers) {
  const auto list = make_instances({1, 1});
  balance::LeastConn worker0(list);
  balance::LeastConn worker1(list);
  // Worker 0 sends a request to a and keeps it; worker 1 sees it and goes to b every time.
  upstream::ActiveRequest held;
  ASSERT_EQ(worker0.pick({}), 0u);
  held.assign(*list[0]);
  EXPECT_EQ(picks(worker1, 4), "bbbb");
  held.release();
  EXPECT_EQ(list[0]->active_requests(), 0);
}

TEST(LeastConn, ExcludedNeverPicked) {
  const auto list = make_instances({1, 1, 1});
  balance::LeastConn lc(list);
  set_active(*list[0], 5);
  set_active(*list[1], 5);
  const std::array<bool, 3> exclude_c{false, false, true};
  // c is idle but excluded: the two busy ones share the picks.
  EXPECT_EQ(count_letters(picks(lc, 6, exclude_c)), (std::map<char, int>{{'a', 3}, {'b', 3}}));
  const std::array<bool, 3> all{true, true, true};
  EXPECT_EQ(picks(lc, 2, all), "--");
}

TEST(ActiveRequest, MovesAndReleases) {
  const auto list = make_instances({1, 1});
  {
    upstream::ActiveRequest request;
    request.assign(*list[0]);
    EXPECT_EQ(list[0]->active_requests(), 1);
    request.assign(*list[1]);  // a retry on another instance
    EXPECT_EQ(list[0]->active_requests(), 0);
    EXPECT_EQ(list[1]->active_requests(), 1);
  }
  EXPECT_EQ(list[1]->active_requests(), 0);  // released by the destructor
}

TEST(ActiveRequest, ConcurrentWorkersLeaveNoCount) {
  const auto list = make_instances({1});
  std::array<std::thread, 4> threads;
  for (auto& thread : threads) {
    thread = std::thread([&] {
      for (int i = 0; i < 20'000; ++i) {
        upstream::ActiveRequest request;
        request.assign(*list[0]);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(list[0]->active_requests(), 0);
}

}  // namespace
}  // namespace sb
