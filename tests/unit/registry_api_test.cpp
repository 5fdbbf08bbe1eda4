// Unit tests for src/registry/api: every route and status of the registry API, bad input naming
// its field, 404 vs 405, percent-decoding, and blocking queries (BlockingWait, clamp, wake-up).
// A real SqliteStore in a fresh temporary directory; time is a ManualClock.
#include "registry/api.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "registry/clock.hpp"
#include "registry/registry.hpp"
#include "registry/sqlite_store.hpp"
#include "registry_test_support.hpp"

namespace sb::registry {
namespace {

using testing::FailingStore;
using testing::make_record;

using json = nlohmann::json;
using namespace std::chrono_literals;

class RegistryApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    clock_.advance(1h);
    store_ = std::make_unique<SqliteStore>(dir_.string());
    failing_ = std::make_unique<FailingStore>(*store_);
    registry_ = std::make_unique<Registry>(*failing_, clock_, 60s);
    api_ = std::make_unique<RegistryApi>(*registry_, clock_);
  }
  void TearDown() override {
    api_.reset();
    registry_.reset();
    failing_.reset();
    store_.reset();
  }

  ApiResponse call(std::string_view method, std::string_view path, std::string_view body = {},
                   std::string_view query = {}, WaitMode mode = WaitMode::kMayWait) {
    return api_->handle(ApiRequest{method, path, query, body}, mode);
  }
  ApiResponse get(std::string_view path, std::string_view query = {},
                  WaitMode mode = WaitMode::kMayWait) {
    return call("GET", path, {}, query, mode);
  }
  ApiResponse put_instance(std::string_view service, std::string_view id,
                           std::string_view body = R"({"address": "10.0.0.1", "port": 8080})") {
    return call("PUT", "/v1/services/" + std::string(service) + "/instances/" + std::string(id),
                body);
  }

  static json body_of(const ApiResponse& response) {
    return json::parse(response.body);  // throws (failing the test) if not JSON
  }

  // Asserts a 400 naming `field`.
  static void expect_bad(const ApiResponse& response, const std::string& field) {
    EXPECT_EQ(response.status, 400) << response.body;
    const json body = body_of(response);
    EXPECT_EQ(body.value("field", ""), field) << response.body;
    EXPECT_TRUE(body.contains("error") && body["error"].is_string()) << response.body;
    EXPECT_FALSE(response.wait.has_value());
  }

  testing::TempDir tmp_;  // declared first: outlives the stores that use it
  std::filesystem::path dir_;
  ManualClock clock_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<FailingStore> failing_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<RegistryApi> api_;
};

// ---- registration ----

TEST_F(RegistryApiTest, RegisterCreatesThenUpdates) {
  const ApiResponse created = put_instance(
      "web", "w1",
      R"({"address": "10.0.0.1", "port": 8080, "weight": 3, "tags": ["a"], "meta": {"zone": "x"},
          "ttl": "10s", "routes": [{"path_prefix": "/web"}]})");
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_FALSE(created.wait.has_value());
  EXPECT_EQ(created.index, registry_->index("web"));
  EXPECT_GT(created.index, 0u);
  const json view = body_of(created);
  EXPECT_EQ(view["id"], "w1");
  EXPECT_EQ(view["address"], "10.0.0.1");
  EXPECT_EQ(view["port"], 8080);
  EXPECT_EQ(view["weight"], 3);
  EXPECT_EQ(view["tags"], json::array({"a"}));
  EXPECT_EQ(view["meta"], json({{"zone", "x"}}));
  EXPECT_EQ(view["ttl"], "10s");
  EXPECT_EQ(view["routes"], json::parse(R"([{"path_prefix": "/web"}])"));
  EXPECT_EQ(view["state"], "passing");
  EXPECT_EQ(view["last_heartbeat_ms_ago"], 0);
  EXPECT_TRUE(registry_->contains("web", "w1"));

  const ApiResponse updated = put_instance("web", "w1", R"({"address": "10.0.0.2", "port": 81})");
  EXPECT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(body_of(updated)["address"], "10.0.0.2");
  EXPECT_EQ(body_of(updated)["ttl"], nullptr);
  EXPECT_GT(updated.index, created.index);

  // Idempotent: the same body again is 200 and leaves the index alone.
  const ApiResponse again = put_instance("web", "w1", R"({"address": "10.0.0.2", "port": 81})");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.index, updated.index);
}

