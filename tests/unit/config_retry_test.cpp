// Unit tests of the `retry:` section of a service in src/config (and the outcome list it shares
// with health.fail_on): defaults, every setting, and the one-line errors naming the key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "config_test_support.hpp"

namespace sb::config {
namespace {

using ::testing::HasSubstr;

TEST(ConfigRetry, Defaults) {
  const RetryConfig retry = parse_yaml(service("")).services[0].retry;
  EXPECT_EQ(retry.tries, 3u);
  EXPECT_EQ(retry.try_timeout, Duration::zero());
  EXPECT_EQ(retry.on, HealthConfig::kFailOnError | HealthConfig::kFailOnTimeout);
  EXPECT_FALSE(retry.non_idempotent);
  EXPECT_EQ(retry.budget_percent, 20u);
  EXPECT_EQ(retry.budget_min, 3u);
  EXPECT_FALSE(retry.retries_status(503));
}

TEST(ConfigRetry, EverySetting) {
  const RetryConfig retry = parse_yaml(service(R"(    retry:
      tries: 5
      try_timeout: 250ms
      on: [error, 502, 503, 504]
      non_idempotent: true
      budget: { percent: 50, min: 10 }
)"))
                                .services[0]
                                .retry;
  EXPECT_EQ(retry.tries, 5u);
  EXPECT_EQ(retry.try_timeout, Duration(250));
  EXPECT_EQ(retry.on, HealthConfig::kFailOnError | HealthConfig::kFailOn502 |
                          HealthConfig::kFailOn503 | HealthConfig::kFailOn504);
  EXPECT_TRUE(retry.non_idempotent);
  EXPECT_EQ(retry.budget_percent, 50u);
  EXPECT_EQ(retry.budget_min, 10u);
  EXPECT_TRUE(retry.retries_status(502));
  EXPECT_TRUE(retry.retries_status(504));
  EXPECT_FALSE(retry.retries_status(500));
  EXPECT_FALSE(retry.retries_status(200));
}

TEST(ConfigRetry, OneTryMeansNoRetry) {
  EXPECT_EQ(parse_yaml(service("    retry: { tries: 1 }\n")).services[0].retry.tries, 1u);
}

TEST(ConfigRetry, HealthFailOnSharesTheOutcomeWords) {
  const HealthConfig health =
      parse_yaml(service("    health: { fail_on: [timeout, 500] }\n")).services[0].health;
  EXPECT_EQ(health.fail_on, HealthConfig::kFailOnTimeout | HealthConfig::kFailOn500);
}

TEST(ConfigRetry, ErrorsNameTheKey) {
  const struct {
    const char* yaml;
    const char* key;
    const char* problem;
  } cases[] = {
      {"    retry: { tries: 0 }\n", "services[0].retry.tries", "out of range"},
      {"    retry: { tries: 101 }\n", "services[0].retry.tries", "out of range"},
      {"    retry: { try_timeout: 2h }\n", "services[0].retry.try_timeout", "out of range"},
      {"    retry: { try_timeout: soon }\n", "services[0].retry.try_timeout", ""},
      {"    retry: { on: [error, 404] }\n", "services[0].retry.on[1]", "unknown outcome '404'"},
      {"    retry: { on: error }\n", "services[0].retry.on", "expected a list"},
      {"    retry: { non_idempotent: maybe }\n", "services[0].retry.non_idempotent",
       "expected true or false"},
      {"    retry: { budget: { percent: 120 } }\n", "services[0].retry.budget.percent",
       "out of range"},
      {"    retry: { budget: { floor: 3 } }\n", "services[0].retry.budget.floor", "unknown"},
      {"    retry: { attempts: 3 }\n", "services[0].retry.attempts", "unknown"},
      {"    retry: 3\n", "services[0].retry", "expected a map"},
      {"    health: { fail_on: [bad] }\n", "services[0].health.fail_on[0]", "unknown outcome"},
  };
  for (const auto& c : cases) {
    const ConfigError error = error_of(service(c.yaml));
    EXPECT_EQ(error.key(), c.key) << c.yaml;
    EXPECT_THAT(error.what(), HasSubstr(c.problem)) << c.yaml;
  }
}

}  // namespace
}  // namespace sb::config
