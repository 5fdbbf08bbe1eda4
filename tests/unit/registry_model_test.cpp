// Unit tests for src/registry/model: every registration validation rule of issue 3 (the field each
// error names), defaults, ttl parsing and the stored JSON form.
#include "registry/model.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace sb::registry {
namespace {

using namespace std::chrono_literals;

ParseResult parse(const std::string& body, const std::string& service = "web",
                  const std::string& id = "web-1") {
  return parse_registration(service, id, body);
}

InstanceRecord ok(const ParseResult& result) {
  if (const auto* error = std::get_if<ValidationError>(&result)) {
    ADD_FAILURE() << "unexpected error: " << error->field << " " << error->message;
    return {};
  }
  return std::get<InstanceRecord>(result);
}

// The field the error names; "" (and a test failure) when the input was accepted.
std::string error_field(const ParseResult& result) {
  if (const auto* error = std::get_if<ValidationError>(&result)) {
    EXPECT_FALSE(error->message.empty());
    return error->field;
  }
  ADD_FAILURE() << "input was accepted";
  return "";
}

// A minimal valid body with one more member spliced in (`extra` like R"("weight": 3)").
std::string body_with(const std::string& extra) {
  return R"({"address": "127.0.0.1", "port": 8080, )" + extra + "}";
}

TEST(RegistryModel, MinimalBodyGetsDefaults) {
  const auto record = ok(parse(R"({"address": "10.0.0.7", "port": 9000})"));
  EXPECT_EQ(record.service, "web");
  EXPECT_EQ(record.id, "web-1");
  EXPECT_EQ(record.address, "10.0.0.7");
  EXPECT_EQ(record.port, 9000);
  EXPECT_EQ(record.weight, 1u);
  EXPECT_TRUE(record.tags.empty());
  EXPECT_TRUE(record.meta.empty());
  EXPECT_FALSE(record.ttl.has_value());
  EXPECT_TRUE(record.routes.empty());
  EXPECT_FALSE(record.draining);
}

TEST(RegistryModel, AllFields) {
  const auto record = ok(parse(R"({
    "address": "runner.local", "port": 65535, "weight": 1000,
    "tags": ["blue", "v2"], "meta": {"zone": "a", "version": "1.2"}, "ttl": "10s",
    "routes": [{"path_prefix": "/api"}, {"path_prefix": "/", "host": "runner.example"}]
  })"));
  EXPECT_EQ(record.address, "runner.local");
  EXPECT_EQ(record.port, 65535);
  EXPECT_EQ(record.weight, 1000u);
  EXPECT_EQ(record.tags, (std::vector<std::string>{"blue", "v2"}));
  EXPECT_EQ(record.meta, (std::map<std::string, std::string>{{"version", "1.2"}, {"zone", "a"}}));
  EXPECT_EQ(record.ttl, 10s);
  ASSERT_EQ(record.routes.size(), 2u);
  EXPECT_EQ(record.routes[0], (RouteDecl{"", "/api"}));
  EXPECT_EQ(record.routes[1], (RouteDecl{"runner.example", "/"}));
}

TEST(RegistryModel, ServiceName) {
  for (const std::string& name :
       std::vector<std::string>{"a", "web", "0", "my-svc.v2_x", std::string(63, 'a')}) {
    EXPECT_TRUE(std::holds_alternative<InstanceRecord>(parse(body_with(R"("weight": 1)"), name)))
        << name;
  }
  for (const std::string& name : std::vector<std::string>{"", "-web", ".web", "_web", "Web", "we b",
                                                          "web/x", "wéb", std::string(64, 'a')}) {
    EXPECT_EQ(error_field(parse(body_with(R"("weight": 1)"), name)), "service") << name;
  }
}

TEST(RegistryModel, InstanceId) {
  EXPECT_TRUE(
      std::holds_alternative<InstanceRecord>(parse(body_with(R"("weight": 1)"), "web", "!")));
  EXPECT_TRUE(std::holds_alternative<InstanceRecord>(
      parse(body_with(R"("weight": 1)"), "web", std::string(128, 'x'))));
  EXPECT_TRUE(std::holds_alternative<InstanceRecord>(
      parse(body_with(R"("weight": 1)"), "web", "A~z:10.0.0.1:80/#{}")));
  for (const std::string& id : std::vector<std::string>{
           std::string(), std::string(129, 'x'), std::string("a b"), std::string("a\tb"),
           std::string("a\x7f"), std::string("a\0b", 3), std::string("caf\xc3\xa9")}) {
    EXPECT_EQ(error_field(parse(body_with(R"("weight": 1)"), "web", id)), "id");
  }
}

TEST(RegistryModel, ServiceAndIdCheckedBeforeBody) {
  EXPECT_EQ(error_field(parse("not json", "Bad")), "service");
  EXPECT_EQ(error_field(parse("not json", "web", "")), "id");
}

TEST(RegistryModel, Body) {
  EXPECT_EQ(error_field(parse("")), "body");
  EXPECT_EQ(error_field(parse("{")), "body");
  EXPECT_EQ(error_field(parse(R"({"address": "a", "port": 1} x)")), "body");
  EXPECT_EQ(error_field(parse("[]")), "body");
  EXPECT_EQ(error_field(parse("null")), "body");
  EXPECT_EQ(error_field(parse(R"("x")")), "body");
}

TEST(RegistryModel, BodySizeLimit) {
  // Padding inside a tag makes bodies of an exact size.
  const auto sized = [](size_t size) {
    const std::string head = R"({"address": "127.0.0.1", "port": 8080, "tags": [")";
    const std::string tail = R"("]})";
    return head + std::string(size - head.size() - tail.size(), 'x') + tail;
  };
  ASSERT_EQ(sized(kMaxBodyBytes).size(), 64u * 1024);
  EXPECT_TRUE(std::holds_alternative<InstanceRecord>(parse(sized(kMaxBodyBytes))));
  EXPECT_EQ(error_field(parse(sized(kMaxBodyBytes + 1))), "body");
}

