// Unit tests for src/client/json: the client's JSON against the registry's own parser and API
// handler (a contract test without sockets), error bodies, and malformed answers.
#include "client/json.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <variant>

#include "registry/api.hpp"
#include "registry/clock.hpp"
#include "registry/model.hpp"
#include "registry/registry.hpp"
#include "registry/sqlite_store.hpp"
#include "registry_test_support.hpp"

namespace switchboard::detail {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

RegistrationSpec full_spec() {
  RegistrationSpec spec;
  spec.service = "web";
  spec.id = "web-1";
  spec.address = "10.0.0.7";
  spec.port = 8080;
  spec.weight = 3;
  spec.tags = {"blue", "v2"};
  spec.meta = {{"zone", "a"}, {"empty", ""}};
  spec.ttl = 1500ms;
  spec.routes = {{"", "/api"}, {"shop.example", "/"}};
  return spec;
}

TEST(ClientJson, RegistrationBodyIsWhatTheRegistryParses) {
  const RegistrationSpec spec = full_spec();
  const auto parsed = sb::registry::parse_registration("web", "web-1", registration_body(spec));
  ASSERT_TRUE(std::holds_alternative<sb::registry::InstanceRecord>(parsed))
      << std::get<sb::registry::ValidationError>(parsed).field;
  const auto& record = std::get<sb::registry::InstanceRecord>(parsed);
  EXPECT_EQ(record.address, "10.0.0.7");
  EXPECT_EQ(record.port, 8080);
  EXPECT_EQ(record.weight, 3u);
  EXPECT_EQ(record.tags, spec.tags);
  EXPECT_EQ(record.meta, spec.meta);
  EXPECT_EQ(record.ttl, std::optional<std::chrono::milliseconds>(1500ms));
  ASSERT_EQ(record.routes.size(), 2u);
  EXPECT_EQ(record.routes[0], (sb::registry::RouteDecl{"", "/api"}));
  EXPECT_EQ(record.routes[1], (sb::registry::RouteDecl{"shop.example", "/"}));
}

TEST(ClientJson, NoTtlMeansNoTtlKey) {
  RegistrationSpec spec = full_spec();
  spec.ttl.reset();
  spec.routes.clear();
  const json body = json::parse(registration_body(spec));
  EXPECT_FALSE(body.contains("ttl"));
  EXPECT_EQ(body["routes"], json::array());
}

// The registry's real API handler answers; the client reads what it answered.
class ClientJsonApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.advance(1h);
    store_ = std::make_unique<sb::registry::SqliteStore>(dir_.path().string());
    registry_ = std::make_unique<sb::registry::Registry>(*store_, clock_);
    api_ = std::make_unique<sb::registry::RegistryApi>(*registry_, clock_);
  }
  sb::registry::ApiResponse call(std::string_view method, std::string_view path,
                                 std::string_view body = {}) {
    return api_->handle({method, path, {}, body});
  }

  sb::registry::testing::TempDir dir_;
  sb::registry::ManualClock clock_;
  std::unique_ptr<sb::registry::SqliteStore> store_;
  std::unique_ptr<sb::registry::Registry> registry_;
  std::unique_ptr<sb::registry::RegistryApi> api_;
};

