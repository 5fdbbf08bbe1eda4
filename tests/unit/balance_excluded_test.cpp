// Every algorithm, through the factory: never an excluded instance, kNoInstance when all are
// excluded or there are none, with and without a key, over many random exclusion masks.
#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>

#include "balance/balancer.hpp"
#include "balance_test_support.hpp"
#include "core/random.hpp"

namespace sb {
namespace {

using balance_test::make_instances;

class EveryAlgorithm : public ::testing::TestWithParam<std::string_view> {};

TEST_P(EveryAlgorithm, NeverReturnsAnExcludedInstance) {
  const auto list = make_instances({1, 3, 1, 2, 1, 5, 1});
  balance::SharedTables shared;
  balance::Options options;
  options.balance_factor = GetParam() == "hash" ? 150 : 0;
  options.shared = &shared;
  auto balancer = balance::make_balancer(GetParam(), list, options);
  ASSERT_NE(balancer, nullptr);
  FastRandom random(42);
  const auto excluded = std::make_unique<bool[]>(list.size());
  for (int round = 0; round < 3'000; ++round) {
    bool any_eligible = false;
    for (size_t i = 0; i < list.size(); ++i) {
      // About a third excluded; every 50th round all of them.
      excluded[i] = round % 50 == 0 || random.below(3) == 0;
      any_eligible = any_eligible || !excluded[i];
    }
    balance::PickContext context{{excluded.get(), list.size()}, std::nullopt};
    if (round % 2 == 1) context.key = random.below(UINT64_MAX);
    const size_t index = balancer->pick(context);
    if (!any_eligible) {
      EXPECT_EQ(index, balance::kNoInstance) << "round " << round;
      continue;
    }
    ASSERT_LT(index, list.size()) << "round " << round;
    EXPECT_FALSE(excluded[index]) << "round " << round << " picked excluded " << index;
  }
}

TEST_P(EveryAlgorithm, NoInstancesIsNoInstance) {
  const balance_test::Instances none;
  auto balancer = balance::make_balancer(GetParam(), none);
  ASSERT_NE(balancer, nullptr);
  EXPECT_EQ(balancer->pick({}), balance::kNoInstance);
  EXPECT_EQ(balancer->pick({{}, uint64_t{12345}}), balance::kNoInstance);
}

TEST_P(EveryAlgorithm, ShortMaskExcludesOnlyWhatItCovers) {
  const auto list = make_instances({1, 1, 1});
  auto balancer = balance::make_balancer(GetParam(), list);
  const std::array<bool, 1> exclude_a{true};
  for (int i = 0; i < 100; ++i) {
    const size_t index = balancer->pick({exclude_a, uint64_t(i) * 0x9E3779B97F4A7C15ULL});
    EXPECT_TRUE(index == 1 || index == 2) << index;
  }
}

INSTANTIATE_TEST_SUITE_P(Balance, EveryAlgorithm, ::testing::ValuesIn(balance::algorithm_names()),
                         [](const auto& param) { return std::string(param.param); });

}  // namespace
}  // namespace sb