TEST(RegistryModel, UnknownFieldIsAnError) {
  EXPECT_EQ(error_field(parse(body_with(R"("wieght": 2)"))), "wieght");
  // "draining" belongs to the stored form only; a registration cannot set it.
  EXPECT_EQ(error_field(parse(body_with(R"("draining": true)"))), "draining");
  EXPECT_EQ(error_field(parse(body_with(R"("routes": [{"path_prefix": "/", "port": 1}])"))),
            "routes[0].port");
}

TEST(RegistryModel, Address) {
  EXPECT_EQ(error_field(parse(R"({"port": 8080})")), "address");
  EXPECT_EQ(error_field(parse(R"({"address": "", "port": 8080})")), "address");
  EXPECT_EQ(error_field(parse(R"({"address": 10, "port": 8080})")), "address");
  EXPECT_EQ(error_field(parse(R"({"address": null, "port": 8080})")), "address");
}

TEST(RegistryModel, Port) {
  EXPECT_EQ(ok(parse(R"({"address": "a", "port": 1})")).port, 1);
  EXPECT_EQ(ok(parse(R"({"address": "a", "port": 65535})")).port, 65535);
  for (const std::string& port :
       std::vector<std::string>{"0", "65536", "-1", "18446744073709551615", "99999999999999999999",
                                "80.0", "8e1", "\"80\"", "true", "null", "[80]"}) {
    EXPECT_EQ(error_field(parse(R"({"address": "a", "port": )" + port + "}")), "port") << port;
  }
  EXPECT_EQ(error_field(parse(R"({"address": "a"})")), "port");
}

TEST(RegistryModel, Weight) {
  EXPECT_EQ(ok(parse(body_with(R"("weight": 1)"))).weight, 1u);
  EXPECT_EQ(ok(parse(body_with(R"("weight": 1000)"))).weight, 1000u);
  for (const std::string& weight :
       std::vector<std::string>{"0", "1001", "-5", "2.5", "\"2\"", "null"}) {
    EXPECT_EQ(error_field(parse(body_with(R"("weight": )" + weight))), "weight") << weight;
  }
}

TEST(RegistryModel, Tags) {
  EXPECT_TRUE(ok(parse(body_with(R"("tags": [])"))).tags.empty());
  EXPECT_EQ(error_field(parse(body_with(R"("tags": "blue")"))), "tags");
  EXPECT_EQ(error_field(parse(body_with(R"("tags": {"a": "b"})"))), "tags");
  EXPECT_EQ(error_field(parse(body_with(R"("tags": ["a", 2])"))), "tags[1]");
}

TEST(RegistryModel, Meta) {
  EXPECT_TRUE(ok(parse(body_with(R"("meta": {})"))).meta.empty());
  EXPECT_EQ(error_field(parse(body_with(R"("meta": ["a"])"))), "meta");
  EXPECT_EQ(error_field(parse(body_with(R"("meta": "a=b")"))), "meta");
  EXPECT_EQ(error_field(parse(body_with(R"("meta": {"zone": "a", "cpus": 4})"))), "meta.cpus");
  EXPECT_EQ(error_field(parse(body_with(R"("meta": {"x": {"y": "z"}})"))), "meta.x");
}

TEST(RegistryModel, TtlBounds) {
  EXPECT_EQ(ok(parse(body_with(R"("ttl": "1s")"))).ttl, 1s);
  EXPECT_EQ(ok(parse(body_with(R"("ttl": "1000ms")"))).ttl, 1s);
  EXPECT_EQ(ok(parse(body_with(R"("ttl": "1500ms")"))).ttl, 1500ms);
  EXPECT_EQ(ok(parse(body_with(R"("ttl": "10s")"))).ttl, 10s);
  EXPECT_EQ(ok(parse(body_with(R"("ttl": "1m")"))).ttl, 1min);
  EXPECT_EQ(ok(parse(body_with(R"("ttl": "60m")"))).ttl, 1h);
  EXPECT_EQ(ok(parse(body_with(R"("ttl": "3600s")"))).ttl, 1h);
  EXPECT_EQ(ok(parse(body_with(R"("ttl": "1h")"))).ttl, 1h);
  for (const std::string& ttl :
       std::vector<std::string>{"999ms", "0s", "61m", "3601s", "2h", "3600001ms", "99999999999h"}) {
    EXPECT_EQ(error_field(parse(body_with(R"("ttl": ")" + ttl + "\""))), "ttl") << ttl;
  }
}

