// Unit tests for the client library's AdminClient, Registration and Resolver against a scripted
// admin server: paths and bodies, failover, errors, heartbeat and re-registration, the resolver
// keeping its list through failures, and threads that stop at once when destroyed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <future>
#include <set>

#include "client_fake_admin.hpp"
#include "switchboard/client.hpp"

namespace switchboard {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using testing::eventually;
using testing::FakeAdmin;
using testing::RefusingPort;
using testing::Reply;
using testing::SeenRequest;

ClientOptions options_for(std::vector<std::string> admin) {
  ClientOptions options;
  options.admin = std::move(admin);
  options.timeout = 2s;
  return options;
}

// What the registry answers to a registration: the body with id and state added.
Reply echo_registration(const SeenRequest& request, const std::string& id, int status = 201) {
  json body = json::parse(request.body);
  body["id"] = id;
  body["state"] = "passing";
  body["last_heartbeat_ms_ago"] = 0;
  return {status, body.dump(), {}};
}

json instance_json(const std::string& id, uint16_t port, const std::string& state = "passing") {
  return {{"id", id}, {"address", "127.0.0.1"}, {"port", port}, {"state", state}};
}

Reply listing(uint64_t index, const json& instances) {
  return {200,
          json{{"index", index}, {"service", "web"}, {"instances", instances}}.dump(),
          {{"X-Switchboard-Index", std::to_string(index)}}};
}

const Reply kUnknownInstance{404, R"({"error":"unknown instance","field":"id"})", {}};

RegistrationSpec spec(std::optional<std::chrono::milliseconds> ttl = 1s) {
  RegistrationSpec s;
  s.service = "web";
  s.id = "web/1";
  s.address = "127.0.0.1";
  s.port = 9101;
  s.ttl = ttl;
  return s;
}

TEST(ClientAdmin, FailsOverToTheNextAddress) {
  RefusingPort refusing;
  FakeAdmin admin([](const SeenRequest&) {
    return Reply{200, R"({"index":3,"services":[{"name":"web","passing":1,"total":2}]})", {}};
  });
  AdminClient client(options_for({refusing.address(), admin.address()}));
  const auto services = client.services();
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].name, "web");
  EXPECT_EQ(services[0].total, 2u);
  EXPECT_EQ(admin.count("GET", "/v1/services"), 1u);
}

// A cluster node that cannot reach etcd answers writes 503; another node may reach it.
TEST(ClientAdmin, A503MovesOnToTheNextAddressAndTheLastOneIsTheAnswer) {
  FakeAdmin cut_off([](const SeenRequest&) {
    return Reply{503, R"({"error":"registry unavailable: etcd unreachable: refused"})", {}};
  });
  FakeAdmin healthy([](const SeenRequest& r) { return echo_registration(r, "web/1"); });
  AdminClient client(options_for({cut_off.address(), healthy.address()}));
  EXPECT_EQ(client.register_instance(spec()).port, 9101);
  EXPECT_EQ(cut_off.requests().size(), 1u);
  EXPECT_EQ(healthy.requests().size(), 1u);

  AdminClient only_cut_off(options_for({cut_off.address()}));
  try {
    only_cut_off.register_instance(spec());
    FAIL() << "no error";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.status(), 503);
    EXPECT_NE(std::string(e.what()).find("etcd unreachable"), std::string::npos) << e.what();
  }
}

// A hung node (it accepts and never answers) costs the first call its timeout; later calls start
// with the address that answered, so they do not wait on the hung one again.
TEST(ClientAdmin, StartsWithTheAddressThatAnsweredLast) {
  FakeAdmin hung([](const SeenRequest&) { return std::nullopt; });
  FakeAdmin healthy([](const SeenRequest&) {
    return Reply{200, R"({"index":3,"services":[{"name":"web","passing":1,"total":1}]})", {}};
  });
  ClientOptions options = options_for({hung.address(), healthy.address()});
  options.timeout = 300ms;
  AdminClient client(options);
  EXPECT_EQ(client.current_admin(), hung.address());
  EXPECT_EQ(client.services().size(), 1u);
  EXPECT_EQ(hung.requests().size(), 1u);
  EXPECT_EQ(client.current_admin(), healthy.address());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.services().size(), 1u);
  EXPECT_TRUE(client.heartbeat("web", "a"));
  AdminClient copy = client;  // copies share where calls start
  EXPECT_EQ(copy.services().size(), 1u);
  EXPECT_EQ(hung.requests().size(), 1u);
  EXPECT_EQ(healthy.requests().size(), 8u);
  // A client of its own starts at the first address again.
  AdminClient fresh(options);
  EXPECT_EQ(fresh.services().size(), 1u);
  EXPECT_EQ(hung.requests().size(), 2u);
}

