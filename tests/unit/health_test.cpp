// Unit tests of src/health: passive health (nginx's max_fails / fail_timeout) and eligibility
// (one-instance services, panic mode, all down -> try all).
#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>
#include <memory>
#include <vector>

#include "health/eligibility.hpp"
#include "health/passive_health.hpp"

namespace sb::health {
namespace {

using namespace std::chrono_literals;
using Clock = CoarseClock;

const Clock::time_point kStart = Clock::time_point(1h);

TEST(PassiveHealth, MaxFailsWithinFailTimeoutMarksDownForFailTimeout) {
  PassiveHealth health;
  const PassivePolicy policy{3, 10s};
  EXPECT_FALSE(health.record_failure(kStart, policy));
  EXPECT_FALSE(health.record_failure(kStart + 1s, policy));
  EXPECT_FALSE(health.down(kStart + 1s));
  EXPECT_TRUE(health.record_failure(kStart + 2s, policy));  // the third within 10 s
  EXPECT_TRUE(health.down(kStart + 2s));
  EXPECT_TRUE(health.down(kStart + 11s));
  EXPECT_FALSE(health.down(kStart + 12s + 1ms));  // down for fail_timeout
}

TEST(PassiveHealth, FailuresSpreadWiderThanTheWindowDoNotAddUp) {
  PassiveHealth health;
  const PassivePolicy policy{2, 10s};
  EXPECT_FALSE(health.record_failure(kStart, policy));
  EXPECT_FALSE(health.record_failure(kStart + 11s, policy));  // a new window
  EXPECT_FALSE(health.down(kStart + 11s));
  EXPECT_TRUE(health.record_failure(kStart + 12s, policy));
}

TEST(PassiveHealth, SuccessClearsTheCount) {
  PassiveHealth health;
  const PassivePolicy policy{2, 10s};
  health.record_failure(kStart, policy);
  health.record_success();
  EXPECT_EQ(health.fails(), 0u);
  EXPECT_FALSE(health.record_failure(kStart + 1s, policy));
  EXPECT_FALSE(health.down(kStart + 1s));
}

TEST(PassiveHealth, MaxFailsZeroDisables) {
  PassiveHealth health;
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(health.record_failure(kStart, {0, 10s}));
  EXPECT_FALSE(health.down(kStart));
}

TEST(PassiveHealth, ResetClearsDown) {
  PassiveHealth health;
  health.record_failure(kStart, {1, 10s});
  ASSERT_TRUE(health.down(kStart));
  health.reset();
  EXPECT_FALSE(health.down(kStart));
}

std::vector<std::shared_ptr<upstream::Instance>> instances(size_t n) {
  std::vector<std::shared_ptr<upstream::Instance>> list;
  for (size_t i = 0; i < n; ++i) {
    const auto port = static_cast<uint16_t>(9000 + i);
    list.push_back(std::make_shared<upstream::Instance>(
        i + 1, "127.0.0.1", port,
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), 1, 1));
  }
  return list;
}

TEST(Eligibility, DownInstancesAreExcluded) {
  auto list = instances(4);
  list[1]->passive().record_failure(kStart, {1, 10s});
  bool excluded[4] = {};
  const Eligibility e = exclude_unhealthy(list, excluded, kStart, 50);
  EXPECT_EQ(e.healthy, 3u);
  EXPECT_FALSE(e.panic);
  EXPECT_FALSE(excluded[0]);
  EXPECT_TRUE(excluded[1]);
  EXPECT_FALSE(excluded[2]);
}

TEST(Eligibility, OneInstanceIsNeverMarkedDown) {
  auto list = instances(1);
  list[0]->passive().record_failure(kStart, {1, 10s});
  bool excluded[1] = {};
  EXPECT_EQ(exclude_unhealthy(list, excluded, kStart, 50).healthy, 1u);
  EXPECT_FALSE(excluded[0]);
}

TEST(Eligibility, PanicBelowThresholdUsesAll) {
  auto list = instances(4);
  for (int i = 0; i < 3; ++i) list[i]->passive().record_failure(kStart, {1, 10s});
  bool excluded[4] = {};
  const Eligibility e = exclude_unhealthy(list, excluded, kStart, 50);
  EXPECT_EQ(e.healthy, 1u);
  EXPECT_TRUE(e.panic);
  for (bool x : excluded) EXPECT_FALSE(x);
}

TEST(Eligibility, AllDownWithoutPanicThresholdTriesAll) {
  auto list = instances(2);
  for (auto& i : list) i->passive().record_failure(kStart, {1, 10s});
  bool excluded[2] = {};
  EXPECT_TRUE(exclude_unhealthy(list, excluded, kStart, 0).panic);
  EXPECT_FALSE(excluded[0]);
  EXPECT_FALSE(excluded[1]);
}

}  // namespace
}  // namespace sb::health
