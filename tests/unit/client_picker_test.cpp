// Unit tests for src/client/picker: the proxy's round robin over resolved instances, rebuilt only
// when the instance set changes, with exclusions and a rotated start.
#include "client/picker.hpp"

#include <gtest/gtest.h>

#include <map>

namespace switchboard::detail {
namespace {

InstanceInfo instance(const std::string& id, uint16_t port, uint32_t weight = 1) {
  InstanceInfo info;
  info.service = "web";
  info.id = id;
  info.address = "127.0.0.1";
  info.port = port;
  info.weight = weight;
  info.state = "passing";
  return info;
}

std::string next(InstancePicker& picker) {
  const size_t chosen = picker.pick();
  return chosen == InstancePicker::kNone ? "none" : picker.instances()[chosen].id;
}

TEST(ClientPicker, RoundRobinInIdOrder) {
  InstancePicker picker("round_robin");
  EXPECT_EQ(next(picker), "none");
  EXPECT_TRUE(picker.update({instance("c", 3), instance("a", 1), instance("b", 2)}));
  std::string seen;
  for (int i = 0; i < 6; ++i) seen += next(picker);
  EXPECT_EQ(seen, "abcabc");
}

TEST(ClientPicker, RotationMovesTheStart) {
  InstancePicker picker("round_robin", 4);  // 4 % 3 = 1
  picker.update({instance("a", 1), instance("b", 2), instance("c", 3)});
  std::string seen;
  for (int i = 0; i < 3; ++i) seen += next(picker);
  EXPECT_EQ(seen, "bca");
}

TEST(ClientPicker, WeightsAreSmooth) {
  InstancePicker picker("round_robin");
  picker.update({instance("a", 1, 5), instance("b", 2), instance("c", 3)});
  std::string seen;
  for (int i = 0; i < 7; ++i) seen += next(picker);
  EXPECT_EQ(seen, "aabacaa");  // nginx's smooth weighted round robin
}

TEST(ClientPicker, SameSetKeepsThePositionNewSetRebuilds) {
  InstancePicker picker("round_robin");
  picker.update({instance("a", 1), instance("b", 2)});
  EXPECT_EQ(next(picker), "a");
  InstanceInfo b = instance("b", 2);
  b.tags = {"changed"};  // not part of what balancing depends on
  EXPECT_FALSE(picker.update({b, instance("a", 1)}));
  EXPECT_EQ(next(picker), "b");
  EXPECT_EQ(picker.instances()[1].tags, std::vector<std::string>{"changed"});
  EXPECT_TRUE(picker.update({instance("a", 1), instance("b", 2, 2)}));  // weight changed
  EXPECT_TRUE(picker.update({instance("a", 1)}));
  EXPECT_EQ(next(picker), "a");
  EXPECT_TRUE(picker.update({}));
  EXPECT_EQ(next(picker), "none");
}

TEST(ClientPicker, ExcludedInstancesAreSkipped) {
  InstancePicker picker("round_robin");
  picker.update({instance("a", 1), instance("b", 2), instance("c", 3)});
  const bool excluded[] = {true, false, true};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(picker.pick(excluded), 1u);
  const bool all[] = {true, true, true};
  EXPECT_EQ(picker.pick(all), InstancePicker::kNone);
}

TEST(ClientPicker, HostNamesNeedNoResolution) {
  InstancePicker picker("round_robin");
  InstanceInfo named = instance("a", 80);
  named.address = "backend.invalid";
  picker.update({named});
  EXPECT_EQ(next(picker), "a");
}

TEST(ClientPicker, UnknownAlgorithmIsAClientError) {
  try {
    InstancePicker picker("coin_toss");
    FAIL() << "accepted";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.field(), "algorithm");
  }
}

}  // namespace
}  // namespace switchboard::detail
