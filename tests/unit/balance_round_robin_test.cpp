// Unit tests of src/balance/round_robin (nginx's smooth weighted round robin) and of the factory
// table that names the algorithms.
#include "balance/round_robin.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>

#include "balance_test_support.hpp"

namespace sb {
namespace {

using balance_test::count_letters;
using balance_test::make_instances;
using balance_test::picks;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(RoundRobin, ThirtyOverThreeIsTenEach) {
  const auto list = make_instances({1, 1, 1});
  balance::RoundRobin rr(list);
  const std::string sequence = picks(rr, 30);
  std::string expected;
  for (int i = 0; i < 10; ++i) expected += "abc";
  EXPECT_EQ(sequence, expected);
  EXPECT_EQ(count_letters(sequence), (std::map<char, int>{{'a', 10}, {'b', 10}, {'c', 10}}));
}

TEST(RoundRobin, SmoothWeights) {
  const auto list = make_instances({5, 1, 1});
  balance::RoundRobin rr(list);
  const std::string sequence = picks(rr, 7);
  EXPECT_EQ(sequence, "aabacaa");  // nginx's smooth sequence
  EXPECT_EQ(count_letters(sequence), (std::map<char, int>{{'a', 5}, {'b', 1}, {'c', 1}}));
  EXPECT_THAT(sequence, Not(HasSubstr("aaa")));  // never a burst of the heavy instance
  // The cycle repeats.
  EXPECT_EQ(picks(rr, 7), "aabacaa");
  EXPECT_EQ(picks(rr, 7), "aabacaa");
}

TEST(RoundRobin, ExcludedInstancesAreSkipped) {
  const auto list = make_instances({1, 1, 1});
  balance::RoundRobin rr(list);
  const std::array<bool, 3> exclude_b{false, true, false};
  const std::string sequence = picks(rr, 10, exclude_b);
  EXPECT_THAT(sequence, Not(HasSubstr("b")));
  EXPECT_EQ(std::count(sequence.begin(), sequence.end(), 'a'), 5);
  EXPECT_EQ(std::count(sequence.begin(), sequence.end(), 'c'), 5);
}

TEST(RoundRobin, ExcludedWeightedKeepsProportions) {
  const auto list = make_instances({5, 1, 1});
  balance::RoundRobin rr(list);
  const std::array<bool, 3> exclude_a{true, false, false};
  EXPECT_EQ(picks(rr, 10, exclude_a), "bcbcbcbcbc");
}

TEST(RoundRobin, AllExcludedIsNoInstance) {
  const auto list = make_instances({1, 2, 3});
  balance::RoundRobin rr(list);
  const std::array<bool, 3> all{true, true, true};
  EXPECT_EQ(rr.pick({all, std::nullopt}), balance::kNoInstance);
  // And it does not disturb later picks.
  EXPECT_NE(rr.pick({}), balance::kNoInstance);
}

TEST(RoundRobin, NoInstancesIsNoInstance) {
  const balance_test::Instances none;
  balance::RoundRobin rr(none);
  EXPECT_EQ(rr.pick({}), balance::kNoInstance);
}

TEST(BalanceFactory, KnowsEveryAlgorithm) {
  const auto list = make_instances({1, 1});
  const std::vector<std::string_view> expected{"round_robin", "least_conn", "ip_hash", "hash",
                                               "random",      "p2c",        "ewma"};
  EXPECT_THAT(balance::algorithm_names(), ::testing::ElementsAreArray(expected));
  for (const std::string_view name : expected) {
    EXPECT_TRUE(balance::is_known_algorithm(name)) << name;
    EXPECT_NE(balance::make_balancer(name, list), nullptr) << name;
  }
  EXPECT_FALSE(balance::is_known_algorithm("no_such_algorithm"));
  EXPECT_EQ(balance::make_balancer("no_such_algorithm", list), nullptr);
  auto rr = balance::make_balancer("round_robin", list);
  EXPECT_EQ(picks(*rr, 4), "abab");
}

TEST(BalanceFactory, NeedsAskOnlyForWhatTheAlgorithmUses) {
  const balance::Needs rr = balance::needs_of("round_robin");
  EXPECT_FALSE(rr.active_requests || rr.latency || rr.client_address || rr.request_key);
  const balance::Needs random = balance::needs_of("random");
  EXPECT_FALSE(random.active_requests || random.latency || random.client_address ||
               random.request_key);
  EXPECT_TRUE(balance::needs_of("least_conn").active_requests);
  EXPECT_TRUE(balance::needs_of("p2c").active_requests);
  EXPECT_TRUE(balance::needs_of("ewma").active_requests);
  EXPECT_TRUE(balance::needs_of("ewma").latency);
  EXPECT_TRUE(balance::needs_of("ip_hash").client_address);
  EXPECT_FALSE(balance::needs_of("ip_hash").active_requests);
  EXPECT_TRUE(balance::needs_of("hash").request_key);
  // Counting costs two atomic operations per request: hash pays them only with a bound.
  EXPECT_FALSE(balance::needs_of("hash").active_requests);
  balance::Options bounded;
  bounded.balance_factor = 150;
  EXPECT_TRUE(balance::needs_of("hash", bounded).active_requests);
}

}  // namespace
}  // namespace sb
