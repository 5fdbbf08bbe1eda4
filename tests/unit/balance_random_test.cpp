// Unit tests of src/balance/random and src/balance/weighted_sampler: weighted random draws that
// skip excluded instances.
#include "balance/random.hpp"

#include <gtest/gtest.h>

#include <array>

#include "balance_test_support.hpp"

namespace sb {
namespace {

using balance_test::equal_instances;
using balance_test::make_instances;
using balance_test::picks;
using balance_test::ScriptedRandom;

TEST(RandomPick, FollowsTheScriptedDraws) {
  const auto list = equal_instances(3);
  ScriptedRandom random{2, 0, 1, 1};
  balance::Options options;
  options.random = &random;
  balance::RandomPick pick(list, options);
  EXPECT_EQ(picks(pick, 4), "cabb");
}

TEST(RandomPick, WeightsMapDrawsToInstances) {
  const auto list = make_instances({1, 3, 2});  // draws 0 | 1 2 3 | 4 5
  ScriptedRandom random{0, 1, 3, 4, 5};
  balance::Options options;
  options.random = &random;
  balance::RandomPick pick(list, options);
  EXPECT_EQ(picks(pick, 5), "abbcc");
}

TEST(RandomPick, ExcludedDrawIsDrawnAgain) {
  const auto list = equal_instances(3);
  ScriptedRandom random{1, 1, 2};
  balance::Options options;
  options.random = &random;
  balance::RandomPick pick(list, options);
  const std::array<bool, 3> exclude_b{false, true, false};
  EXPECT_EQ(picks(pick, 1, exclude_b), "c");  // b, b, then c
  EXPECT_EQ(random.left(), 0u);
}

TEST(RandomPick, UnluckyDrawsEndInAnExactDraw) {
  const auto list = equal_instances(4);
  // Four misses, then one draw over the eligible weight: c (0) and d (1).
  ScriptedRandom random{0, 0, 1, 1, 1};
  balance::Options options;
  options.random = &random;
  balance::RandomPick pick(list, options);
  const std::array<bool, 4> exclude_ab{true, true, false, false};
  EXPECT_EQ(picks(pick, 1, exclude_ab), "d");
}

TEST(RandomPick, SpreadFollowsWeights) {
  const auto list = make_instances({1, 2, 3});
  balance::RandomPick pick(list);  // the real generator
  std::array<int, 3> counts{};
  constexpr int kPicks = 60'000;
  for (int i = 0; i < kPicks; ++i) ++counts[pick.pick({})];
  EXPECT_NEAR(counts[0] / double{kPicks}, 1 / 6.0, 0.015);
  EXPECT_NEAR(counts[1] / double{kPicks}, 2 / 6.0, 0.015);
  EXPECT_NEAR(counts[2] / double{kPicks}, 3 / 6.0, 0.015);
}

TEST(RandomPick, AllExcludedIsNoInstance) {
  const auto list = equal_instances(2);
  balance::RandomPick pick(list);
  const std::array<bool, 2> all{true, true};
  EXPECT_EQ(picks(pick, 3, all), "---");
  const balance_test::Instances none;
  balance::RandomPick empty(none);
  EXPECT_EQ(picks(empty, 1), "-");
}

}  // namespace
}  // namespace sb
