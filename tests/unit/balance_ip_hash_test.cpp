// Unit tests of src/balance/ip_hash: client-address affinity on a consistent hash ring, where
// removing an instance moves exactly that instance's clients.
#include "balance/ip_hash.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "balance_test_support.hpp"
#include "core/ip_address.hpp"

namespace sb {
namespace {

using balance_test::equal_instances;
using balance_test::Instances;
using balance_test::keyed;

// What the session puts in PickContext::key for client 10.(i/65536).(i/256).(i%256).
uint64_t client(int i) {
  const std::string text = "10." + std::to_string((i >> 16) & 255) + "." +
                           std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255);
  const auto address = IpAddress::parse(text);
  EXPECT_TRUE(address) << text;
  return balance::hash_key(address->bytes());
}

std::vector<std::string> assignment(const Instances& list, int clients) {
  balance::IpHash ip_hash(list);
  std::vector<std::string> out;
  for (int i = 0; i < clients; ++i) out.push_back(list[ip_hash.pick(keyed(client(i)))]->label());
  return out;
}

TEST(IpHash, SameClientSameInstance) {
  const auto list = equal_instances(3);
  balance::IpHash ip_hash(list);
  for (int i = 0; i < 50; ++i) {
    const size_t first = ip_hash.pick(keyed(client(i)));
    ASSERT_NE(first, balance::kNoInstance);
    for (int repeat = 0; repeat < 10; ++repeat) EXPECT_EQ(ip_hash.pick(keyed(client(i))), first);
  }
}

TEST(IpHash, ClientsSpreadOverInstances) {
  const auto list = equal_instances(4);
  balance::IpHash ip_hash(list);
  std::array<int, 4> counts{};
  constexpr int kClients = 20'000;
  for (int i = 0; i < kClients; ++i) ++counts[ip_hash.pick(keyed(client(i)))];
  for (const int count : counts) EXPECT_NEAR(count / double{kClients}, 0.25, 0.06);
}

TEST(IpHash, RemovalMovesOnlyThatInstancesClients) {
  constexpr int kClients = 10'000;
  const auto all = equal_instances(5);
  Instances fewer = all;
  fewer.erase(fewer.begin() + 2);
  const auto before = assignment(all, kClients);
  const auto after = assignment(fewer, kClients);
  int moved = 0;
  for (int i = 0; i < kClients; ++i) {
    if (before[i] == after[i]) continue;
    ++moved;
    EXPECT_EQ(before[i], all[2]->label()) << "client " << i << " moved without reason";
  }
  EXPECT_NEAR(moved / double{kClients}, 0.2, 0.06);
  // And one that joins takes clients only for itself.
  const auto joined = assignment(all, kClients);
  Instances more = all;
  more.push_back(equal_instances(1, 9200).front());
  const auto grown = assignment(more, kClients);
  for (int i = 0; i < kClients; ++i) {
    if (joined[i] != grown[i]) {
      EXPECT_EQ(grown[i], more.back()->label());
    }
  }
}

TEST(IpHash, ExcludedInstanceMovesOnlyItsClients) {
  const auto list = equal_instances(3);
  balance::IpHash ip_hash(list);
  const std::array<bool, 3> exclude_a{true, false, false};
  for (int i = 0; i < 2'000; ++i) {
    const size_t normal = ip_hash.pick(keyed(client(i)));
    const size_t without_a = ip_hash.pick(keyed(client(i), exclude_a));
    ASSERT_NE(without_a, 0u);
    if (normal != 0) {
      EXPECT_EQ(without_a, normal);
    }
  }
  const std::array<bool, 3> all{true, true, true};
  EXPECT_EQ(ip_hash.pick(keyed(client(1), all)), balance::kNoInstance);
}

TEST(IpHash, WithoutAnAddressRoundRobins) {
  const auto list = equal_instances(2);
  balance::IpHash ip_hash(list);
  EXPECT_EQ(balance_test::picks(ip_hash, 4), "abab");
}

TEST(IpHash, WeightsScaleTheShare) {
  const auto list = balance_test::make_instances({1, 3});
  balance::IpHash ip_hash(list);
  int heavy = 0;
  constexpr int kClients = 20'000;
  for (int i = 0; i < kClients; ++i) heavy += ip_hash.pick(keyed(client(i))) == 1 ? 1 : 0;
  EXPECT_NEAR(heavy / double{kClients}, 0.75, 0.05);
}

}  // namespace
}  // namespace sb