TEST_F(RegistryApiTest, RegisterBadInputNamesTheField) {
  expect_bad(put_instance("Web", "w1"), "service");
  expect_bad(put_instance("-web", "w1"), "service");
  expect_bad(put_instance(std::string(64, 'a'), "w1"), "service");
  expect_bad(put_instance("web", std::string(129, 'i')), "id");
  expect_bad(put_instance("web", "w%201"), "id");  // a space, once decoded
  expect_bad(put_instance("web", "w%zz"), "id");   // not percent-encoding
  expect_bad(put_instance("we%2", "w1"), "service");
  expect_bad(put_instance("web", "w1", "not json"), "body");
  expect_bad(put_instance("web", "w1", std::string(kMaxBodyBytes + 1, ' ')), "body");
  expect_bad(put_instance("web", "w1", R"({"port": 80})"), "address");
  expect_bad(put_instance("web", "w1", R"({"address": "a", "port": 0})"), "port");
  expect_bad(put_instance("web", "w1", R"({"address": "a", "port": 65536})"), "port");
  expect_bad(put_instance("web", "w1", R"({"address": "a", "port": 80, "weight": 1001})"),
             "weight");
  expect_bad(put_instance("web", "w1", R"({"address": "a", "port": 80, "ttl": "2h"})"), "ttl");
  expect_bad(put_instance("web", "w1", R"({"address": "a", "port": 80, "colour": "red"})"),
             "colour");
  EXPECT_TRUE(registry_->services().empty());
}

TEST_F(RegistryApiTest, PercentDecodedIds) {
  const ApiResponse created = put_instance("web", "host%2Fa%3A8080");
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(body_of(created)["id"], "host/a:8080");
  EXPECT_TRUE(registry_->contains("web", "host/a:8080"));
  // Either hex case; the service segment is decoded too, then validated.
  EXPECT_EQ(call("PUT", "/v1/services/%77eb/instances/host%2fa%3a8080/heartbeat").status, 200);
  EXPECT_EQ(call("DELETE", "/v1/services/web/instances/host%2Fa%3A8080").status, 200);
  EXPECT_FALSE(registry_->contains("web", "host/a:8080"));
  // '+' is not a space in a path.
  EXPECT_EQ(put_instance("web", "a+b").status, 201);
  EXPECT_TRUE(registry_->contains("web", "a+b"));
  // A decoded service name must still validate.
  expect_bad(put_instance("w%2Feb", "w1"), "service");
}

// ---- heartbeat, drain, undrain, deregister ----

TEST_F(RegistryApiTest, HeartbeatRenewsOrIs404) {
  ASSERT_EQ(put_instance("web", "w1", R"({"address": "a", "port": 80, "ttl": "10s"})").status, 201);
  clock_.advance(4s);
  ApiResponse beat = call("PUT", "/v1/services/web/instances/w1/heartbeat");
  EXPECT_EQ(beat.status, 200) << beat.body;
  EXPECT_EQ(body_of(beat)["last_heartbeat_ms_ago"], 0);
  EXPECT_EQ(beat.index, registry_->index("web"));

  const ApiResponse unknown = call("PUT", "/v1/services/web/instances/nope/heartbeat");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(body_of(unknown), json({{"error", "unknown instance"}, {"field", "id"}}));
  EXPECT_EQ(call("PUT", "/v1/services/other/instances/w1/heartbeat").status, 404);
  expect_bad(call("PUT", "/v1/services/WEB/instances/w1/heartbeat"), "service");
}

