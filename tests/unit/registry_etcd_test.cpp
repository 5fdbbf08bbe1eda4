// Unit tests for cluster mode's pure pieces: base64, the etcd key layout, decoding the JSON
// gateway's answers (as etcd 3.4 writes them: int64 as strings, defaults left out, PUT events
// without a type), EtcdMirror (keys and events -> registry changes), the Registry's mirror mode,
// the API's deferred writes, and the registry.store setting.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "config_test_support.hpp"
#include "core/base64.hpp"
#include "registry/api.hpp"
#include "registry/clock.hpp"
#include "registry/etcd_client.hpp"
#include "registry/etcd_keys.hpp"
#include "registry/etcd_mirror.hpp"
#include "registry/registry.hpp"
#include "registry_test_support.hpp"

namespace sb::registry::etcd {
namespace {

using registry::testing::make_record;
using namespace std::chrono_literals;

TEST(Base64, RoundTripsEveryLengthAndRejectsWhatIsNotBase64) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("/sb/a"), "L3NiL2E=");  // as etcd wrote it
  std::string bytes;
  for (int i = 0; i < 256; ++i) {
    bytes.push_back(static_cast<char>(i));
    EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes);
  }
  EXPECT_EQ(base64_decode("Zg"), std::nullopt);    // unpadded
  EXPECT_EQ(base64_decode("Z==="), std::nullopt);  // too much padding
  EXPECT_EQ(base64_decode("Zg=a"), std::nullopt);  // padding in the middle
  EXPECT_EQ(base64_decode("Zm9*"), std::nullopt);  // a foreign character
}

TEST(EtcdKeys, InstanceAndAliveKeysParseBackIdsWithSlashesIncluded) {
  const KeyLayout layout("/switchboard/");
  EXPECT_EQ(layout.instance_key("web", "w/1"), "/switchboard/instances/web/w/1");
  EXPECT_EQ(layout.alive_key("web", "w1"), "/switchboard/alive/web/w1");
  auto parsed = layout.parse("/switchboard/instances/web/w/1");
  EXPECT_EQ(parsed.kind, KeyLayout::Kind::kInstance);
  EXPECT_EQ(parsed.service, "web");
  EXPECT_EQ(parsed.id, "w/1");
  EXPECT_EQ(layout.parse("/switchboard/alive/web/w1").kind, KeyLayout::Kind::kAlive);
  for (const char* other : {"/other/instances/web/w1", "/switchboard/instances/web",
                            "/switchboard/instances/web/", "/switchboard/config/x/y"}) {
    EXPECT_EQ(layout.parse(other).kind, KeyLayout::Kind::kOther) << other;
  }
  EXPECT_EQ(layout.range_end(), "/switchboard0");
}

