// Unit tests of active health checks' pieces: the rise/fall state machine (src/health/
// rise_fall.hpp) driven by scripted results, and the `health.check` config with its defaults and
// expected-status ranges.
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "health/rise_fall.hpp"

namespace sb::health {
namespace {

using Change = RiseFall::Change;

TEST(RiseFall, StartsUpAndFallsAfterFallFailuresInARow) {
  RiseFall state;
  EXPECT_FALSE(state.down());
  EXPECT_EQ(state.record(false, 2, 3), Change::kNone);
  EXPECT_EQ(state.record(false, 2, 3), Change::kNone);
  EXPECT_EQ(state.record(false, 2, 3), Change::kWentDown);
  EXPECT_TRUE(state.down());
}

TEST(RiseFall, APassBetweenFailuresStartsTheCountAgain) {
  RiseFall state;
  state.record(false, 2, 3);
  state.record(false, 2, 3);
  EXPECT_EQ(state.record(true, 2, 3), Change::kNone);
  EXPECT_EQ(state.streak(), 0u);
  EXPECT_EQ(state.record(false, 2, 3), Change::kNone);
  EXPECT_EQ(state.record(false, 2, 3), Change::kNone);
  EXPECT_FALSE(state.down());
  EXPECT_EQ(state.record(false, 2, 3), Change::kWentDown);
}

TEST(RiseFall, RisesAfterRisePassesInARow) {
  RiseFall state;
  state.record(false, 2, 1);
  ASSERT_TRUE(state.down());
  EXPECT_EQ(state.record(true, 2, 1), Change::kNone);
  EXPECT_EQ(state.record(false, 2, 1), Change::kNone);  // a failure while down resets the rise
  EXPECT_EQ(state.record(true, 2, 1), Change::kNone);
  EXPECT_EQ(state.record(true, 2, 1), Change::kCameUp);
  EXPECT_FALSE(state.down());
  EXPECT_EQ(state.record(true, 2, 1), Change::kNone);
}

TEST(CheckConfig, DefaultsWithAnEmptySection) {
  const config::Config config = config::parse_yaml(
      "services:\n  - name: web\n    instances: [\"127.0.0.1:9101\"]\n    health:\n      check:\n");
  ASSERT_TRUE(config.services[0].health.check);
  const config::CheckConfig& check = *config.services[0].health.check;
  EXPECT_EQ(check.path, "/health");
  EXPECT_EQ(check.interval, config::Duration(2000));
  EXPECT_EQ(check.timeout, config::Duration(1000));
  EXPECT_EQ(check.rise, 2u);
  EXPECT_EQ(check.fall, 3u);
  EXPECT_TRUE(check.expects(200));
  EXPECT_TRUE(check.expects(399));
  EXPECT_FALSE(check.expects(404));
  EXPECT_FALSE(config::parse_yaml("services:\n  - name: web\n    instances: [\"127.0.0.1:9101\"]\n")
                   .services[0]
                   .health.check);
}

TEST(CheckConfig, ExpectListsStatusesAndRanges) {
  const config::Config config = config::parse_yaml(
      "services:\n  - name: web\n    instances: [\"127.0.0.1:9101\"]\n    health:\n"
      "      check: { expect: [204, 300-302], interval: 500ms, timeout: 500ms }\n");
  const config::CheckConfig& check = *config.services[0].health.check;
  EXPECT_TRUE(check.expects(204));
  EXPECT_TRUE(check.expects(301));
  EXPECT_FALSE(check.expects(200));
  EXPECT_FALSE(check.expects(303));
  EXPECT_EQ(check.timeout, check.interval);
}

}  // namespace
}  // namespace sb::health