TEST(RegistryModel, TtlFormat) {
  for (const std::string& ttl :
       std::vector<std::string>{"", "10", "s", "10 s", " 10s", "10S", "1.5s", "-10s", "+10s",
                                "10sec", "1m30s", "10us"}) {
    EXPECT_EQ(error_field(parse(body_with(R"("ttl": ")" + ttl + "\""))), "ttl") << ttl;
  }
  EXPECT_EQ(error_field(parse(body_with(R"("ttl": 10)"))), "ttl");
  EXPECT_EQ(error_field(parse(body_with(R"("ttl": null)"))), "ttl");
  EXPECT_EQ(parse_ttl("250ms"), 250ms);
  EXPECT_EQ(parse_ttl("00010s"), 10s);
  EXPECT_EQ(parse_ttl("12345678901h"), std::nullopt);
}

TEST(RegistryModel, Routes) {
  EXPECT_TRUE(ok(parse(body_with(R"("routes": [])"))).routes.empty());
  EXPECT_EQ(error_field(parse(body_with(R"("routes": {"path_prefix": "/"})"))), "routes");
  EXPECT_EQ(error_field(parse(body_with(R"("routes": ["/api"])"))), "routes[0]");
  EXPECT_EQ(error_field(parse(body_with(R"("routes": [{"path_prefix": "/"}, {}])"))),
            "routes[1].path_prefix");
  EXPECT_EQ(error_field(parse(body_with(R"("routes": [{"path_prefix": "/"},
                                                      {"path_prefix": "api"}])"))),
            "routes[1].path_prefix");
  EXPECT_EQ(error_field(parse(body_with(R"("routes": [{"path_prefix": ""}])"))),
            "routes[0].path_prefix");
  EXPECT_EQ(error_field(parse(body_with(R"("routes": [{"path_prefix": 1}])"))),
            "routes[0].path_prefix");
  EXPECT_EQ(error_field(parse(body_with(R"("routes": [{"path_prefix": "/", "host": 1}])"))),
            "routes[0].host");
  EXPECT_EQ(error_field(parse(body_with(R"("routes": [{"path_prefix": "/", "host": ""}])"))),
            "routes[0].host");
  // A route's host is what a request's Host can be, less the port (which routes ignore).
  for (const char* host : {"a b", "a/b", "u@a.example", "a.example:8080", "[::1]:80"}) {
    const std::string body =
        std::string(R"("routes": [{"path_prefix": "/", "host": ")") + host + "\"}]";
    EXPECT_EQ(error_field(parse(body_with(body))), "routes[0].host") << host;
  }
  EXPECT_EQ(
      ok(parse(body_with(R"("routes": [{"path_prefix": "/", "host": "[::1]"}])"))).routes[0].host,
      "[::1]");
}

TEST(RegistryModel, StoredRoutesAreNotCheckedAgain) {
  // A record stored under an older, looser check still loads: a stricter check must not lose it.
  const InstanceRecord record = from_stored_json(
      "web", "web-1",
      R"({"address": "10.0.0.1", "port": 8080, "routes": [{"path_prefix": "/", "host": "a:1"}]})");
  ASSERT_EQ(record.routes.size(), 1u);
  EXPECT_EQ(record.routes[0].host, "a:1");
}

TEST(RegistryModel, StoredJsonRoundTrip) {
  InstanceRecord record;
  record.service = "web";
  record.id = "web-1";
  record.address = "10.0.0.1";
  record.port = 8080;
  record.weight = 7;
  record.tags = {"a", "b"};
  record.meta = {{"k", "v"}, {"unicode", "caf\xc3\xa9"}};
  record.ttl = 1500ms;
  record.routes = {{"", "/api"}, {"example.com", "/"}};
  record.draining = true;
  EXPECT_EQ(from_stored_json("web", "web-1", to_stored_json(record)), record);

  InstanceRecord minimal;
  minimal.service = "s";
  minimal.id = "i";
  minimal.address = "a";
  minimal.port = 1;
  EXPECT_EQ(from_stored_json("s", "i", to_stored_json(minimal)), minimal);
}

TEST(RegistryModel, CorruptStoredJsonThrows) {
  EXPECT_THROW(from_stored_json("s", "i", "{"), std::runtime_error);
  EXPECT_THROW(from_stored_json("s", "i", R"({"address": "a", "port": 0})"), std::runtime_error);
}

}  // namespace
}  // namespace sb::registry
