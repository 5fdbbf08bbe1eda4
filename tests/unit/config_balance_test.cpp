// Unit tests of the balancing settings in src/config: `balance:` with every algorithm, the
// `hash:` section (key and balance_factor), `trusted_proxies`, and their one-line errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "config_test_support.hpp"

namespace sb::config {
namespace {

using ::testing::HasSubstr;
using Source = HashKey::Source;

TEST(ConfigBalance, EveryAlgorithmIsAccepted) {
  for (const char* name : {"round_robin", "least_conn", "ip_hash", "random", "p2c", "ewma"}) {
    const Config config = parse_yaml(service(std::string("    balance: ") + name + "\n"));
    EXPECT_EQ(config.services[0].balance, name);
    EXPECT_FALSE(config.services[0].hash);
  }
}

TEST(ConfigBalance, HashWithEveryKeySource) {
  const struct {
    const char* text;
    Source source;
    const char* name;
  } cases[] = {{"header:X-User", Source::kHeader, "X-User"},
               {"cookie:session", Source::kCookie, "session"},
               {"query:user_id", Source::kQuery, "user_id"},
               {"path", Source::kPath, ""}};
  for (const auto& c : cases) {
    const Config config = parse_yaml(
        service(std::string("    balance: hash\n    hash: { key: \"") + c.text + "\" }\n"));
    ASSERT_TRUE(config.services[0].hash) << c.text;
    EXPECT_EQ(config.services[0].hash->key.source, c.source) << c.text;
    EXPECT_EQ(config.services[0].hash->key.name, c.name) << c.text;
    EXPECT_EQ(config.services[0].hash->balance_factor, 0u);
  }
}

TEST(ConfigBalance, HashBalanceFactor) {
  const Config config = parse_yaml(service(
      "    balance: hash\n    hash:\n      key: header:X-User\n      balance_factor: 150\n"));
  EXPECT_EQ(config.services[0].hash->balance_factor, 150u);
  const Config off =
      parse_yaml(service("    balance: hash\n    hash: { key: path, balance_factor: 0 }\n"));
  EXPECT_EQ(off.services[0].hash->balance_factor, 0u);
}

TEST(ConfigBalance, TrustedProxies) {
  const Config config =
      parse_yaml(service("") + "trusted_proxies: [127.0.0.1, 10.0.0.0/8, \"2001:db8::/32\"]\n");
  EXPECT_EQ(config.trusted_proxies,
            (std::vector<std::string>{"127.0.0.1", "10.0.0.0/8", "2001:db8::/32"}));
  EXPECT_TRUE(parse_yaml(service("")).trusted_proxies.empty());
}

struct BalanceError {
  const char* name;
  std::string yaml;
  const char* key;
  const char* problem;
};

class ConfigBalanceError : public ::testing::TestWithParam<BalanceError> {};

TEST_P(ConfigBalanceError, NamesTheKey) {
  const BalanceError& c = GetParam();
  const ConfigError error = error_of(c.yaml);
  EXPECT_EQ(error.key(), c.key) << error.what();
  EXPECT_THAT(error.what(), HasSubstr(c.problem));
  EXPECT_EQ(std::string(error.what()).find('\n'), std::string::npos);
}

const BalanceError kErrors[] = {
    {"UnknownAlgorithm", service("    balance: fastest\n"), "services[0].balance",
     "unsupported balance 'fastest' (supported: round_robin, least_conn"},
    {"HashWithoutKeySection", service("    balance: hash\n"), "services[0].hash",
     "balance: hash needs hash.key"},
    {"HashKeyMissing", service("    balance: hash\n    hash: { balance_factor: 150 }\n"),
     "services[0].hash.key", "missing required key"},
    {"HashSectionWithOtherAlgorithm", service("    balance: least_conn\n    hash: { key: path }\n"),
     "services[0].hash", "only used with balance: hash (balance is 'least_conn')"},
    {"HashNotAMap", service("    balance: hash\n    hash: header:X-User\n"), "services[0].hash",
     "expected a map"},
    {"HashUnknownKey", service("    balance: hash\n    hash: { key: path, factor: 150 }\n"),
     "services[0].hash.factor", "unknown key"},
    {"KeyUnknownSource", service("    balance: hash\n    hash: { key: \"body:x\" }\n"),
     "services[0].hash.key", "expected header:NAME, cookie:NAME, query:NAME or path, got 'body:x'"},
    {"KeyWithoutName", service("    balance: hash\n    hash: { key: \"header:\" }\n"),
     "services[0].hash.key", "invalid name in 'header:'"},
    {"KeyHeaderNameWithSpace", service("    balance: hash\n    hash: { key: \"header:X User\" }\n"),
     "services[0].hash.key", "invalid name in 'header:X User'"},
    {"KeyQueryNameWithAmpersand", service("    balance: hash\n    hash: { key: \"query:a&b\" }\n"),
     "services[0].hash.key", "invalid name"},
    {"KeyBare", service("    balance: hash\n    hash: { key: user }\n"), "services[0].hash.key",
     "got 'user'"},
    {"FactorTooSmall", service("    balance: hash\n    hash: { key: path, balance_factor: 100 }\n"),
     "services[0].hash.balance_factor", "100 is out of range 101-1000"},
    {"FactorTooLarge",
     service("    balance: hash\n    hash: { key: path, balance_factor: 1001 }\n"),
     "services[0].hash.balance_factor", "1001 is out of range 0-1000"},
    {"FactorNotANumber",
     service("    balance: hash\n    hash: { key: path, balance_factor: lots }\n"),
     "services[0].hash.balance_factor", "expected a number, got 'lots'"},
    {"TrustedProxyNotAnAddress", service("") + "trusted_proxies: [127.0.0.1, proxy.local]\n",
     "trusted_proxies[1]", "expected an IP address or a CIDR range such as 10.0.0.0/8"},
    {"TrustedProxyHostBits", service("") + "trusted_proxies: [10.0.0.1/8]\n", "trusted_proxies[0]",
     "got '10.0.0.1/8'"},
    {"TrustedProxiesNotAList", service("") + "trusted_proxies: 127.0.0.1\n", "trusted_proxies",
     "expected a list"},
};

INSTANTIATE_TEST_SUITE_P(Balance, ConfigBalanceError, ::testing::ValuesIn(kErrors),
                         [](const auto& param) { return std::string(param.param.name); });

}  // namespace
}  // namespace sb::config
