// Unit tests of how a service gets its balancing: src/proxy/snapshot (Service: needs, options,
// tables shared by the workers' balancers) and src/proxy/snapshot_builder (the config's
// `balance:`, `hash:` and `trusted_proxies`, and a registered-only service's meta "balance").
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "balance/balancer.hpp"
#include "balance_test_support.hpp"
#include "proxy/snapshot_builder.hpp"

namespace sb {
namespace {

using balance_test::equal_instances;
using balance_test::keyed;

registry::InstanceView registered(const std::string& service, const std::string& id, uint16_t port,
                                  const std::string& balance = "") {
  registry::InstanceView v;
  v.record.service = service;
  v.record.id = id;
  v.record.address = "127.0.0.1";
  v.record.port = port;
  if (!balance.empty()) v.record.meta["balance"] = balance;
  v.state = registry::InstanceState::kPassing;
  return v;
}

const proxy::Service& find(const proxy::Snapshot& snapshot, const std::string& name) {
  for (const auto& s : snapshot.services) {
    if (s->name == name) return *s;
  }
  throw std::runtime_error("no service " + name);
}

TEST(ServiceBalance, RoundRobinNeedsNothing) {
  const proxy::Service service("web", "round_robin", equal_instances(2), 2);
  EXPECT_FALSE(service.needs.active_requests || service.needs.latency ||
               service.needs.client_address || service.needs.request_key);
}

TEST(ServiceBalance, HashTakesItsKeyAndSharesOneTable) {
  config::HashConfig hash;
  hash.key = {config::HashKey::Source::kHeader, "X-User"};
  hash.balance_factor = 150;
  const proxy::Service service("web", "hash", equal_instances(5), 3, hash);
  EXPECT_TRUE(service.needs.request_key);
  EXPECT_TRUE(service.needs.active_requests);  // the balance factor reads the counts
  EXPECT_EQ(service.hash_key, hash.key);
  for (int i = 0; i < 50; ++i) {
    const uint64_t key = balance::hash_key("user-" + std::to_string(i));
    const size_t on_worker0 = service.balancer(0).pick(keyed(key));
    EXPECT_EQ(service.balancer(1).pick(keyed(key)), on_worker0);
    EXPECT_EQ(service.balancer(2).pick(keyed(key)), on_worker0);
  }
}

TEST(ServiceBalance, ConfigSettingsReachTheSnapshot) {
  config::Config config;
  config::ServiceConfig web{"web", "hash", {{"127.0.0.1", 9001, 1}, {"127.0.0.1", 9002, 1}}};
  web.hash = config::HashConfig{{config::HashKey::Source::kCookie, "sid"}, 0};
  config.services.push_back(web);
  config.services.push_back({"api", "ip_hash", {{"127.0.0.1", 9003, 1}}});
  config.routes.push_back({"", "/", "web", false});
  config.trusted_proxies = {"127.0.0.1", "10.0.0.0/8"};
  const auto snapshot = proxy::build_snapshot(config, 1);
  EXPECT_EQ(find(*snapshot, "web").balance, "hash");
  EXPECT_EQ(find(*snapshot, "web").hash_key.name, "sid");
  EXPECT_FALSE(find(*snapshot, "web").needs.active_requests);  // no balance factor
  EXPECT_TRUE(find(*snapshot, "api").needs.client_address);
  ASSERT_EQ(snapshot->trusted_proxies.size(), 2u);
  EXPECT_TRUE(snapshot->trusted_proxies[1].contains(*IpAddress::parse("10.2.3.4")));
}

TEST(ServiceBalance, RegisteredServiceTakesItsMetaDefault) {
  proxy::SnapshotBuilder builder(config::Config{}, 1);
  const std::vector<registry::InstanceView> lc = {registered("lc", "a", 9101, "least_conn"),
                                                  registered("lc", "b", 9102)};
  builder.set_registered("lc", lc);
  const std::vector<registry::InstanceView> plain = {registered("plain", "a", 9201)};
  builder.set_registered("plain", plain);
  // hash needs a key only the config can give; an unknown name is ignored too.
  const std::vector<registry::InstanceView> hashed = {registered("hashed", "a", 9301, "hash")};
  builder.set_registered("hashed", hashed);
  const std::vector<registry::InstanceView> bogus = {registered("bogus", "a", 9401, "fastest")};
  builder.set_registered("bogus", bogus);
  const auto snapshot = builder.build();
  EXPECT_EQ(find(*snapshot, "lc").balance, "least_conn");
  EXPECT_TRUE(find(*snapshot, "lc").needs.active_requests);
  EXPECT_EQ(find(*snapshot, "plain").balance, "round_robin");
  EXPECT_EQ(find(*snapshot, "hashed").balance, "round_robin");
  EXPECT_EQ(find(*snapshot, "bogus").balance, "round_robin");
  // The meta changes with the registration.
  const std::vector<registry::InstanceView> p2c = {registered("lc", "a", 9101, "p2c")};
  builder.set_registered("lc", p2c);
  EXPECT_EQ(find(*builder.build(), "lc").balance, "p2c");
}

TEST(ServiceBalance, ConfigServiceIgnoresMeta) {
  config::Config config;
  config.services.push_back({"web", "least_conn", {{"127.0.0.1", 9001, 1}}});
  config.routes.push_back({"", "/", "web", false});
  proxy::SnapshotBuilder builder(config, 1);
  const std::vector<registry::InstanceView> views = {registered("web", "a", 9101, "random")};
  builder.set_registered("web", views);
  EXPECT_EQ(find(*builder.build(), "web").balance, "least_conn");
}

TEST(ServiceBalance, ServiceLeavingTheConfigTakesItsMetaAtOnce) {
  config::Config config;
  config.services.push_back({"web", "ewma", {{"127.0.0.1", 9001, 1}}});
  config.routes.push_back({"", "/", "web", false});
  proxy::SnapshotBuilder builder(config, 1);
  const std::vector<registry::InstanceView> views = {registered("web", "a", 9101, "least_conn"),
                                                     registered("web", "b", 9102, "random")};
  builder.set_registered("web", views);
  EXPECT_EQ(find(*builder.build(), "web").balance, "ewma");
  // The reload drops the service from the file; its registrations stay, and the first one's
  // meta (by id) decides without waiting for a registry change.
  builder.reconfigure(config::Config{});
  const proxy::Service& web = find(*builder.build(), "web");
  EXPECT_EQ(web.balance, "least_conn");
  EXPECT_TRUE(web.needs.active_requests);
  ASSERT_EQ(web.instances.size(), 2u);  // the static instance left with the file
  // Back in the file, the config's balance wins again.
  builder.reconfigure(config);
  EXPECT_EQ(find(*builder.build(), "web").balance, "ewma");
}

}  // namespace
}  // namespace sb