TEST_F(RegistryApiTest, DrainAndUndrain) {
  ASSERT_EQ(put_instance("web", "w1").status, 201);
  const ApiResponse drained = call("POST", "/v1/services/web/instances/w1/drain");
  EXPECT_EQ(drained.status, 200) << drained.body;
  EXPECT_EQ(body_of(drained)["state"], "draining");
  EXPECT_EQ(registry_->instances("web")[0].state, InstanceState::kDraining);
  EXPECT_EQ(call("POST", "/v1/services/web/instances/w1/drain").status, 200);  // already so

  const ApiResponse undrained = call("POST", "/v1/services/web/instances/w1/undrain");
  EXPECT_EQ(undrained.status, 200);
  EXPECT_EQ(body_of(undrained)["state"], "passing");
  EXPECT_GT(undrained.index, drained.index);

  for (const char* action : {"drain", "undrain"}) {
    const ApiResponse missing =
        call("POST", std::string("/v1/services/web/instances/nope/") + action);
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(body_of(missing)["field"], "id");
  }
}

TEST_F(RegistryApiTest, Deregister) {
  ASSERT_EQ(put_instance("web", "w1").status, 201);
  const ApiResponse gone = call("DELETE", "/v1/services/web/instances/w1");
  EXPECT_EQ(gone.status, 200) << gone.body;
  EXPECT_EQ(body_of(gone), json({{"service", "web"}, {"id", "w1"}}));
  EXPECT_EQ(gone.index, registry_->index("web"));
  EXPECT_FALSE(registry_->contains("web", "w1"));
  EXPECT_TRUE(store_->load_all().empty());

  const ApiResponse again = call("DELETE", "/v1/services/web/instances/w1");
  EXPECT_EQ(again.status, 404);
  EXPECT_EQ(body_of(again)["field"], "id");
}

// ---- reads ----

TEST_F(RegistryApiTest, ListServices) {
  ApiResponse empty = get("/v1/services");
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(body_of(empty), json({{"index", 0}, {"services", json::array()}}));

  ASSERT_EQ(put_instance("web", "w1").status, 201);
  ASSERT_EQ(put_instance("web", "w2").status, 201);
  ASSERT_EQ(put_instance("api", "a1").status, 201);
  ASSERT_EQ(call("POST", "/v1/services/web/instances/w2/drain").status, 200);

  const ApiResponse list = get("/v1/services");
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(list.index, registry_->global_index());
  EXPECT_EQ(body_of(list), json::parse(R"({"index": 4, "services": [
      {"name": "api", "passing": 1, "total": 1},
      {"name": "web", "passing": 1, "total": 2}]})"));
}

TEST_F(RegistryApiTest, ServiceInstancesWithState) {
  ASSERT_EQ(put_instance("web", "w1", R"({"address": "a", "port": 80, "ttl": "1500ms"})").status,
            201);
  ASSERT_EQ(put_instance("web", "w2", R"({"address": "b", "port": 81})").status, 201);
  ASSERT_EQ(put_instance("web", "w3", R"({"address": "c", "port": 82, "ttl": "1m"})").status, 201);
  ASSERT_EQ(call("POST", "/v1/services/web/instances/w2/drain").status, 200);
  clock_.advance(2s);
  registry_->tick();  // w1's ttl ran out

  const ApiResponse response = get("/v1/services/web");
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.index, registry_->index("web"));
  const json body = body_of(response);
  EXPECT_EQ(body["index"], registry_->index("web"));
  EXPECT_EQ(body["service"], "web");
  ASSERT_EQ(body["instances"].size(), 3u);
  const json& w1 = body["instances"][0];
  EXPECT_EQ(w1["id"], "w1");
  EXPECT_EQ(w1["state"], "critical");
  EXPECT_EQ(w1["ttl"], "1500ms");
  EXPECT_EQ(w1["last_heartbeat_ms_ago"], 2000);
  EXPECT_EQ(body["instances"][1]["state"], "draining");
  EXPECT_EQ(body["instances"][1]["ttl"], nullptr);
  EXPECT_EQ(body["instances"][2]["state"], "passing");
  EXPECT_EQ(body["instances"][2]["ttl"], "1m");
  for (const char* key : {"id", "address", "port", "weight", "tags", "meta", "ttl", "state",
                          "last_heartbeat_ms_ago"}) {
    EXPECT_TRUE(w1.contains(key)) << key;
  }
}