TEST(EtcdDecode, WatchMessagesAsTheGatewayWritesThem) {
  const auto line = nlohmann::json::parse(R"({"result":{"header":{"cluster_id":"324952591200643719",
      "member_id":"1","revision":"8","raft_term":"2"},"events":[
      {"kv":{"key":"L3NiL2E=","create_revision":"7","mod_revision":"7","version":"1",
             "value":"eA==","lease":"2324035841493936911"}},
      {"type":"DELETE","kv":{"key":"L3NiL2E=","mod_revision":"8"}}]}})");
  const WatchMessage message = decode_watch_message(line);
  EXPECT_EQ(message.header.revision, 8);
  EXPECT_EQ(message.header.cluster_id, 324952591200643719u);
  ASSERT_EQ(message.events.size(), 2u);
  EXPECT_FALSE(message.events[0].deleted);
  EXPECT_EQ(message.events[0].kv.key, "/sb/a");
  EXPECT_EQ(message.events[0].kv.value, "x");
  EXPECT_EQ(message.events[0].kv.lease, 2324035841493936911);
  EXPECT_TRUE(message.events[1].deleted);
  EXPECT_EQ(message.events[1].kv.mod_revision, 8);

  const WatchMessage compacted = decode_watch_message(nlohmann::json::parse(
      R"({"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"7"}})"));
  EXPECT_TRUE(compacted.canceled);
  EXPECT_EQ(compacted.compact_revision, 7);
  EXPECT_TRUE(
      decode_watch_message(nlohmann::json::parse(R"({"result":{"created":true}})")).created);

  try {
    decode_watch_message(nlohmann::json::parse(
        R"({"error":{"grpc_code":11,"message":"etcdserver: mvcc: required revision has been compacted"}})"));
    FAIL() << "no error";
  } catch (const EtcdError& e) {
    EXPECT_EQ(e.code(), EtcdError::kOutOfRange);
  }
  // What etcd 3.4 ends a watch with when its member lost the leader (the watch asked for one):
  // Unavailable, which Watch::next() turns into a resumable etcd::Unavailable.
  try {
    decode_watch_message(nlohmann::json::parse(
        R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}})"));
    FAIL() << "no error";
  } catch (const EtcdError& e) {
    EXPECT_EQ(e.code(), 14);
    EXPECT_STREQ(e.what(), "etcdserver: no leader");
  }
  EXPECT_THROW(
      decode_watch_message(nlohmann::json::parse(R"({"result":{"events":[{"kv":{"key":"*"}}]}})")),
      std::runtime_error);
  const EtcdError unary = decode_error(
      nlohmann::json::parse(R"({"error":"etcdserver: requested lease not found","code":5})"), 404);
  EXPECT_EQ(unary.code(), EtcdError::kNotFound);
  EXPECT_STREQ(unary.what(), "etcdserver: requested lease not found");
}

KeyValue instance_kv(const InstanceRecord& record, int64_t revision, int64_t lease = 0) {
  KeyValue kv;
  kv.key = KeyLayout("/sb/").instance_key(record.service, record.id);
  kv.value = to_stored_json(record);
  kv.mod_revision = revision;
  kv.lease = lease;
  return kv;
}

KeyValue alive_kv(const std::string& service, const std::string& id, int64_t lease) {
  KeyValue kv;
  kv.key = KeyLayout("/sb/").alive_key(service, id);
  kv.lease = lease;
  return kv;
}

InstanceRecord with_ttl(InstanceRecord record) {
  record.ttl = 10s;
  return record;
}

TEST(EtcdMirror, AnInstanceWithATtlPassesOnlyWhileItsAliveKeyExists) {
  EtcdMirror mirror("/sb/");
  const InstanceRecord web1 = with_ttl(make_record("web", "w1", 9101));
  // One txn: instance and alive key in one watch message -> one change, passing.
  auto changes =
      mirror.apply({{false, instance_kv(web1, 5, 11)}, {false, alive_kv("web", "w1", 12)}});
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].record, web1);
  EXPECT_TRUE(changes[0].passing);
  const auto known = mirror.find("web", "w1");
  ASSERT_TRUE(known);
  EXPECT_EQ(known->mod_revision, 5);
  EXPECT_EQ(known->lease, 11);
  EXPECT_EQ(known->alive_lease, 12);

  // The alive lease expired: etcd deletes the key; critical everywhere.
  changes = mirror.apply({{true, alive_kv("web", "w1", 0)}});
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_FALSE(changes[0].passing);
  // The instance lease expired too: deregistered.
  changes = mirror.apply({{true, instance_kv(web1, 7)}});
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_FALSE(changes[0].record);
  EXPECT_FALSE(mirror.find("web", "w1"));
  EXPECT_EQ(mirror.instances(), 0u);
}

TEST(EtcdMirror, NoTtlMeansPassingWithoutAnAliveKeyAndForeignKeysAreIgnored) {
  EtcdMirror mirror("/sb/");
  KeyValue foreign;
  foreign.key = "/sb/something/else";
  KeyValue garbage = instance_kv(make_record("web", "bad"), 3);
  garbage.value = "{not json";
  const auto changes = mirror.apply(
      {{false, instance_kv(make_record("web", "w1"), 4)}, {false, foreign}, {false, garbage}});
  // w1 passing; the undecodable one is left out (a removal, not a crash), the foreign key ignored.
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_TRUE(changes[0].record && changes[0].passing);
  EXPECT_FALSE(changes[1].record);
  EXPECT_EQ(mirror.undecodable(), 1u);
}