// From the remembered address, a failure moves on in order and wraps around to the addresses
// before it; a 503 (a node cut off from etcd) moves on like a refused connection.
TEST(ClientAdmin, FailoverGoesRoundTheListFromTheRememberedAddress) {
  std::array<std::atomic<bool>, 3> down{};
  auto node = [&down](size_t i) {
    return [&down, i](const SeenRequest&) {
      if (down[i]) return Reply{503, R"({"error":"registry unavailable: etcd unreachable"})", {}};
      return Reply{200, R"({"index":1,"services":[]})", {}};
    };
  };
  FakeAdmin a(node(0));
  FakeAdmin b(node(1));
  FakeAdmin c(node(2));
  AdminClient client(options_for({a.address(), b.address(), c.address()}));
  const auto calls = [&] {
    return std::vector<size_t>{a.requests().size(), b.requests().size(), c.requests().size()};
  };
  down[0] = true;
  client.services();  // a: 503, b answers
  EXPECT_EQ(calls(), (std::vector<size_t>{1, 1, 0}));
  client.services();  // b at once
  EXPECT_EQ(calls(), (std::vector<size_t>{1, 2, 0}));
  down[0] = false;
  down[1] = true;
  down[2] = true;
  client.services();  // b: 503, c: 503, then round to a
  EXPECT_EQ(calls(), (std::vector<size_t>{2, 3, 1}));
  EXPECT_EQ(client.current_admin(), a.address());
  client.services();
  EXPECT_EQ(calls(), (std::vector<size_t>{3, 3, 1}));
}

TEST(ClientAdmin, NoAddressAnsweringIsStatusZeroNamingThemAll) {
  RefusingPort first;
  RefusingPort second;
  AdminClient client(options_for({first.address(), second.address()}));
  try {
    client.services();
    FAIL() << "no error";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.status(), 0);
    const std::string message = e.what();
    EXPECT_NE(message.find(first.address()), std::string::npos) << message;
    EXPECT_NE(message.find(second.address()), std::string::npos) << message;
  }
  AdminClient malformed(options_for({"nonsense"}));
  EXPECT_THROW(malformed.services(), ClientError);
}

