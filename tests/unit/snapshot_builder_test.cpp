// Unit tests of src/proxy/route_table and src/proxy/snapshot_builder: route lookup by host and
// longest prefix, and snapshots that merge static and registered instances, keep unchanged
// services (and their balancers) shared, and let config routes win.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/reload.hpp"
#include "proxy/route_table.hpp"
#include "proxy/snapshot_builder.hpp"

namespace sb {
namespace {

using proxy::Route;
using proxy::RouteTable;
using registry::InstanceState;
using registry::InstanceView;

TEST(RouteTable, LongestPrefixAmongManyLengths) {
  RouteTable table;
  ASSERT_TRUE(table.add({"", "/", 0, false}));
  ASSERT_TRUE(table.add({"", "/a", 1, false}));
  ASSERT_TRUE(table.add({"", "/a/b/c", 2, false}));
  ASSERT_TRUE(table.add({"", "/zzzz", 3, false}));
  EXPECT_EQ(table.match("h", "/a/b/c/d")->service, 2u);
  EXPECT_EQ(table.match("h", "/a/b")->service, 1u);
  EXPECT_EQ(table.match("h", "/b")->service, 0u);
  EXPECT_EQ(table.match("h", "/zz")->service, 0u);
  EXPECT_EQ(table.size(), 4u);
}

TEST(RouteTable, FirstAddedWinsOnDuplicate) {
  RouteTable table;
  EXPECT_TRUE(table.add({"Example.com", "/x", 0, false}));
  EXPECT_FALSE(table.add({"example.COM", "/x", 1, false}));
  EXPECT_EQ(table.match("EXAMPLE.com:80", "/x/y")->service, 0u);
  EXPECT_EQ(table.size(), 1u);
}

TEST(RouteTable, HostRouteWithoutMatchingPrefixFallsBackToAnyHost) {
  RouteTable table;
  table.add({"example.com", "/only", 0, false});
  table.add({"", "/", 1, false});
  EXPECT_EQ(table.match("example.com", "/only/x")->service, 0u);
  EXPECT_EQ(table.match("example.com", "/other")->service, 1u);
  EXPECT_EQ(table.match(std::string(300, 'a'), "/x")->service, 1u);  // longer than any host name
}

TEST(RouteTable, FullyQualifiedRouteHostMatchesTheName) {
  RouteTable table;
  ASSERT_TRUE(table.add({"A.Example.", "/", 0, false}));
  EXPECT_FALSE(table.add({"a.example", "/", 1, false}));  // the same host
  EXPECT_EQ(table.match("a.example", "/x")->service, 0u);
  EXPECT_EQ(table.match("a.example.", "/x")->service, 0u);
}

TEST(RouteTable, PrefixesAreNormalizedAsRequestPathsAre) {
  // A registration's prefix is not checked as a config's is: the table puts it in the form the
  // request paths it is matched with come in.
  RouteTable table;
  ASSERT_TRUE(table.add({"", "/%61pi/./v1/", 0, false}));
  ASSERT_TRUE(table.add({"", "/", 1, false}));
  EXPECT_FALSE(table.add({"", "/api/v1/", 2, false}));  // the same prefix, once normalized
  EXPECT_EQ(table.match("h", "/api/v1/users")->service, 0u);
  EXPECT_EQ(table.match("h", "/api/v2")->service, 1u);
}

TEST(RouteTable, ManyRoutes) {
  RouteTable table;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(table.add({"", "/svc-" + std::to_string(i), static_cast<size_t>(i), false}));
  }
  EXPECT_EQ(table.match("h", "/svc-999/x")->service, 999u);
  EXPECT_EQ(table.match("h", "/svc-10/x")->service, 10u);
  EXPECT_EQ(table.match("h", "/svc-100")->service, 100u);
  EXPECT_EQ(table.match("h", "/nope"), nullptr);
}

InstanceView view(const std::string& service, const std::string& id, uint16_t port,
                  InstanceState state = InstanceState::kPassing,
                  std::vector<registry::RouteDecl> routes = {}, uint32_t weight = 1) {
  InstanceView v;
  v.record.service = service;
  v.record.id = id;
  v.record.address = "127.0.0.1";
  v.record.port = port;
  v.record.weight = weight;
  v.record.routes = std::move(routes);
  v.state = state;
  return v;
}

config::Config static_config() {
  config::Config config;
  config.services.push_back({"static", "round_robin", {{"127.0.0.1", 9001, 1}}});
  config.routes.push_back({"", "/static", "static", false});
  return config;
}

const proxy::Service* find(const proxy::Snapshot& snapshot, const std::string& name) {
  for (const auto& s : snapshot.services) {
    if (s->name == name) return s.get();
  }
  return nullptr;
}

std::string routed(const proxy::Snapshot& snapshot, std::string_view path) {
  const Route* route = snapshot.match("h", path);
  return route == nullptr ? "<none>" : snapshot.services[route->service]->name;
}

TEST(SnapshotBuilder, OnlyPassingRegisteredInstancesGetTraffic) {
  proxy::SnapshotBuilder builder(static_config(), 2);
  const std::vector<InstanceView> views = {
      view("web", "a", 9101, InstanceState::kPassing, {{"", "/web"}}),
      view("web", "b", 9102, InstanceState::kCritical),
      view("web", "c", 9103, InstanceState::kDraining),
  };
  builder.set_registered("web", views);
  const auto snapshot = builder.build();
  const proxy::Service* web = find(*snapshot, "web");
  ASSERT_NE(web, nullptr);
  ASSERT_EQ(web->instances.size(), 1u);
  EXPECT_EQ(web->instances[0]->port(), 9101);
  EXPECT_EQ(routed(*snapshot, "/web/x"), "web");
  EXPECT_EQ(routed(*snapshot, "/static"), "static");
}

TEST(SnapshotBuilder, ServiceWithoutPassingInstancesKeepsItsRoutes) {
  proxy::SnapshotBuilder builder(static_config(), 1);
  const std::vector<InstanceView> views = {
      view("web", "a", 9101, InstanceState::kDraining, {{"", "/web"}})};
  builder.set_registered("web", views);
  const auto snapshot = builder.build();
  EXPECT_EQ(routed(*snapshot, "/web"), "web");  // routed, then 503 naming it: no instance
  EXPECT_TRUE(find(*snapshot, "web")->instances.empty());
  EXPECT_EQ(find(*snapshot, "web")->balancer(0).pick({}), balance::kNoInstance);
}

TEST(SnapshotBuilder, RegisteredInstancesJoinAStaticService) {
  proxy::SnapshotBuilder builder(static_config(), 1);
  const std::vector<InstanceView> views = {view("static", "dyn", 9201)};
  builder.set_registered("static", views);
  const auto snapshot = builder.build();
  const proxy::Service* s = find(*snapshot, "static");
  ASSERT_EQ(s->instances.size(), 2u);
  EXPECT_EQ(s->instances[0]->port(), 9001);
  EXPECT_EQ(s->instances[1]->port(), 9201);
  builder.set_registered("static", {});
  EXPECT_EQ(find(*builder.build(), "static")->instances.size(), 1u);  // the static one stays
}

TEST(SnapshotBuilder, ConfigRouteWinsOverDeclaredRoute) {
  proxy::SnapshotBuilder builder(static_config(), 1);
  const std::vector<InstanceView> views = {
      view("web", "a", 9101, InstanceState::kPassing, {{"", "/static"}, {"", "/own"}})};
  builder.set_registered("web", views);
  const auto snapshot = builder.build();
  EXPECT_EQ(routed(*snapshot, "/static/x"), "static");
  EXPECT_EQ(routed(*snapshot, "/own"), "web");
}

TEST(SnapshotBuilder, UnchangedServicesAreSharedBetweenSnapshots) {
  proxy::SnapshotBuilder builder(static_config(), 1);
  const std::vector<InstanceView> web = {view("web", "a", 9101)};
  const std::vector<InstanceView> api = {view("api", "a", 9201)};
  builder.set_registered("web", web);
  builder.set_registered("api", api);
  const auto first = builder.build();
  const std::vector<InstanceView> api2 = {view("api", "a", 9201), view("api", "b", 9202)};
  builder.set_registered("api", api2);
  const auto second = builder.build();
  EXPECT_EQ(find(*first, "web"), find(*second, "web"));  // same object, same balancers
  EXPECT_EQ(find(*first, "static"), find(*second, "static"));
  EXPECT_NE(find(*first, "api"), find(*second, "api"));
  // The unchanged instance keeps its Instance object (counters, pooled connections).
  EXPECT_EQ(find(*first, "api")->instances[0], find(*second, "api")->instances[0]);
}

TEST(SnapshotBuilder, ChangedAddressOrWeightGetsANewInstance) {
  proxy::SnapshotBuilder builder(config::Config{}, 1);
  const std::vector<InstanceView> before = {view("web", "a", 9101)};
  builder.set_registered("web", before);
  const auto first = builder.build();
  const std::vector<InstanceView> after = {view("web", "a", 9101, InstanceState::kPassing, {}, 5)};
  builder.set_registered("web", after);
  const auto second = builder.build();
  EXPECT_NE(find(*first, "web")->instances[0], find(*second, "web")->instances[0]);
  EXPECT_NE(find(*first, "web")->instances[0]->id(), find(*second, "web")->instances[0]->id());
  EXPECT_EQ(find(*second, "web")->instances[0]->weight(), 5u);
}

TEST(SnapshotBuilder, DeregisteredServiceDisappears) {
  proxy::SnapshotBuilder builder(config::Config{}, 1);
  const std::vector<InstanceView> web = {
      view("web", "a", 9101, InstanceState::kPassing, {{"", "/web"}})};
  builder.set_registered("web", web);
  EXPECT_EQ(routed(*builder.build(), "/web"), "web");
  builder.set_registered("web", {});
  const auto snapshot = builder.build();
  EXPECT_EQ(find(*snapshot, "web"), nullptr);
  EXPECT_EQ(routed(*snapshot, "/web"), "<none>");
}

TEST(SnapshotBuilder, UnresolvableRegisteredAddressGetsNoTraffic) {
  proxy::SnapshotBuilder builder(config::Config{}, 1);
  InstanceView bad = view("web", "bad", 9101);
  bad.record.address = "no-such-host.invalid";
  const std::vector<InstanceView> views = {bad, view("web", "good", 9102)};
  builder.set_registered("web", views);
  const auto snapshot = builder.build();
  ASSERT_EQ(find(*snapshot, "web")->instances.size(), 1u);
  EXPECT_EQ(find(*snapshot, "web")->instances[0]->port(), 9102);
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

TEST(SnapshotBuilderReload, KeepsSameInstancesAndRegistrationsAndAppliesTheRest) {
  proxy::SnapshotBuilder builder(static_config(), 1);
  builder.set_registered("web", std::vector<InstanceView>{view(
                                    "web", "a", 9101, InstanceState::kPassing, {{"", "/web"}})});
  const auto before = builder.build();
  const auto kept = find(*before, "static")->instances[0];

  config::Config next = static_config();
  next.services[0].balance = "least_conn";
  next.services[0].instances.push_back({"127.0.0.1", 9002, 1});
  next.services.push_back({"extra", "round_robin", {{"127.0.0.1", 9003, 1}}});
  next.routes.push_back({"", "/extra", "extra", false});
  next.timeouts.upstream_response = config::Duration(1234);
  builder.reconfigure(next);
  const auto after = builder.build();

  const proxy::Service* stat = find(*after, "static");
  ASSERT_NE(stat, nullptr);
  EXPECT_EQ(stat->balance, "least_conn");
  ASSERT_EQ(stat->instances.size(), 2u);
  EXPECT_EQ(stat->instances[0], kept);  // same object: counters, health and pool carry on
  EXPECT_EQ(routed(*after, "/extra"), "extra");
  EXPECT_EQ(routed(*after, "/web/x"), "web");  // registrations are not the config's
  EXPECT_EQ(after->timeouts.upstream_response, config::Duration(1234));
}

TEST(SnapshotBuilderReload, UnresolvableInstanceChangesNothing) {
  proxy::SnapshotBuilder builder(static_config(), 1);
  const auto before = builder.build();
  config::Config next = static_config();
  next.services[0].balance = "least_conn";
  next.services[0].instances.push_back({"no-such-host.invalid", 80, 1});
  EXPECT_THROW(builder.reconfigure(next), config::ConfigError);
  const auto after = builder.build();
  EXPECT_EQ(find(*after, "static")->balance, "round_robin");
  EXPECT_EQ(find(*after, "static")->instances.size(), 1u);
}

TEST(Reload, RestartOnlySettingsAreNamed) {
  const config::Config running = static_config();
  config::Config fresh = running;
  EXPECT_EQ(proxy::restart_only_change(running, fresh), "");
  fresh.services[0].balance = "p2c";
  fresh.timeouts.client_body = config::Duration(1);
  EXPECT_EQ(proxy::restart_only_change(running, fresh), "");  // may change while serving
  fresh.threads = 4;
  EXPECT_EQ(proxy::restart_only_change(running, fresh),
            "threads: changed from 0 to 4; that takes a restart");
  fresh = running;
  fresh.registry.data_dir = "elsewhere";
  EXPECT_EQ(proxy::restart_only_change(running, fresh),
            "registry.data_dir: changed from switchboard-data to elsewhere; that takes a restart");
}

}  // namespace
}  // namespace sb
