// Unit tests of src/balance/p2c: two weighted random draws, the one with fewer active requests
// per unit of weight wins.
#include "balance/p2c.hpp"

#include <gtest/gtest.h>

#include <array>

#include "balance_test_support.hpp"

namespace sb {
namespace {

using balance_test::equal_instances;
using balance_test::make_instances;
using balance_test::picks;
using balance_test::ScriptedRandom;
using balance_test::set_active;

TEST(PowerOfTwo, LessLoadedOfTheTwoWins) {
  const auto list = equal_instances(3);
  ScriptedRandom random{0, 1, 1, 2, 2, 0};
  balance::Options options;
  options.random = &random;
  balance::PowerOfTwo p2c(list, options);
  set_active(*list[0], 5);
  set_active(*list[1], 1);
  set_active(*list[2], 3);
  EXPECT_EQ(picks(p2c, 3), "bbc");  // a|b -> b, b|c -> b, c|a -> c
}

TEST(PowerOfTwo, TieGoesToTheSecondDraw) {
  const auto list = equal_instances(3);
  ScriptedRandom random{0, 2};
  balance::Options options;
  options.random = &random;
  balance::PowerOfTwo p2c(list, options);
  EXPECT_EQ(picks(p2c, 1), "c");  // HAProxy's get_server_rnd keeps the later draw on a tie
}

TEST(PowerOfTwo, LoadIsPerUnitOfWeight) {
  const auto list = make_instances({1, 4});  // draws 0 | 1 2 3 4
  ScriptedRandom random{0, 1};
  balance::Options options;
  options.random = &random;
  balance::PowerOfTwo p2c(list, options);
  set_active(*list[0], 1);
  set_active(*list[1], 3);  // 3/4 per weight against 1/1
  EXPECT_EQ(picks(p2c, 1), "b");
}

TEST(PowerOfTwo, SecondChoiceIsAnotherInstance) {
  const auto list = equal_instances(3);
  ScriptedRandom random{1, 1, 1, 0};
  balance::Options options;
  options.random = &random;
  balance::PowerOfTwo p2c(list, options);
  set_active(*list[1], 2);
  EXPECT_EQ(picks(p2c, 1), "a");  // b, then b again (taken), b, then a: idle, a wins
  EXPECT_EQ(random.left(), 0u);
}

TEST(PowerOfTwo, TwoInstancesAlwaysCompareBoth) {
  const auto list = equal_instances(2);
  balance::PowerOfTwo p2c(list);
  set_active(*list[1], 1);
  EXPECT_EQ(picks(p2c, 200), std::string(200, 'a'));
}

TEST(PowerOfTwo, SingleEligibleInstanceIsPicked) {
  const auto list = equal_instances(3);
  balance::PowerOfTwo p2c(list);
  const std::array<bool, 3> only_c{true, true, false};
  EXPECT_EQ(picks(p2c, 5, only_c), "ccccc");
  const std::array<bool, 3> all{true, true, true};
  EXPECT_EQ(picks(p2c, 2, all), "--");
}

TEST(PowerOfTwo, AvoidsTheBusyInstanceMostOfTheTime) {
  const auto list = equal_instances(4);
  balance::PowerOfTwo p2c(list);  // the real generator
  set_active(*list[0], 50);
  int busy = 0;
  for (int i = 0; i < 10'000; ++i) busy += p2c.pick({}) == 0 ? 1 : 0;
  // The two choices are always distinct, so the busy one loses every comparison.
  EXPECT_EQ(busy, 0);
}

}  // namespace
}  // namespace sb