TEST_F(RegistryApiTest, UnknownServiceIs404WithItsIndex) {
  const ApiResponse never = get("/v1/services/web");
  EXPECT_EQ(never.status, 404);
  EXPECT_EQ(body_of(never), json({{"error", "unknown service"}, {"field", "service"}}));
  EXPECT_EQ(never.index, 0u);

  ASSERT_EQ(put_instance("web", "w1").status, 201);
  ASSERT_EQ(call("DELETE", "/v1/services/web/instances/w1").status, 200);
  const ApiResponse gone = get("/v1/services/web");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.index, registry_->index("web"));
  EXPECT_GT(gone.index, 0u);

  expect_bad(get("/v1/services/Web"), "service");
}

// ---- routing ----

TEST_F(RegistryApiTest, WrongMethodIs405UnknownPathIs404) {
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& c :
       {Case{"POST", "/v1/services", "GET"}, Case{"DELETE", "/v1/services/web", "GET"},
        Case{"GET", "/v1/services/web/instances/w1", "PUT, DELETE"},
        Case{"POST", "/v1/services/web/instances/w1", "PUT, DELETE"},
        Case{"POST", "/v1/services/web/instances/w1/heartbeat", "PUT"},
        Case{"PUT", "/v1/services/web/instances/w1/drain", "POST"},
        Case{"get", "/v1/services", "GET"},
        // 405 wins over a bad service name: the path's shape is known.
        Case{"PUT", "/v1/services/BAD", "GET"}}) {
    const ApiResponse response = call(c.method, c.path);
    EXPECT_EQ(response.status, 405) << c.method << " " << c.path;
    EXPECT_EQ(response.allow, c.allow);
    const json body = body_of(response);
    EXPECT_EQ(body["error"], "method not allowed");
    EXPECT_TRUE(body["allow"].is_array());
  }
  EXPECT_EQ(body_of(call("GET", "/v1/services/web/instances/w1"))["allow"],
            json::array({"PUT", "DELETE"}));

  for (const char* path :
       {"/", "", "/v1", "/v2/services", "/v1/services/", "/v1/services//instances/w1",
        "/v1/services/web/instances", "/v1/services/web/instances/", "/v1/services/web/nodes/w1",
        "/v1/services/web/instances/w1/reboot", "/v1/services/web/instances/w1/drain/x",
        "v1/services", "/v1/services/web/instances/w1/heartbeat/"}) {
    for (const char* method : {"GET", "PUT"}) {
      const ApiResponse response = call(method, path);
      EXPECT_EQ(response.status, 404) << method << " " << path;
      EXPECT_EQ(body_of(response)["error"], "not found");
    }
  }
}

// ---- query parameters and blocking queries ----

TEST_F(RegistryApiTest, BadQueryNamesTheField) {
  for (const char* query : {"index=", "index=-1", "index=1.5", "index=abc", "index=+3",
                            "index=18446744073709551616", "index=1&index=2", "index=%zz"}) {
    expect_bad(get("/v1/services", query), "index");
    expect_bad(get("/v1/services/web", query), "index");
  }
  for (const char* query : {"wait=", "wait=30", "wait=-1s", "wait=1.5s", "wait=30x",
                            "wait=1s&wait=2s", "index=1&wait=s"}) {
    expect_bad(get("/v1/services", query), "wait");
    expect_bad(get("/v1/services/web", query), "wait");
  }
  // The largest index parses; unknown parameters are ignored.
  EXPECT_EQ(get("/v1/services", "index=18446744073709551615").status, 200);
  EXPECT_EQ(get("/v1/services", "pretty&stale=1&&").status, 200);
}