TEST(ClientAdmin, RegisterPutsTheSpecUnderAnEncodedId) {
  FakeAdmin admin([](const SeenRequest& r) { return echo_registration(r, "web/1"); });
  AdminClient client(options_for({admin.address()}));
  const InstanceInfo info = client.register_instance(spec());
  EXPECT_EQ(info.id, "web/1");
  EXPECT_EQ(info.ttl, std::optional<std::chrono::milliseconds>(1s));
  const auto seen = admin.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_EQ(seen[0].target, "/v1/services/web/instances/web%2F1");
  EXPECT_EQ(seen[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(json::parse(seen[0].body)["port"], 9101);
}

TEST(ClientAdmin, ABadRequestNamesTheField) {
  FakeAdmin admin([](const SeenRequest&) {
    return Reply{400, R"({"error":"70000 is out of range 1-65535","field":"port"})", {}};
  });
  AdminClient client(options_for({admin.address()}));
  try {
    client.register_instance(spec());
    FAIL() << "no error";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.field(), "port");
    EXPECT_STREQ(e.what(), "port: 70000 is out of range 1-65535");
  }
}

TEST(ClientAdmin, NotFoundIsFalseOnlyWhenItNamesTheInstance) {
  FakeAdmin admin([](const SeenRequest& r) {
    if (r.target.find("/other/") != std::string::npos) return Reply{404, "nothing here", {}};
    return kUnknownInstance;
  });
  AdminClient client(options_for({admin.address()}));
  EXPECT_FALSE(client.heartbeat("web", "a"));
  EXPECT_FALSE(client.deregister("web", "a"));
  EXPECT_FALSE(client.drain("web", "a"));
  EXPECT_FALSE(client.undrain("web", "a"));
  EXPECT_EQ(admin.count("PUT", "/v1/services/web/instances/a/heartbeat"), 1u);
  EXPECT_EQ(admin.count("DELETE", "/v1/services/web/instances/a"), 1u);
  EXPECT_EQ(admin.count("POST", "/v1/services/web/instances/a/drain"), 1u);
  EXPECT_EQ(admin.count("POST", "/v1/services/web/instances/a/undrain"), 1u);
  // A 404 that is not the API's (wrong port, another version): an error, not "no instance".
  EXPECT_THROW(client.heartbeat("other", "a"), ClientError);
}

TEST(ClientAdmin, BlockingQueryAndUnknownService) {
  FakeAdmin admin([](const SeenRequest& r) {
    if (r.target.rfind("/v1/services/web", 0) == 0)
      return listing(8, json::array({instance_json("a", 1)}));
    return Reply{
        404, R"({"error":"unknown service","field":"service"})", {{"X-Switchboard-Index", "5"}}};
  });
  AdminClient client(options_for({admin.address()}));
  const InstanceList list = client.instances("web", 7, 2500ms);
  EXPECT_EQ(list.index, 8u);
  ASSERT_EQ(list.instances.size(), 1u);
  EXPECT_EQ(list.instances[0].service, "web");
  EXPECT_EQ(admin.count("GET", "/v1/services/web?index=7&wait=2500ms"), 1u);
  const InstanceList unknown = client.instances("nope");
  EXPECT_EQ(unknown.index, 5u);
  EXPECT_TRUE(unknown.instances.empty());
  EXPECT_EQ(admin.count("GET", "/v1/services/nope"), 1u);
}

TEST(ClientAdmin, CancelEndsAParkedQuery) {
  FakeAdmin admin([](const SeenRequest&) { return std::nullopt; });
  AdminClient client(options_for({admin.address()}));
  auto parked = std::async(std::launch::async, [&] { client.instances("web", 1, 30s); });
  ASSERT_TRUE(eventually([&] { return admin.requests().size() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  client.cancel();
  EXPECT_THROW(parked.get(), ClientError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(ClientRegistration, RegistersHeartbeatsReregistersOn404AndDeregisters) {
  const std::string instance = "/v1/services/web/instances/web%2F1";
  std::atomic<int> heartbeats{0};
  FakeAdmin admin([&](const SeenRequest& r) -> std::optional<Reply> {
    if (r.method == "PUT" && r.target == instance) return echo_registration(r, "web/1");
    if (r.target == instance + "/heartbeat") {
      // The second heartbeat finds the registry has forgotten the instance.
      return ++heartbeats == 2 ? kUnknownInstance : Reply{200, "{}", {}};
    }
    if (r.method == "DELETE") return Reply{200, "{}", {}};
    return Reply{500, "{}", {}};
  });
  auto registration = std::make_unique<Registration>(options_for({admin.address()}), spec(1s));
  EXPECT_EQ(admin.count("PUT", instance), 1u);  // registered before the constructor returned
  ASSERT_TRUE(eventually([&] { return heartbeats >= 3; }));
  EXPECT_EQ(admin.count("PUT", instance), 2u);  // once more, after the 404
  const auto start = std::chrono::steady_clock::now();
  registration.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(admin.count("DELETE", instance), 1u);
}

// Registration and heartbeats go through the first node; once it hangs, the heartbeats that
// follow (and the deregistration) go straight to the node that answered instead of each waiting
// out the hung one first, which at a heartbeat every ttl/3 would let the ttl run out.
TEST(ClientRegistration, HeartbeatsStayWithTheNodeThatAnswered) {
  const std::string instance = "/v1/services/web/instances/web%2F1";
  std::atomic<bool> hang{false};
  std::atomic<int> hung_calls{0};
  const auto registry = [&](bool can_hang) {
    return [&, can_hang](const SeenRequest& r) -> std::optional<Reply> {
      if (can_hang && hang) {
        ++hung_calls;
        return std::nullopt;
      }
      if (r.method == "PUT" && r.target == instance) return echo_registration(r, "web/1");
      return Reply{200, "{}", {}};
    };
  };
  FakeAdmin first(registry(true));
  FakeAdmin second(registry(false));
  ClientOptions options = options_for({first.address(), second.address()});
  options.timeout = 300ms;
  auto registration = std::make_unique<Registration>(options, spec(300ms));
  ASSERT_TRUE(eventually([&] { return first.count("PUT", instance + "/heartbeat") >= 2; }));
  EXPECT_EQ(second.requests().size(), 0u);
  hang = true;
  ASSERT_TRUE(eventually([&] { return second.count("PUT", instance + "/heartbeat") >= 5; }));
  EXPECT_EQ(hung_calls, 1);  // the one heartbeat that found it hung
  registration.reset();
  EXPECT_EQ(second.count("DELETE", instance), 1u);
  EXPECT_EQ(hung_calls, 1);  // the deregistration did not try the hung node first
}

TEST(ClientRegistration, ConstructorThrowsWhenRegistrationFails) {
  RefusingPort refusing;
  EXPECT_THROW(Registration(options_for({refusing.address()}), spec()), ClientError);
}

TEST(ClientRegistration, DestructionDoesNotWaitForAHungHeartbeat) {
  std::atomic<bool> hang{false};
  FakeAdmin admin([&](const SeenRequest& r) -> std::optional<Reply> {
    if (r.method == "PUT" && r.target.ends_with("/heartbeat")) {
      hang = true;
      return std::nullopt;
    }
    if (r.method == "PUT") return echo_registration(r, "web/1");
    return Reply{200, "{}", {}};
  });
  ClientOptions options = options_for({admin.address()});
  options.timeout = 30s;
  auto registration = std::make_unique<Registration>(options, spec(1s));
  ASSERT_TRUE(eventually([&] { return hang.load(); }));
  const auto start = std::chrono::steady_clock::now();
  registration.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(ClientResolver, PicksPassingInstancesAndKeepsThemThroughFailures) {
  std::atomic<int> queries{0};
  FakeAdmin admin([&](const SeenRequest&) {
    if (++queries == 1) {
      return listing(4, json::array({instance_json("a", 1), instance_json("b", 2),
                                     instance_json("c", 3, "critical")}));
    }
    return Reply{500, R"({"error":"internal error: disk full"})", {}};
  });
  Resolver resolver(options_for({admin.address()}), "web");
  ASSERT_TRUE(resolver.wait_ready(5s));
  ASSERT_EQ(resolver.instances().size(), 2u);
  ASSERT_TRUE(eventually([&] { return queries >= 3; }));  // retried, with backoff
  EXPECT_EQ(resolver.instances().size(), 2u);             // the last good list stays
  std::set<std::string> picked;
  for (int i = 0; i < 2; ++i) picked.insert(resolver.pick().value().id);
  EXPECT_EQ(picked, (std::set<std::string>{"a", "b"}));
  // The query after the first answer blocks on the index the registry gave.
  EXPECT_EQ(admin.count("GET", "/v1/services/web"), 1u);
  EXPECT_GE(admin.count("GET", "/v1/services/web?index=4&wait=30s"), 2u);
}

TEST(ClientResolver, FollowsChangesAndEmptiesWhenTheServiceGoes) {
  std::atomic<int> queries{0};
  FakeAdmin admin([&](const SeenRequest&) -> std::optional<Reply> {
    switch (++queries) {
      case 1:
        return listing(1, json::array({instance_json("a", 1)}));
      case 2:
        return listing(2, json::array({instance_json("a", 1), instance_json("b", 2)}));
      case 3:
        return Reply{404,
                     R"({"error":"unknown service","field":"service"})",
                     {{"X-Switchboard-Index", "3"}}};
      default:
        return std::nullopt;  // parked
    }
  });
  Resolver resolver(options_for({admin.address()}), "web");
  ASSERT_TRUE(eventually([&] { return queries >= 4; }));
  EXPECT_TRUE(resolver.instances().empty());
  EXPECT_FALSE(resolver.pick());
  EXPECT_EQ(admin.count("GET", "/v1/services/web?index=1&wait=30s"), 1u);
  EXPECT_EQ(admin.count("GET", "/v1/services/web?index=2&wait=30s"), 1u);
  EXPECT_EQ(admin.count("GET", "/v1/services/web?index=3&wait=30s"), 1u);
}

TEST(ClientResolver, DestructionDoesNotWaitForABlockingQuery) {
  std::atomic<int> queries{0};
  FakeAdmin admin([&](const SeenRequest&) -> std::optional<Reply> {
    if (++queries == 1) return listing(1, json::array({instance_json("a", 1)}));
    return std::nullopt;
  });
  auto resolver = std::make_unique<Resolver>(options_for({admin.address()}), "web");
  ASSERT_TRUE(eventually([&] { return queries >= 2; }));  // the second query is parked
  const auto start = std::chrono::steady_clock::now();
  resolver.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(ClientResolver, WaitReadyTimesOutWithoutARegistry) {
  RefusingPort refusing;
  Resolver resolver(options_for({refusing.address()}), "web");
  EXPECT_FALSE(resolver.wait_ready(100ms));
  EXPECT_FALSE(resolver.pick());
}

TEST(ClientResolver, UnknownAlgorithmThrows) {
  EXPECT_THROW(Resolver(options_for({"127.0.0.1:1"}), "web", "coin_toss"), ClientError);
}

}  // namespace
}  // namespace switchboard
