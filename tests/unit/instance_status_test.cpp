// Unit tests of src/proxy/instance_status: the state word of each instance (registry word first,
// then ejection, passive health and active checks), the figures summed over workers, the error
// rate and latency quantiles, and the JSON /lb-status and the dashboard share.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "proxy/instance_status.hpp"
#include "proxy/snapshot_builder.hpp"

namespace sb {
namespace {

using registry::InstanceState;

registry::InstanceView registered(const std::string& id, const std::string& address, uint16_t port,
                                  InstanceState state) {
  registry::InstanceView v;
  v.record.service = "web";
  v.record.id = id;
  v.record.address = address;
  v.record.port = port;
  v.record.weight = 2;
  v.state = state;
  return v;
}

config::Config web_config(bool checks, bool outlier) {
  config::Config config;
  config::ServiceConfig web{
      "web",
      "least_conn",
      {{"127.0.0.1", 9001, 1}, {"127.0.0.1", 9002, 1}, {"127.0.0.1", 9003, 1}}};
  if (checks) web.health.check = config::CheckConfig{};
  if (outlier) web.outlier = config::OutlierConfig{};
  config.services.push_back(web);
  config.routes.push_back({"", "/", "web", false});
  return config;
}

TEST(InstanceStatus, StateWordsFollowTheRegistryThenTheHealthRules) {
  proxy::SnapshotBuilder builder(web_config(true, true), 2);
  const std::vector<registry::InstanceView> views = {
      registered("a-crit", "127.0.0.1", 9101, InstanceState::kCritical),
      registered("b-drain", "127.0.0.1", 9102, InstanceState::kDraining),
      registered("c-ok", "127.0.0.1", 9103, InstanceState::kPassing),
      registered("d-lost", "no-such-host.invalid", 9104, InstanceState::kPassing)};
  builder.set_registered("web", views);
  const auto snapshot = builder.build();
  const proxy::Service& web = *snapshot->services[0];
  ASSERT_EQ(web.members.size(), 7u);
  ASSERT_EQ(web.instances.size(), 4u);  // three static ones and c-ok

  const auto now = CoarseClock::now();
  web.members[0].instance->passive().record_failure(now, {1, std::chrono::seconds(10)});
  web.members[1].instance->set_check_down(true);
  web.members[2].instance->outlier().eject(now, config::OutlierConfig{});
  const auto status = proxy::collect_status(*snapshot, now);
  ASSERT_EQ(status.size(), 1u);
  std::vector<std::string> states;
  for (const auto& i : status[0].instances) states.emplace_back(i.state);
  EXPECT_EQ(states, (std::vector<std::string>{"down", "down", "ejected", "critical", "draining",
                                              "passing", "down"}));
  EXPECT_TRUE(status[0].instances[0].passive_down && !status[0].instances[0].healthy());
  EXPECT_TRUE(status[0].instances[5].healthy());
  EXPECT_FALSE(status[0].instances[6].has_figures());  // its address did not resolve

  const nlohmann::json json = proxy::to_json(status[0]);
  EXPECT_EQ(json["balance"], "least_conn");
  const nlohmann::json& instances = json["instances"];
  EXPECT_TRUE(instances[0]["id"].is_null());
  EXPECT_EQ(instances[0]["check"], "up");
  EXPECT_EQ(instances[1]["check"], "down");
  EXPECT_EQ(instances[2]["ejected"], true);
  EXPECT_EQ(instances[2]["ejections"], 1);
  EXPECT_EQ(instances[2]["ejection_multiplier"], 1);
  EXPECT_EQ(instances[4]["id"], "b-drain");
  EXPECT_EQ(instances[4]["routed"], false);
  EXPECT_EQ(instances[4]["weight"], 2);
  EXPECT_EQ(instances[4]["active"], 0);  // least_conn counts, held-back instances too
  EXPECT_EQ(instances[5]["routed"], true);
  EXPECT_EQ(instances[6]["address"], "no-such-host.invalid:9104");
  EXPECT_TRUE(instances[6]["requests"].is_null());
  EXPECT_FALSE(instances[6].contains("active"));
}

TEST(InstanceStatus, ServiceFiguresSurviveARebuildOfTheService) {
  proxy::SnapshotBuilder builder(web_config(false, false), 1);
  const auto before = builder.build();
  before->services[0]->counters->worker(0).requests.add(4);
  // A registration rebuilds the service; a reload rebuilds them all.
  builder.set_registered("web", std::vector<registry::InstanceView>{
                                    registered("r1", "127.0.0.1", 9101, InstanceState::kPassing)});
  const auto registered_one = builder.build();
  ASSERT_NE(registered_one->services[0], before->services[0]);
  EXPECT_EQ(registered_one->services[0]->counters->requests(), 4u);
  builder.reconfigure(web_config(true, false));
  const auto reloaded = builder.build();
  EXPECT_EQ(reloaded->services[0]->counters->requests(), 4u);
}

TEST(InstanceStatus, FiguresAreSummedOverWorkers) {
  proxy::SnapshotBuilder builder(web_config(false, false), 2);
  const auto snapshot = builder.build();
  upstream::Instance& instance = *snapshot->services[0]->instances[0];
  for (unsigned w = 0; w < 2; ++w) {
    upstream::InstanceCounters& c = instance.counters(w);
    c.requests.add(5);
    c.responses[1].add(3);  // 2xx
    c.responses[4].add(1);  // 5xx
    c.failures.add(1);
    c.sent_bytes.add(100);
    c.received_bytes.add(1000);
    c.in_flight.add(w + 1);
    c.connections.add(3);
    c.idle_connections.add(2);
    for (int n = 0; n < 4; ++n) c.upstream_latency.record(800);  // 1 ms bucket
    c.upstream_latency.record(40'000);                           // 50 ms bucket
  }
  proxy::ServiceWorkerCounters& service = snapshot->services[0]->counters->worker(1);
  service.requests.add(12);
  service.local_responses[4].add(2);  // 5xx
  const auto status = proxy::collect_status(*snapshot, CoarseClock::now());
  const proxy::InstanceStatus& s = status[0].instances[0];
  EXPECT_EQ(s.requests, 10u);
  EXPECT_EQ(s.sent_bytes, 200u);
  EXPECT_EQ(s.received_bytes, 2000u);
  EXPECT_EQ(s.active, 3u);  // round robin does not count for its picks; the status view does
  EXPECT_EQ(s.connections_open, 6u);
  EXPECT_EQ(s.connections_idle, 4u);
  EXPECT_EQ(status[0].requests, 12u);
  EXPECT_EQ(status[0].local_responses[4], 2u);
  EXPECT_EQ(s.responses[1], 6u);
  EXPECT_EQ(s.errors(), 4u);
  EXPECT_DOUBLE_EQ(*s.error_rate(), 0.4);
  EXPECT_DOUBLE_EQ(*s.latency_ms(0.5), 1.0);
  EXPECT_DOUBLE_EQ(*s.latency_ms(0.99), 50.0);
  const proxy::InstanceStatus& idle = status[0].instances[1];
  EXPECT_FALSE(idle.error_rate().has_value());
  EXPECT_FALSE(idle.latency_ms(0.5).has_value());
  const nlohmann::json json = proxy::to_json(status[0]);
  EXPECT_EQ(json["instances"][0]["responses"]["2xx"], 6);
  EXPECT_EQ(json["instances"][0]["sent_bytes"], 200);
  EXPECT_EQ(json["instances"][0]["received_bytes"], 2000);
  EXPECT_EQ(json["instances"][0]["active"], 3);
  EXPECT_EQ(json["instances"][0]["connections"]["open"], 6);
  EXPECT_EQ(json["instances"][0]["connections"]["idle"], 4);
  EXPECT_EQ(json["instances"][1]["active"], 0);
  EXPECT_EQ(json["requests"], 12);
  EXPECT_EQ(json["local_responses"]["5xx"], 2);
  EXPECT_EQ(json["instances"][0]["p99_ms"], 50.0);
  EXPECT_TRUE(json["instances"][1]["p50_ms"].is_null());
  EXPECT_TRUE(json["instances"][1]["error_rate"].is_null());
  EXPECT_FALSE(json["instances"][0].contains("check"));  // no active checks configured
  EXPECT_FALSE(json["instances"][0].contains("ejected"));
}

}  // namespace
}  // namespace sb
