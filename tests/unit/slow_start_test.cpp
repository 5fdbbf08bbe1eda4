// Unit tests of slow start in the balancers: round_robin and least_conn weigh by the pick's
// weights when given (the session ramps a joining instance's from 10 % to 100 %), so a ramping
// instance gets its reduced share, and its full share once the ramp is over.
#include <gtest/gtest.h>

#include <array>

#include "balance/least_conn.hpp"
#include "balance/round_robin.hpp"
#include "balance_test_support.hpp"

namespace sb::balance_test {
namespace {

int share_of_first(balance::Balancer& balancer, std::span<const uint32_t> weights, int picks) {
  int first = 0;
  for (int i = 0; i < picks; ++i) {
    balance::PickContext context{{}, std::nullopt, weights};
    if (balancer.pick(context) == 0) ++first;
  }
  return first;
}

TEST(SlowStart, RoundRobinGivesARampingInstanceItsReducedShare) {
  const auto instances = equal_instances(3);
  balance::RoundRobin balancer(instances, {});
  // The first instance at 10 % of its weight (10 of 100), the others at full weight.
  const std::array<uint32_t, 3> ramping{10, 100, 100};
  EXPECT_EQ(share_of_first(balancer, ramping, 210), 10);  // 10/210 of the picks
  const std::array<uint32_t, 3> half{50, 100, 100};
  EXPECT_EQ(share_of_first(balancer, half, 250), 50);
  const std::array<uint32_t, 3> full{100, 100, 100};
  EXPECT_EQ(share_of_first(balancer, full, 300), 100);
}

TEST(SlowStart, LeastConnWeighsActiveRequestsByTheRampedWeight) {
  const auto instances = equal_instances(2);
  balance::LeastConn balancer(instances, {});
  set_active(*instances[0], 1);
  set_active(*instances[1], 4);
  // At full weight the first (1 active) wins; at 10 % its 1 active weighs like 10 at full weight.
  const std::array<uint32_t, 2> full{100, 100};
  EXPECT_EQ(share_of_first(balancer, full, 1), 1);
  const std::array<uint32_t, 2> ramping{10, 100};
  EXPECT_EQ(share_of_first(balancer, ramping, 1), 0);
}

}  // namespace
}  // namespace sb::balance_test