TEST_F(ClientJsonApiTest, ReadsTheRegisterEchoAndTheListing) {
  const auto put = call("PUT", "/v1/services/web/instances/web-1", registration_body(full_spec()));
  ASSERT_EQ(put.status, 201) << put.body;
  const InstanceInfo echoed = parse_instance(put.body, "web", put.status);
  EXPECT_EQ(echoed.service, "web");
  EXPECT_EQ(echoed.id, "web-1");
  EXPECT_EQ(echoed.port, 8080);
  EXPECT_EQ(echoed.state, "passing");
  EXPECT_EQ(echoed.ttl, std::optional<std::chrono::milliseconds>(1500ms));
  ASSERT_EQ(echoed.routes.size(), 2u);
  EXPECT_EQ(echoed.routes[1].host, "shop.example");

  clock_.advance(700ms);
  ASSERT_EQ(call("POST", "/v1/services/web/instances/web-1/drain").status, 200);
  const auto list = call("GET", "/v1/services/web");
  ASSERT_EQ(list.status, 200);
  const InstanceList parsed = parse_instance_list(list.body, "web", list.status);
  EXPECT_EQ(parsed.index, list.index);
  ASSERT_EQ(parsed.instances.size(), 1u);
  EXPECT_EQ(parsed.instances[0].state, "draining");
  EXPECT_EQ(parsed.instances[0].tags, (std::vector<std::string>{"blue", "v2"}));
  EXPECT_EQ(parsed.instances[0].meta.at("zone"), "a");
  EXPECT_EQ(parsed.instances[0].last_heartbeat_ago, 700ms);

  const auto services = call("GET", "/v1/services");
  const auto summaries = parse_services(services.body, services.status);
  ASSERT_EQ(summaries.size(), 1u);
  EXPECT_EQ(summaries[0].name, "web");
  EXPECT_EQ(summaries[0].passing, 0u);
  EXPECT_EQ(summaries[0].total, 1u);
}

TEST_F(ClientJsonApiTest, ReadsTheApiErrors) {
  RegistrationSpec spec = full_spec();
  spec.port = 0;
  const auto bad = call("PUT", "/v1/services/web/instances/web-1", registration_body(spec));
  ASSERT_EQ(bad.status, 400);
  const ApiError error = parse_error(bad.body, bad.status);
  EXPECT_EQ(error.field, "port");
  EXPECT_NE(error.message.find("out of range"), std::string::npos) << error.message;

  const auto missing = call("PUT", "/v1/services/web/instances/nope/heartbeat");
  ASSERT_EQ(missing.status, 404);
  EXPECT_EQ(parse_error(missing.body, 404).field, "id");
  EXPECT_EQ(parse_error(call("GET", "/v1/services/nope").body, 404).field, "service");
}

TEST(ClientJson, ErrorThatIsNotTheApisNamesTheStatus) {
  const ApiError error = parse_error("<html>Bad Gateway</html>\r\nmore", 502);
  EXPECT_EQ(error.message, "HTTP 502: <html>Bad Gateway</html>");
  EXPECT_EQ(error.field, "");
  EXPECT_EQ(parse_error("", 503).message, "HTTP 503");
}

TEST(ClientJson, MalformedAnswersThrowClientError) {
  const auto expect_malformed = [](auto&& parse) {
    try {
      parse();
      ADD_FAILURE() << "accepted";
    } catch (const ClientError& e) {
      EXPECT_EQ(e.status(), 200);
      EXPECT_NE(std::string(e.what()).find("malformed"), std::string::npos) << e.what();
    }
  };
  expect_malformed([] { parse_instance_list("not json", "web", 200); });
  expect_malformed([] { parse_instance_list("[]", "web", 200); });
  expect_malformed([] { parse_instance_list(R"({"index": 1})", "web", 200); });
  expect_malformed(
      [] { parse_instance_list(R"({"index": 1, "instances": [{"id": 5}]})", "web", 200); });
  expect_malformed([] { parse_services(R"({"services": [{"name": "x"}]})", 200); });
  expect_malformed([] {
    parse_instance(R"({"id":"a","address":"b","port":1,"state":"passing",
                                          "ttl":"soon"})",
                   "web", 200);
  });
}

TEST(ClientJson, OutputShapes) {
  InstanceInfo info;
  info.service = "web";
  info.id = "web-1";
  info.address = "10.0.0.7";
  info.port = 80;
  info.state = "critical";
  info.last_heartbeat_ago = 12s;
  const json out = instance_json(info);
  EXPECT_EQ(out["ttl"], nullptr);
  EXPECT_EQ(out["last_heartbeat_ms_ago"], 12000);
  EXPECT_EQ(out["state"], "critical");
  info.ttl = 10s;
  EXPECT_EQ(instance_json(info)["ttl"], "10s");
  EXPECT_EQ(service_json({"web", 1, 2}), json::parse(R"({"name":"web","passing":1,"total":2})"));
  EXPECT_EQ(dump(json("\xff")), "\"\xef\xbf\xbd\"");  // invalid UTF-8 replaced, not thrown
}

}  // namespace
}  // namespace switchboard::detail
