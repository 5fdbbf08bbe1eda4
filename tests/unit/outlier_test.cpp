// Unit tests of src/health/outlier.*: Envoy's consecutive-5xx and consecutive-gateway-error
// rules, ejection time growing with each ejection (capped), healing while back, the single
// return notice; and that eligibility leaves an ejected instance out. Scripted coarse clock.
#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>
#include <memory>
#include <vector>

#include "health/eligibility.hpp"
#include "health/outlier.hpp"

namespace sb::health {
namespace {

using namespace std::chrono_literals;
using Clock = CoarseClock;

const Clock::time_point kStart = Clock::time_point(1h);

config::OutlierConfig policy() {
  config::OutlierConfig p;
  p.consecutive_5xx = 5;
  p.consecutive_gateway_errors = 3;
  p.base_ejection_time = 30s;
  p.max_ejection_time = 300s;
  return p;
}

TEST(Outlier, FiveConsecutive5xxTrip) {
  OutlierState state;
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(state.record(Outcome::k5xx, policy()));
  EXPECT_TRUE(state.record(Outcome::k5xx, policy()));
}

TEST(Outlier, ASuccessInBetweenStartsOver) {
  OutlierState state;
  for (int i = 0; i < 4; ++i) state.record(Outcome::k5xx, policy());
  EXPECT_FALSE(state.record(Outcome::kSuccess, policy()));
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(state.record(Outcome::k5xx, policy()));
  EXPECT_TRUE(state.record(Outcome::k5xx, policy()));
}

TEST(Outlier, GatewayErrorsTripTheirOwnRuleAndCountAs5xx) {
  OutlierState state;
  EXPECT_FALSE(state.record(Outcome::kGatewayError, policy()));
  EXPECT_FALSE(state.record(Outcome::kGatewayError, policy()));
  EXPECT_TRUE(state.record(Outcome::kGatewayError, policy()));  // 3 in a row
  // A plain 5xx breaks a gateway run but continues a 5xx run.
  OutlierState mixed;
  mixed.record(Outcome::kGatewayError, policy());
  mixed.record(Outcome::kGatewayError, policy());
  EXPECT_FALSE(mixed.record(Outcome::k5xx, policy()));
  EXPECT_FALSE(mixed.record(Outcome::kGatewayError, policy()));
  EXPECT_TRUE(mixed.record(Outcome::k5xx, policy()));  // the fifth 5xx-class answer in a row
}

TEST(Outlier, ZeroTurnsARuleOff) {
  config::OutlierConfig p = policy();
  p.consecutive_5xx = 0;
  OutlierState state;
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(state.record(Outcome::k5xx, p));
}

TEST(Outlier, EjectionGrowsWithEachEjectionUpToTheCap) {
  OutlierState state;
  Clock::time_point now = kStart;
  EXPECT_EQ(state.eject(now, policy()), 30s);
  EXPECT_TRUE(state.ejected(now + 29s));
  EXPECT_FALSE(state.ejected(now + 30s));
  // Ejected again right after its return: twice as long, then three times...
  now += 30s;
  EXPECT_EQ(state.eject(now, policy()), 60s);
  now += 60s;
  EXPECT_EQ(state.eject(now, policy()), 90s);
  // Ejected again each time it comes back: 90 s, 120 s, ... until max_ejection_time holds it.
  std::chrono::milliseconds length = 90s;
  for (int i = 0; i < 20; ++i) {
    now += length;
    length = state.eject(now, policy());
  }
  EXPECT_EQ(length, 300s);
}

TEST(Outlier, TimeBackHealsTheMultiplier) {
  OutlierState state;
  state.eject(kStart, policy());        // 1st: 30 s, back at +30 s
  state.eject(kStart + 30s, policy());  // 2nd: 60 s, back at +90 s
  EXPECT_EQ(state.ejections(), 2u);
  // Back for 65 s (two base times): the multiplier drops by two before this ejection counts.
  EXPECT_EQ(state.eject(kStart + 155s, policy()), 30s);
}

TEST(Outlier, EveryEjectionIsCountedWhileTheMultiplierHeals) {
  OutlierState state;
  state.eject(kStart, policy());
  state.eject(kStart + 30s, policy());
  state.eject(kStart + 500s, policy());  // long back: the multiplier starts over
  EXPECT_EQ(state.ejections(), 1u);
  EXPECT_EQ(state.ejections_total(), 3u);
}

TEST(Outlier, ReturnIsReportedOnce) {
  OutlierState state;
  state.eject(kStart, policy());
  EXPECT_FALSE(state.take_return(kStart + 10s));  // still out
  EXPECT_TRUE(state.take_return(kStart + 31s));
  EXPECT_FALSE(state.take_return(kStart + 32s));
}

TEST(Outlier, EligibilityLeavesEjectedInstancesOut) {
  std::vector<std::shared_ptr<upstream::Instance>> list;
  for (uint16_t i = 0; i < 4; ++i) {
    list.push_back(std::make_shared<upstream::Instance>(
        i + 1, "127.0.0.1", 9000 + i,
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 9000 + i), 1,
        1));
  }
  list[2]->outlier().eject(kStart, policy());
  bool excluded[4] = {};
  const Eligibility e = exclude_unhealthy(list, excluded, kStart + 1s, 50);
  EXPECT_EQ(e.healthy, 3u);
  EXPECT_TRUE(excluded[2]);
  bool after[4] = {};
  EXPECT_EQ(exclude_unhealthy(list, after, kStart + 31s, 50).healthy, 4u);
}

}  // namespace
}  // namespace sb::health