TEST(EtcdMirror, AFullReadRemovesWhatIsGoneAndKeepsWhatIsThere) {
  EtcdMirror mirror("/sb/");
  mirror.apply({{false, instance_kv(make_record("web", "w1"), 4)},
                {false, instance_kv(make_record("web", "w2"), 5)}});
  // During an outage w1 was deregistered through another node and w3 registered.
  const auto changes = mirror.reset(
      {instance_kv(make_record("web", "w2"), 5), instance_kv(make_record("api", "a3"), 9)});
  std::map<std::string, bool> present;
  for (const auto& change : changes)
    present[change.service + "/" + change.id] = change.record.has_value();
  EXPECT_EQ(present,
            (std::map<std::string, bool>{{"api/a3", true}, {"web/w1", false}, {"web/w2", true}}));
  EXPECT_EQ(mirror.instances(), 2u);
}

TEST(RegistryMirror, AppliesSharedChangesWithStoreRevisionsAsIndexes) {
  ManualClock clock;
  Registry registry(Registry::MirrorOfSharedStore{}, clock);
  std::vector<std::string> notified;
  registry.set_on_change([&](std::string_view service) { notified.emplace_back(service); });
  InstanceRecord web1 = with_ttl(make_record("web", "w1"));
  registry.mirror({{"web", "w1", web1, true}, {"api", "a1", make_record("api", "a1"), true}}, 40);
  EXPECT_EQ(registry.global_index(), 40u);
  EXPECT_EQ(registry.index("web"), 40u);
  EXPECT_EQ(notified, (std::vector<std::string>{"web", "api"}));

  notified.clear();
  registry.mirror({{"web", "w1", web1, true}}, 41);  // nothing changed: no bump, no notification
  EXPECT_TRUE(notified.empty());
  EXPECT_EQ(registry.global_index(), 40u);

  registry.mirror({{"web", "w1", web1, false}}, 42);
  EXPECT_EQ(registry.instances("web")[0].state, InstanceState::kCritical);
  web1.draining = true;
  registry.mirror({{"web", "w1", web1, true}}, 43);
  EXPECT_EQ(registry.instances("web")[0].state, InstanceState::kDraining);
  EXPECT_EQ(registry.index("web"), 43u);
  EXPECT_EQ(registry.index("api"), 40u);

  // Expiry is etcd's: the clock alone changes nothing.
  clock.advance(1h);
  registry.tick();
  EXPECT_EQ(registry.services().size(), 2u);

  registry.mirror({{"web", "w1", std::nullopt, true}}, 44);
  EXPECT_TRUE(registry.instances("web").empty());
  EXPECT_EQ(registry.index("web"), 44u);  // a blocking query on it wakes on the removal
  // A lower revision (another etcd cluster) still moves the index forward.
  registry.mirror({{"web", "w9", make_record("web", "w9"), true}}, 3);
  EXPECT_EQ(registry.global_index(), 45u);

  EXPECT_THROW(registry.upsert(make_record("web", "w2")), std::logic_error);
  EXPECT_THROW(registry.deregister("web", "w9"), std::logic_error);
}