TEST_F(RegistryApiTest, BlockingQueryWaitsWhileIndexUnchanged) {
  ASSERT_EQ(put_instance("web", "w1").status, 201);
  const uint64_t index = registry_->index("web");

  const ApiResponse parked =
      get("/v1/services/web", "index=" + std::to_string(index) + "&wait=30s");
  EXPECT_EQ(parked.status, 0);
  EXPECT_TRUE(parked.body.empty());
  EXPECT_EQ(parked.index, index);
  ASSERT_TRUE(parked.wait.has_value());
  EXPECT_EQ(*parked.wait, (BlockingWait{"web", index, 30s}));

  // At the deadline the caller asks for an answer: the current state, not another wait.
  const ApiResponse expired =
      get("/v1/services/web", "index=" + std::to_string(index) + "&wait=30s", WaitMode::kAnswerNow);
  EXPECT_EQ(expired.status, 200);
  EXPECT_FALSE(expired.wait.has_value());
  EXPECT_EQ(expired.index, index);

  // A change elsewhere does not wake this service's query.
  ASSERT_EQ(put_instance("api", "a1").status, 201);
  EXPECT_TRUE(get("/v1/services/web", "index=" + std::to_string(index)).wait.has_value());

  // A change to the service does: the re-call answers at once with the new index.
  ASSERT_EQ(put_instance("web", "w2").status, 201);
  const ApiResponse woken = get("/v1/services/web", "index=" + std::to_string(index) + "&wait=30s");
  EXPECT_EQ(woken.status, 200) << woken.body;
  EXPECT_FALSE(woken.wait.has_value());
  EXPECT_GT(woken.index, index);
  EXPECT_EQ(body_of(woken)["instances"].size(), 2u);
}

TEST_F(RegistryApiTest, BlockingQueryAnswersAtOnceWhenIndexMovedOrBehind) {
  ASSERT_EQ(put_instance("web", "w1").status, 201);
  ASSERT_EQ(put_instance("web", "w2").status, 201);
  const uint64_t index = registry_->index("web");
  ASSERT_GE(index, 2u);
  // The client's index is older: answered at once.
  const ApiResponse moved = get("/v1/services/web", "index=" + std::to_string(index - 1));
  EXPECT_EQ(moved.status, 200);
  EXPECT_FALSE(moved.wait.has_value());
  EXPECT_EQ(moved.index, index);
  // The client's index is ahead (it saw a previous incarnation): answered at once too, so it
  // starts over from the lower index.
  const ApiResponse ahead = get("/v1/services/web", "index=" + std::to_string(index + 100));
  EXPECT_EQ(ahead.status, 200);
  EXPECT_FALSE(ahead.wait.has_value());
  EXPECT_EQ(ahead.index, index);
  // Without ?index nothing blocks, ?wait or not.
  EXPECT_FALSE(get("/v1/services/web", "wait=30s").wait.has_value());
  // ?wait=0s answers at once.
  EXPECT_EQ(get("/v1/services/web", "index=" + std::to_string(index) + "&wait=0s").status, 200);
}

TEST_F(RegistryApiTest, BlockingWaitDefaultAndClamp) {
  ASSERT_EQ(put_instance("web", "w1").status, 201);
  const std::string index = "index=" + std::to_string(registry_->index("web"));
  const auto wait_of = [&](const std::string& query) {
    const ApiResponse response = get("/v1/services/web", query);
    EXPECT_TRUE(response.wait.has_value()) << query;
    return response.wait ? response.wait->wait : std::chrono::milliseconds(-1);
  };
  EXPECT_EQ(wait_of(index), kDefaultBlockingWait);
  EXPECT_EQ(kDefaultBlockingWait, 5min);
  EXPECT_EQ(wait_of(index + "&wait=500ms"), 500ms);
  EXPECT_EQ(wait_of(index + "&wait=5m"), 5min);
  EXPECT_EQ(wait_of(index + "&wait=10m"), 10min);
  EXPECT_EQ(wait_of(index + "&wait=11m"), 10min);
  EXPECT_EQ(wait_of(index + "&wait=1h"), 10min);
  EXPECT_EQ(wait_of("wait=30s&" + index), 30s);
  EXPECT_EQ(wait_of("?" + index + "&wait=30s"), 30s);
}

