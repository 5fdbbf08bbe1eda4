// Unit tests of src/balance/hash (Maglev consistent hashing with HAProxy's bounded load) and of
// src/core/hash (xxHash64).
#include "balance/hash.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "balance_test_support.hpp"
#include "core/hash.hpp"

namespace sb {
namespace {

using balance_test::equal_instances;
using balance_test::Instances;
using balance_test::keyed;
using balance_test::make_instances;
using balance_test::set_active;

uint64_t key(int i) {
  return balance::hash_key("user-" + std::to_string(i));
}

// The label of the instance each of `keys` keys lands on.
std::vector<std::string> assignment(const Instances& list, int keys) {
  balance::Hash hash(list);
  std::vector<std::string> out;
  out.reserve(keys);
  for (int i = 0; i < keys; ++i) out.push_back(list[hash.pick(keyed(key(i)))]->label());
  return out;
}

TEST(XxHash64, ReferenceVectors) {
  EXPECT_EQ(xxhash64(""), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(xxhash64("abc"), 0x44BC2CF5AD770999ULL);
  // 39 bytes: the 32-byte stripe loop, then 8-, 4- and 1-byte tails.
  EXPECT_EQ(xxhash64("Nobody inspects the spammish repetition"), 0xFBCEA83C8A378BF1ULL);
}

TEST(Hash, SameKeySameInstance) {
  const auto list = equal_instances(5);
  balance::Hash hash(list);
  for (int i = 0; i < 100; ++i) {
    const size_t first = hash.pick(keyed(key(i)));
    ASSERT_NE(first, balance::kNoInstance);
    for (int repeat = 0; repeat < 5; ++repeat) EXPECT_EQ(hash.pick(keyed(key(i))), first);
  }
}

TEST(Hash, TableSpreadsEvenlyAndByWeight) {
  const auto list = make_instances({1, 1, 2, 4});
  balance::Hash hash(list);
  std::array<int, 4> counts{};
  constexpr int kKeys = 80'000;
  for (int i = 0; i < kKeys; ++i) ++counts[hash.pick(keyed(key(i)))];
  const std::array<double, 4> expected{0.125, 0.125, 0.25, 0.5};
  for (size_t i = 0; i < counts.size(); ++i) {
    EXPECT_NEAR(counts[i] / double{kKeys}, expected[i], 0.02) << "instance " << i;
  }
}

TEST(Hash, RemovingOneOfNMovesAboutOneNth) {
  constexpr int kKeys = 10'000;
  for (const size_t n : {5u, 10u, 20u}) {
    const auto all = equal_instances(n);
    Instances fewer = all;
    fewer.erase(fewer.begin() + static_cast<std::ptrdiff_t>(n / 2));
    const auto before = assignment(all, kKeys);
    const auto after = assignment(fewer, kKeys);
    int moved = 0;
    int moved_from_others = 0;
    const std::string& removed = all[n / 2]->label();
    for (int i = 0; i < kKeys; ++i) {
      if (before[i] == after[i]) continue;
      ++moved;
      if (before[i] != removed) ++moved_from_others;
    }
    const double share = moved / double{kKeys};
    // The removed instance's 1/N must move; Maglev moves a few percent more, not a reshuffle.
    EXPECT_GT(share, 0.8 / static_cast<double>(n)) << "n=" << n;
    EXPECT_LT(share, 1.5 / static_cast<double>(n)) << "n=" << n;
    EXPECT_LT(moved_from_others / double{kKeys}, 0.04) << "n=" << n;
  }
}

TEST(Hash, ExcludedInstanceMovesOnlyItsKeys) {
  const auto list = equal_instances(4);
  balance::Hash hash(list);
  const std::array<bool, 4> exclude_b{false, true, false, false};
  std::array<int, 4> spread{};
  for (int i = 0; i < 4'000; ++i) {
    const size_t normal = hash.pick(keyed(key(i)));
    const size_t with_b_out = hash.pick(keyed(key(i), exclude_b));
    ASSERT_NE(with_b_out, 1u);
    if (normal != 1) {
      EXPECT_EQ(with_b_out, normal);
    } else {
      ++spread[with_b_out];
    }
  }
  // b's keys go to the next table entries: spread over all the others, not piled on one.
  EXPECT_GT(spread[0], 100);
  EXPECT_GT(spread[2], 100);
  EXPECT_GT(spread[3], 100);
}

TEST(Hash, BoundedLoadSpillsToTheNextEntry) {
  const auto list = equal_instances(3);
  balance::Options bounded;
  bounded.balance_factor = 150;
  balance::Hash plain(list);
  balance::Hash hash(list, bounded);
  const uint64_t k = key(7);
  const size_t home = plain.pick(keyed(k));
  EXPECT_EQ(hash.pick(keyed(k)), home);  // idle: the key's own instance
  // 10 in flight on `home`, none elsewhere: (10 + 1) x 150 % = 17 slots, 6 each; home is over.
  set_active(*list[home], 10);
  const size_t spilled = hash.pick(keyed(k));
  EXPECT_NE(spilled, home);
  EXPECT_NE(spilled, balance::kNoInstance);
  EXPECT_EQ(hash.pick(keyed(k)), spilled);  // and it spills consistently
  EXPECT_EQ(plain.pick(keyed(k)), home);    // unbounded: stays put whatever the load
  // Under its share it gets the key back: 5 here, 5 on another, (10 + 1) x 1.5 -> 17 slots, 6 each.
  set_active(*list[home], 5);
  set_active(*list[spilled], 5);
  EXPECT_EQ(hash.pick(keyed(k)), home);
}

TEST(Hash, BoundedLoadKeepsEveryInstanceNearItsShare) {
  const auto list = equal_instances(4);
  balance::Options bounded;
  bounded.balance_factor = 125;
  balance::Hash hash(list, bounded);
  // Every request stays in flight: a hot key alone would pile all 200 on one instance.
  std::vector<std::unique_ptr<upstream::ActiveRequest>> held;
  for (int i = 0; i < 200; ++i) {
    const size_t index = hash.pick(keyed(key(i % 3)));  // three hot keys
    held.push_back(std::make_unique<upstream::ActiveRequest>());
    held.back()->assign(*list[index]);
  }
  for (const auto& instance : list) {
    EXPECT_LE(instance->active_requests(), 200 * 125 / 100 / 4 + 1) << instance->label();
  }
}

TEST(Hash, WithoutAKeyRoundRobins) {
  const auto list = equal_instances(3);
  balance::Hash hash(list);
  EXPECT_EQ(balance_test::picks(hash, 6), "abcabc");
}

TEST(Hash, AllExcludedOrEmptyIsNoInstance) {
  const auto list = equal_instances(3);
  balance::Hash hash(list);
  const std::array<bool, 3> all{true, true, true};
  EXPECT_EQ(hash.pick(keyed(key(1), all)), balance::kNoInstance);
  EXPECT_EQ(hash.pick({all, std::nullopt}), balance::kNoInstance);
  const Instances none;
  balance::Hash empty(none);
  EXPECT_EQ(empty.pick(keyed(key(1))), balance::kNoInstance);
}

TEST(Hash, WorkersShareOneTable) {
  const auto list = equal_instances(3);
  balance::SharedTables shared;
  balance::Options options;
  options.shared = &shared;
  balance::Hash worker0(list, options);
  ASSERT_NE(shared.maglev, nullptr);
  const auto table = shared.maglev;
  balance::Hash worker1(list, options);
  EXPECT_EQ(shared.maglev, table);  // reused, not rebuilt
  for (int i = 0; i < 50; ++i) EXPECT_EQ(worker0.pick(keyed(key(i))), worker1.pick(keyed(key(i))));
}

}  // namespace
}  // namespace sb