TEST(RegistryApiDeferred, WritesAreHandedBackValidatedAndCompletedByOutcome) {
  ManualClock clock;
  Registry registry(Registry::MirrorOfSharedStore{}, clock);
  RegistryApi api(registry, clock, WriteMode::kDeferred);

  const auto bad = api.handle({"PUT", "/v1/services/web/instances/w1", "", R"({"address":"x"})"});
  EXPECT_EQ(bad.status, 400);  // bad input is answered at once, naming the field
  EXPECT_FALSE(bad.write);
  EXPECT_EQ(nlohmann::json::parse(bad.body)["field"], "port");

  const auto put = api.handle(
      {"PUT", "/v1/services/web/instances/w1", "", R"({"address":"127.0.0.1","port":9101})"});
  ASSERT_TRUE(put.write);
  EXPECT_EQ(put.status, 0);
  EXPECT_EQ(put.write->op, RegistryWrite::Op::kUpsert);
  EXPECT_EQ(put.write->record.port, 9101);

  // The watch delivered it; the answer shows the instance as the cache has it.
  registry.mirror({{"web", "w1", put.write->record, true}}, 7);
  auto done = api.complete(*put.write, {Result::kCreated, {}});
  EXPECT_EQ(done.status, 201);
  EXPECT_EQ(done.index, 7u);
  EXPECT_EQ(nlohmann::json::parse(done.body)["state"], "passing");

  const auto unavailable = api.complete(*put.write, {Result::kOk, "etcd unreachable: refused"});
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(nlohmann::json::parse(unavailable.body)["error"],
            "registry unavailable: etcd unreachable: refused");

  for (const auto& [method, path, op] :
       std::vector<std::tuple<std::string, std::string, RegistryWrite::Op>>{
           {"PUT", "/v1/services/web/instances/w1/heartbeat", RegistryWrite::Op::kHeartbeat},
           {"POST", "/v1/services/web/instances/w1/drain", RegistryWrite::Op::kDrain},
           {"POST", "/v1/services/web/instances/w1/undrain", RegistryWrite::Op::kUndrain},
           {"DELETE", "/v1/services/web/instances/w1", RegistryWrite::Op::kDeregister}}) {
    const auto response = api.handle({method, path, "", ""});
    ASSERT_TRUE(response.write) << path;
    EXPECT_EQ(response.write->op, op);
    EXPECT_EQ(response.write->id, "w1");
  }
  EXPECT_EQ(
      api.complete({RegistryWrite::Op::kHeartbeat, "web", "nope", {}}, {Result::kNotFound, {}})
          .status,
      404);
  // Reads never defer.
  EXPECT_EQ(api.handle({"GET", "/v1/services/web", "", ""}).status, 200);
}

TEST(RegistryStoreConfig, SqliteOrEtcdEndpointsAndOneLineErrorsNamingTheKey) {
  using config::parse_registry_store;
  EXPECT_TRUE(parse_registry_store("--registry", "sqlite").empty());
  const auto members =
      parse_registry_store("--registry", "etcd://127.0.0.1:2379,etcd://[::1]:22379,h:3");
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[1].host, "::1");
  EXPECT_EQ(members[1].port, 22379);
  EXPECT_EQ(members[2].host, "h");
  for (const char* bad : {"etcd://", "etcd://127.0.0.1", "etcd://a:1,", "http://a:1", "mysql"}) {
    try {
      parse_registry_store("--registry", bad);
      ADD_FAILURE() << "no error for " << bad;
    } catch (const config::ConfigError& e) {
      EXPECT_EQ(e.key(), "--registry") << bad;
    }
  }
  const auto parsed = config::parse_yaml(
      "registry:\n  store: etcd://127.0.0.1:2379\n  etcd_prefix: /team-a/\n  etcd_timeout: "
      "500ms\n");
  EXPECT_EQ(parsed.registry.etcd.size(), 1u);
  EXPECT_EQ(parsed.registry.etcd_prefix, "/team-a/");
  EXPECT_EQ(parsed.registry.etcd_timeout, 500ms);
  EXPECT_EQ(config::error_of("registry:\n  store: etcd://x\n").key(), "registry.store");
  EXPECT_EQ(config::error_of("registry:\n  etcd_prefix: nope\n").key(), "registry.etcd_prefix");
  EXPECT_EQ(config::error_of("registry:\n  etcd_timeout: 10m\n").key(), "registry.etcd_timeout");
  EXPECT_EQ(
      config::error_of(config::service("") + "admin: off\nregistry:\n  store: etcd://h:1\n").key(),
      "registry.store");
}

}  // namespace
}  // namespace sb::registry::etcd