TEST_F(RegistryApiTest, BlockingQueryOnUnknownServiceWaitsForIt) {
  const ApiResponse parked = get("/v1/services/web", "index=0&wait=1m");
  ASSERT_TRUE(parked.wait.has_value());
  EXPECT_EQ(*parked.wait, (BlockingWait{"web", 0, 1min}));
  // At the deadline, still unknown: 404.
  EXPECT_EQ(get("/v1/services/web", "index=0&wait=1m", WaitMode::kAnswerNow).status, 404);

  ASSERT_EQ(put_instance("web", "w1").status, 201);
  const ApiResponse appeared = get("/v1/services/web", "index=0&wait=1m");
  EXPECT_EQ(appeared.status, 200);
  EXPECT_EQ(body_of(appeared)["instances"].size(), 1u);

  // Waiting on the last instance's deregistration wakes with 404 and the new index.
  const uint64_t index = appeared.index;
  ASSERT_TRUE(get("/v1/services/web", "index=" + std::to_string(index)).wait.has_value());
  ASSERT_EQ(call("DELETE", "/v1/services/web/instances/w1").status, 200);
  const ApiResponse gone = get("/v1/services/web", "index=" + std::to_string(index));
  EXPECT_EQ(gone.status, 404);
  EXPECT_GT(gone.index, index);
}

TEST_F(RegistryApiTest, BlockingQueryOnServiceListWatchesGlobalIndex) {
  ASSERT_EQ(put_instance("web", "w1").status, 201);
  const uint64_t index = registry_->global_index();
  const ApiResponse parked = get("/v1/services", "index=" + std::to_string(index) + "&wait=20s");
  ASSERT_TRUE(parked.wait.has_value());
  EXPECT_EQ(*parked.wait, (BlockingWait{"", index, 20s}));
  ASSERT_EQ(put_instance("api", "a1").status, 201);
  const ApiResponse woken = get("/v1/services", "index=" + std::to_string(index) + "&wait=20s");
  EXPECT_EQ(woken.status, 200);
  EXPECT_EQ(woken.index, index + 1);
  EXPECT_EQ(body_of(woken)["services"].size(), 2u);
}

// ---- failures ----

TEST_F(RegistryApiTest, StoreFailureIs500AndChangesNothing) {
  ASSERT_EQ(put_instance("web", "w1").status, 201);
  failing_->fail = true;
  EXPECT_EQ(put_instance("web", "w2").status, 500);
  EXPECT_EQ(call("POST", "/v1/services/web/instances/w1/drain").status, 500);
  const ApiResponse failed = call("DELETE", "/v1/services/web/instances/w1");
  EXPECT_EQ(failed.status, 500);
  EXPECT_NE(body_of(failed)["error"].get<std::string>().find("disk full"), std::string::npos);
  failing_->fail = false;
  EXPECT_FALSE(registry_->contains("web", "w2"));
  EXPECT_TRUE(registry_->contains("web", "w1"));
  EXPECT_EQ(registry_->instances("web")[0].state, InstanceState::kPassing);
}

TEST_F(RegistryApiTest, InvalidUtf8InErrorMessagesStillGivesJson) {
  const ApiResponse response = get("/v1/services", "wait=%FF%FE");
  expect_bad(response, "wait");
}

TEST(RegistryApiHelpers, PercentDecode) {
  EXPECT_EQ(percent_decode("a%2Fb%2fc"), "a/b/c");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_EQ(percent_decode(""), "");
  EXPECT_EQ(percent_decode("%41%61"), "Aa");
  EXPECT_EQ(percent_decode("%"), std::nullopt);
  EXPECT_EQ(percent_decode("%4"), std::nullopt);
  EXPECT_EQ(percent_decode("a%4"), std::nullopt);
  EXPECT_EQ(percent_decode("%g0"), std::nullopt);
}

TEST(RegistryApiHelpers, FormatDurationRoundTrips) {
  EXPECT_EQ(format_duration(1h), "1h");
  EXPECT_EQ(format_duration(90min), "90m");
  EXPECT_EQ(format_duration(10s), "10s");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(0ms), "0s");
  for (const std::chrono::milliseconds d : {1000ms, 3'600'000ms, 1001ms, 61'000ms, 120'000ms}) {
    EXPECT_EQ(parse_ttl(format_duration(d)), d);
  }
}

}  // namespace
}  // namespace sb::registry
