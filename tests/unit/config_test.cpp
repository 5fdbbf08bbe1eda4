// Unit tests for src/config: YAML parsing, defaults, validation errors (key and one-line message),
// durations, sizes, endpoints and the example file in examples/.
#include "config/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace sb::config {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

// A minimal valid document that error cases extend.
constexpr const char* kOneService = R"(
services:
  - name: web
    instances: ["127.0.0.1:9101"]
)";

std::filesystem::path source_dir() {
  // __FILE__ is tests/unit/config_test.cpp, absolute under CMake, relative to the repo otherwise.
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

// Runs `parse` and returns the ConfigError it throws; fails the test if it throws nothing.
template <typename Parse>
ConfigError error_of(Parse parse) {
  try {
    parse();
  } catch (const ConfigError& error) {
    return error;
  }
  ADD_FAILURE() << "expected a ConfigError";
  return ConfigError("", "");
}

ConfigError yaml_error(const std::string& text) {
  return error_of([&] { parse_yaml(text); });
}

// Every error must name its key and read "<key>: <problem>" on one line.
void expect_well_formed(const ConfigError& error) {
  const std::string what = error.what();
  EXPECT_THAT(what, StartsWith(error.key() + ": "));
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  EXPECT_EQ(what.find('\r'), std::string::npos) << what;
}

void expect_default_timeouts(const Timeouts& t) {
  const Timeouts d;
  EXPECT_EQ(t.client_header, d.client_header);
  EXPECT_EQ(t.client_body, d.client_body);
  EXPECT_EQ(t.keepalive_idle, d.keepalive_idle);
  EXPECT_EQ(t.upstream_connect, d.upstream_connect);
  EXPECT_EQ(t.upstream_response, d.upstream_response);
  EXPECT_EQ(t.upstream_idle, d.upstream_idle);
  EXPECT_EQ(t.websocket_idle, d.websocket_idle);
  EXPECT_EQ(t.drain, d.drain);
}

void expect_default_limits(const Limits& l) {
  const Limits d;
  EXPECT_EQ(l.request_line, d.request_line);
  EXPECT_EQ(l.header_block, d.header_block);
  EXPECT_EQ(l.header_count, d.header_count);
  EXPECT_EQ(l.body_size, d.body_size);
  EXPECT_EQ(l.upstream_keepalive, d.upstream_keepalive);
  EXPECT_EQ(l.max_connections, d.max_connections);
}

// ---- The example file ------------------------------------------------------------------------

TEST(ConfigExample, ParsesWithExpectedValues) {
  const Config config = load_file((source_dir() / "examples" / "switchboard.yaml").string());
  EXPECT_EQ(config.listen.host, "127.0.0.1");
  EXPECT_EQ(config.listen.port, 8090);
  EXPECT_EQ(config.threads, 0u);
  EXPECT_EQ(config.log_level, "info");
  EXPECT_EQ(config.log_format, "text");

  ASSERT_EQ(config.services.size(), 3u);
  const ServiceConfig& web = config.services[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.balance, "round_robin");
  ASSERT_EQ(web.instances.size(), 2u);
  EXPECT_EQ(web.instances[0].address, "127.0.0.1");
  EXPECT_EQ(web.instances[0].port, 9101);
  EXPECT_EQ(web.instances[1].port, 9102);
  EXPECT_EQ(web.instances[1].weight, 1u);
  EXPECT_EQ(config.services[1].name, "api");
  ASSERT_EQ(config.services[1].instances.size(), 1u);
  EXPECT_EQ(config.services[1].instances[0].port, 9103);
  EXPECT_EQ(config.services[1].instances[0].weight, 2u);
  EXPECT_TRUE(config.services[2].instances.empty());

  ASSERT_EQ(config.routes.size(), 4u);
  EXPECT_EQ(config.routes[0].host, "api.example.com");
  EXPECT_EQ(config.routes[0].service, "api");
  EXPECT_EQ(config.routes[1].host, "");
  EXPECT_EQ(config.routes[1].path_prefix, "/api");
  EXPECT_TRUE(config.routes[1].strip_prefix);
  EXPECT_EQ(config.routes[3].path_prefix, "/");
  EXPECT_EQ(config.routes[3].service, "web");
  EXPECT_FALSE(config.routes[3].strip_prefix);

  // The example documents the defaults, so it must agree with the structs.
  expect_default_timeouts(config.timeouts);
  expect_default_limits(config.limits);
  EXPECT_TRUE(config.access_log.enabled);
  EXPECT_EQ(config.access_log.path, "-");
  EXPECT_EQ(config.access_log.format, "json");
  EXPECT_EQ(config.endpoints.health_path, "/lb-health");
  EXPECT_EQ(config.endpoints.status_path, "/lb-status");
}

// ---- Defaults and whole documents ------------------------------------------------------------

TEST(ConfigParse, EmptyDocumentGivesDefaults) {
  for (const char* text : {"", "# only a comment\n", "~"}) {
    const Config config = parse_yaml(text);
    EXPECT_EQ(config.listen.host, "127.0.0.1");
    EXPECT_EQ(config.listen.port, 8090);
    EXPECT_EQ(config.threads, 0u);
    EXPECT_EQ(config.log_level, "info");
    EXPECT_TRUE(config.services.empty());
    EXPECT_TRUE(config.routes.empty());
    expect_default_timeouts(config.timeouts);
    expect_default_limits(config.limits);
    EXPECT_TRUE(config.access_log.enabled);
    EXPECT_EQ(config.endpoints.health_path, "/lb-health");
  }
}

TEST(ConfigParse, EmptySectionsKeepDefaults) {
  const Config config =
      parse_yaml("timeouts:\nlimits: {}\naccess_log:\nendpoints:\nservices:\nroutes: []\n");
  expect_default_timeouts(config.timeouts);
  expect_default_limits(config.limits);
  EXPECT_TRUE(config.access_log.enabled);
  EXPECT_TRUE(config.services.empty());
}

TEST(ConfigParse, LogSection) {
  EXPECT_EQ(parse_yaml("").log_format, "text");
  const Config config = parse_yaml("log: { level: warn, format: json }\n");
  EXPECT_EQ(config.log_level, "warn");
  EXPECT_EQ(config.log_format, "json");
  EXPECT_EQ(parse_yaml("log_level: debug\nlog: { format: text }\n").log_level, "debug");
  EXPECT_THROW(check_log_format("--log-format", "yaml"), ConfigError);
  EXPECT_NO_THROW(check_log_level("--log-level", "off"));
}

TEST(ConfigParse, ServiceDefaults) {
  const Config config = parse_yaml("services:\n  - name: solo\n");
  ASSERT_EQ(config.services.size(), 1u);
  EXPECT_EQ(config.services[0].balance, "round_robin");
  EXPECT_TRUE(config.services[0].instances.empty());  // may come from the registry later
}

TEST(ConfigParse, EveryScalarSetting) {
  const Config config = parse_yaml(R"(
listen: "[::1]:0"
threads: 4
log_level: debug
services:
  - name: a.b_c-1
    balance: round_robin
    instances:
      - { address: backend.local, port: 65535, weight: 1000 }
routes:
  - { host: Example.COM, path_prefix: /x, service: a.b_c-1, strip_prefix: yes }
timeouts: { client_header: 250ms, client_body: 2, keepalive_idle: 5m, upstream_connect: 1s,
            upstream_response: 1h, upstream_idle: 3s, websocket_idle: 10m, drain: 0 }
limits: { request_line: 1k, header_block: 1m, header_count: 10000, body_size: 0,
          upstream_keepalive: 0, max_connections: 1 }
access_log: { enabled: false, path: /var/log/sb.log, format: text }
endpoints: { health_path: /h, status_path: /s }
)");
  EXPECT_EQ(config.listen.host, "::1");
  EXPECT_EQ(config.listen.port, 0);
  EXPECT_EQ(config.threads, 4u);
  EXPECT_EQ(config.log_level, "debug");
  const InstanceConfig& instance = config.services.at(0).instances.at(0);
  EXPECT_EQ(instance.address, "backend.local");
  EXPECT_EQ(instance.port, 65535);
  EXPECT_EQ(instance.weight, 1000u);
  const RouteConfig& route = config.routes.at(0);
  EXPECT_EQ(route.host, "Example.COM");
  EXPECT_EQ(route.path_prefix, "/x");
  EXPECT_TRUE(route.strip_prefix);
  EXPECT_EQ(config.timeouts.client_header, 250ms);
  EXPECT_EQ(config.timeouts.client_body, 2s);
  EXPECT_EQ(config.timeouts.keepalive_idle, 5min);
  EXPECT_EQ(config.timeouts.upstream_response, 1h);
  EXPECT_EQ(config.timeouts.drain, 0ms);
  EXPECT_EQ(parse_yaml("timeouts: { drain: 8760h }").timeouts.drain, 8760h);  // the maximum
  EXPECT_EQ(config.limits.request_line, 1024u);
  EXPECT_EQ(config.limits.header_block, 1024u * 1024);
  EXPECT_EQ(config.limits.header_count, 10000u);
  EXPECT_EQ(config.limits.body_size, 0u);
  EXPECT_EQ(config.limits.upstream_keepalive, 0u);
  EXPECT_EQ(config.limits.max_connections, 1u);
  EXPECT_FALSE(config.access_log.enabled);
  EXPECT_EQ(config.access_log.path, "/var/log/sb.log");
  EXPECT_EQ(config.access_log.format, "text");
  EXPECT_EQ(config.endpoints.health_path, "/h");
  EXPECT_EQ(config.endpoints.status_path, "/s");
}

TEST(ConfigParse, ShortInstanceForm) {
  const Config config = parse_yaml(R"(
services:
  - name: web
    instances:
      - "10.0.0.1:9101"
      - "[fe80::1]:9102"
      - localhost:9103
      - { address: 10.0.0.4, port: 9104 }
)");
  const auto& instances = config.services.at(0).instances;
  ASSERT_EQ(instances.size(), 4u);
  EXPECT_EQ(instances[0].address, "10.0.0.1");
  EXPECT_EQ(instances[0].port, 9101);
  EXPECT_EQ(instances[1].address, "fe80::1");
  EXPECT_EQ(instances[1].port, 9102);
  EXPECT_EQ(instances[2].address, "localhost");
  for (const InstanceConfig& instance : instances) EXPECT_EQ(instance.weight, 1u);
}

TEST(ConfigParse, AccessLogShortForms) {
  for (const char* off : {"off", "false", "no", "Off", "FALSE"}) {
    const Config config = parse_yaml(std::string("access_log: ") + off + "\n");
    EXPECT_FALSE(config.access_log.enabled) << off;
    EXPECT_EQ(config.access_log.path, "-") << off;
  }
  const Config on = parse_yaml("access_log: on\n");
  EXPECT_TRUE(on.access_log.enabled);
  EXPECT_EQ(on.access_log.path, "-");

  const Config file = parse_yaml("access_log: /var/log/switchboard.log\n");
  EXPECT_TRUE(file.access_log.enabled);
  EXPECT_EQ(file.access_log.path, "/var/log/switchboard.log");
  EXPECT_EQ(file.access_log.format, "json");

  // Quoted, "off" is a file name, not a switch.
  const Config quoted = parse_yaml("access_log: \"off\"\n");
  EXPECT_TRUE(quoted.access_log.enabled);
  EXPECT_EQ(quoted.access_log.path, "off");
}

TEST(ConfigParse, DefaultRouteForASingleService) {
  for (const char* routes : {"", "routes:\n", "routes: []\n"}) {
    const Config config = parse_yaml(std::string(kOneService) + routes);
    ASSERT_EQ(config.routes.size(), 1u) << routes;
    EXPECT_EQ(config.routes[0].host, "");
    EXPECT_EQ(config.routes[0].path_prefix, "/");
    EXPECT_EQ(config.routes[0].service, "web");
    EXPECT_FALSE(config.routes[0].strip_prefix);
  }
}

TEST(ConfigParse, ExplicitRoutesAreKeptAsGiven) {
  const Config config =
      parse_yaml(std::string(kOneService) + "routes: [{ path_prefix: /only, service: web }]\n");
  ASSERT_EQ(config.routes.size(), 1u);
  EXPECT_EQ(config.routes[0].path_prefix, "/only");
}

TEST(ConfigParse, NoServicesNoRoutesIsValid) {
  EXPECT_TRUE(parse_yaml("listen: 0.0.0.0:0\n").routes.empty());
}

TEST(ConfigParse, AddDefaultRouteOnHandBuiltConfig) {
  Config config;
  config.services.push_back(ServiceConfig{"solo", "round_robin", {}});
  add_default_route(config);
  ASSERT_EQ(config.routes.size(), 1u);
  EXPECT_EQ(config.routes[0].service, "solo");
  add_default_route(config);  // routes exist now: nothing more is added
  EXPECT_EQ(config.routes.size(), 1u);

  Config two;
  two.services = {ServiceConfig{"a", "round_robin", {}}, ServiceConfig{"b", "round_robin", {}}};
  add_default_route(two);
  EXPECT_TRUE(two.routes.empty());
}

// ---- Errors from YAML documents --------------------------------------------------------------

struct ErrorCase {
  const char* name;
  std::string yaml;
  std::string key;
  std::string problem;  // a substring of what()
};

std::ostream& operator<<(std::ostream& out, const ErrorCase& c) {
  return out << c.name;
}

class ConfigErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrorTest, NamesTheKey) {
  const ErrorCase& c = GetParam();
  const ConfigError error = yaml_error(c.yaml);
  EXPECT_EQ(error.key(), c.key) << error.what();
  EXPECT_THAT(error.what(), HasSubstr(c.problem));
  expect_well_formed(error);
}

std::string with_service(const std::string& rest) {
  return std::string(kOneService) + rest;
}

std::string instance(const std::string& body) {
  return "services:\n  - name: web\n    instances:\n      - \"127.0.0.1:9101\"\n      - " + body +
         "\n";
}

const ErrorCase kErrorCases[] = {
    // Structure and types.
    {"SyntaxError", "services: [\n", "config", "invalid YAML at line"},
    {"SyntaxErrorMapValue", "listen: a: b\n", "config", "line 1, column"},
    {"TopLevelNotAMap", "- a\n- b\n", "config", "expected a map"},
    {"UnknownTopLevelKey", "listn: 127.0.0.1:1\n", "listn", "unknown key"},
    {"DuplicateKey", "threads: 1\nthreads: 2\n", "threads", "duplicate key"},
    {"UnknownInstanceKey", instance("{ address: 127.0.0.1, port: 9102, wieght: 2 }"),
     "services[0].instances[1].wieght", "unknown key"},
    {"UnknownServiceKey", "services: [{ name: web, balancer: round_robin }]\n",
     "services[0].balancer", "unknown key"},
    {"UnknownRouteKey", with_service("routes: [{ path: /, service: web }]\n"), "routes[0].path",
     "unknown key"},
    {"UnknownTimeoutKey", "timeouts: { client_headers: 1s }\n", "timeouts.client_headers",
     "unknown key"},
    {"UnknownLimitKey", "limits: { body: 1k }\n", "limits.body", "unknown key"},
    {"UnknownAccessLogKey", "access_log: { file: x }\n", "access_log.file", "unknown key"},
    {"UnknownEndpointsKey", "endpoints: { ready_path: /r }\n", "endpoints.ready_path",
     "unknown key"},
    {"ServicesNotAList", "services: { name: web }\n", "services", "expected a list"},
    {"InstancesNotAList", "services: [{ name: web, instances: x }]\n", "services[0].instances",
     "expected a list"},
    {"ServiceNotAMap", "services: [web]\n", "services[0]", "expected a map"},
    {"RouteNotAMap", with_service("routes: [/]\n"), "routes[0]", "expected a map"},
    {"InstanceWrongType", instance("[127.0.0.1, 9102]"), "services[0].instances[1]",
     "expected a map or a \"host:port\" string"},
    {"TimeoutsNotAMap", "timeouts: 10s\n", "timeouts", "expected a map"},
    {"AccessLogList", "access_log: [a]\n", "access_log", "expected a map"},
    {"ThreadsNotANumber", "threads: many\n", "threads", "expected a number, got 'many'"},
    {"ThreadsFraction", "threads: 1.5\n", "threads", "expected a number, got '1.5'"},
    {"ThreadsHex", "threads: 0x10\n", "threads", "expected a number, got '0x10'"},
    {"ThreadsList", "threads: [1]\n", "threads", "expected a number"},
    {"ListenNotAString", "listen: { host: a }\n", "listen", "expected a string"},
    {"NameNotAString", "services: [{ name: [a] }]\n", "services[0].name", "expected a string"},
    {"StripPrefixNotBool", with_service("routes: [{ service: web, strip_prefix: maybe }]\n"),
     "routes[0].strip_prefix", "expected true or false, got 'maybe'"},
    {"EnabledNotBool", "access_log: { enabled: 2 }\n", "access_log.enabled",
     "expected true or false"},
    {"DurationNotScalar", "timeouts: { drain: [1] }\n", "timeouts.drain", "expected a duration"},
    {"SizeNotScalar", "limits: { body_size: {} }\n", "limits.body_size", "expected a size"},
    {"MissingServiceName", "services: [{ balance: round_robin }]\n", "services[0].name",
     "missing required key"},
    {"MissingInstancePort", instance("{ address: 127.0.0.1 }"), "services[0].instances[1].port",
     "missing required key"},
    {"MissingInstanceAddress", instance("{ port: 1 }"), "services[0].instances[1].address",
     "missing required key"},
    {"MissingRouteService", with_service("routes: [{ path_prefix: / }]\n"), "routes[0].service",
     "missing required key"},
    {"NewlineInValueIsEscaped", "services: [{ name: \"we\\nb\" }]\n", "services[0].name",
     "invalid name 'we\\nb'"},

    // Top-level settings.
    {"ListenWithoutPort", "listen: 127.0.0.1\n", "listen", "expected host:port, got '127.0.0.1'"},
    {"ListenBadPort", "listen: 127.0.0.1:99999\n", "listen", "expected host:port"},
    {"ThreadsTooMany", "threads: 257\n", "threads", "257 is out of range 0-256"},
    {"ThreadsNegative", "threads: -1\n", "threads", "-1 is out of range 0-256"},
    {"LogLevel", "log_level: verbose\n", "log_level",
     "unsupported log level 'verbose' (supported: trace, debug, info, warn, error, off)"},
    {"LogSectionLevel", "log: { level: verbose }\n", "log.level", "unsupported log level"},
    {"LogFormat", "log: { format: xml }\n", "log.format",
     "unsupported log format 'xml' (supported: text, json)"},
    {"LogUnknownKey", "log: { colour: red }\n", "log.colour", "unknown key"},
    {"LogLevelTwice", "log_level: info\nlog: { level: warn }\n", "log.level",
     "also given as log_level"},
    {"LogNotAMap", "log: json\n", "log", "expected a map"},

    // Services and instances.
    {"NameUppercase", "services: [{ name: Web }]\n", "services[0].name", "invalid name 'Web'"},
    {"NameLeadingDash", "services: [{ name: -web }]\n", "services[0].name", "invalid name"},
    {"NameEmpty", "services: [{ name: \"\" }]\n", "services[0].name", "invalid name ''"},
    {"NameTooLong", "services: [{ name: " + std::string(64, 'a') + " }]\n", "services[0].name",
     "invalid name"},
    {"DuplicateName", "services: [{ name: web }, { name: api }, { name: web }]\n",
     "services[2].name", "duplicate service name 'web' (also services[0])"},
    {"UnsupportedBalance", "services: [{ name: web, balance: leastconn }]\n", "services[0].balance",
     "unsupported balance 'leastconn' (supported: round_robin, least_conn, ip_hash, hash, random, "
     "p2c, ewma)"},
    {"PortZero", instance("{ address: 127.0.0.1, port: 0 }"), "services[0].instances[1].port",
     "0 is out of range 1-65535"},
    {"PortTooLarge", instance("{ address: 127.0.0.1, port: 70000 }"),
     "services[0].instances[1].port", "70000 is out of range 1-65535"},
    {"PortHuge", instance("{ address: 127.0.0.1, port: 99999999999999999999999 }"),
     "services[0].instances[1].port", "is out of range 1-65535"},
    {"ShortFormPortZero", instance("\"127.0.0.1:0\""), "services[0].instances[1].port",
     "0 is out of range 1-65535"},
    {"ShortFormWithoutPort", instance("\"127.0.0.1\""), "services[0].instances[1]",
     "expected host:port, got '127.0.0.1'"},
    {"WeightZero", instance("{ address: 127.0.0.1, port: 1, weight: 0 }"),
     "services[0].instances[1].weight", "0 is out of range 1-1000"},
    {"WeightTooLarge", instance("{ address: 127.0.0.1, port: 1, weight: 1001 }"),
     "services[0].instances[1].weight", "1001 is out of range 1-1000"},
    {"AddressEmpty", instance("{ address: \"\", port: 1 }"), "services[0].instances[1].address",
     "must not be empty"},

    // Routes.
    {"SeveralServicesNoRoutes", "services: [{ name: a }, { name: b }]\n", "routes",
     "no routes given for 2 services"},
    {"RouteUnknownService", with_service("routes: [{ service: api }]\n"), "routes[0].service",
     "unknown service 'api'"},
    {"RoutePrefixWithoutSlash", with_service("routes: [{ path_prefix: api, service: web }]\n"),
     "routes[0].path_prefix", "must start with '/', got 'api'"},
    {"RoutePrefixWithDotSegment",
     with_service("routes: [{ path_prefix: /api/../admin, service: web }]\n"),
     "routes[0].path_prefix",
     "'/api/../admin' is not in normal form, which requests are matched "
     "in; write '/admin'"},
    {"RoutePrefixWithEscapedLetter",
     with_service("routes: [{ path_prefix: /%61pi/%2f, service: web }]\n"), "routes[0].path_prefix",
     "write '/api/%2F'"},
    {"RoutePrefixWithMalformedEscape",
     with_service("routes: [{ path_prefix: /100%, service: web }]\n"), "routes[0].path_prefix",
     "malformed percent-encoding in the path: '/100%'"},
    {"RouteHostWithSlash", with_service("routes: [{ host: a/b, service: web }]\n"),
     "routes[0].host", "invalid host 'a/b'"},
    {"RouteHostWithSpace", with_service("routes: [{ host: \"a b\", service: web }]\n"),
     "routes[0].host", "invalid host 'a b'"},
    {"RouteHostWithPort", with_service("routes: [{ host: \"a.example:80\", service: web }]\n"),
     "routes[0].host",
     "invalid host 'a.example:80' (a host name or [IPv6] address, without a port)"},
    {"RouteHostWithUserinfo", with_service("routes: [{ host: u@a.example, service: web }]\n"),
     "routes[0].host", "invalid host 'u@a.example'"},
    {"SecondRouteBad",
     with_service("routes: [{ service: web }, { path_prefix: /x, service: nope }]\n"),
     "routes[1].service", "unknown service 'nope'"},

    // Timeouts.
    {"TimeoutZero", "timeouts: { client_header: 0 }\n", "timeouts.client_header",
     "must be greater than 0"},
    {"TimeoutZeroMs", "timeouts: { upstream_idle: 0ms }\n", "timeouts.upstream_idle",
     "must be greater than 0"},
    {"TimeoutNegative", "timeouts: { drain: -1s }\n", "timeouts.drain",
     "must not be negative, got '-1s'"},
    {"TimeoutGarbage", "timeouts: { websocket_idle: forever }\n", "timeouts.websocket_idle",
     "got 'forever'"},
    {"TimeoutAboveAYear", "timeouts: { websocket_idle: 8761h }\n", "timeouts.websocket_idle",
     "8761h is more than the maximum 8760h"},
    {"TimeoutHugeMs", "timeouts: { drain: 31536000001ms }\n", "timeouts.drain",
     "31536000001ms is more than the maximum 8760h"},
    {"TimeoutUnknownUnit", "timeouts: { keepalive_idle: 2d }\n", "timeouts.keepalive_idle",
     "got '2d'"},

    // Limits.
    {"HeaderBlockTooSmall", "limits: { header_block: 1023 }\n", "limits.header_block",
     "1023 is out of range 1k-1m"},
    {"HeaderBlockTooLarge", "limits: { header_block: 2m }\n", "limits.header_block",
     "2m is out of range 1k-1m"},
    {"HeaderBlockHuge", "limits: { header_block: 8g }\n", "limits.header_block",
     "8g is out of range 1k-1m"},
    {"RequestLineTooSmall", "limits: { request_line: 255 }\n", "limits.request_line",
     "255 is out of range 256-1m"},
    {"RequestLineAboveHeaderBlock", "limits: { request_line: 16k, header_block: 8k }\n",
     "limits.request_line", "16k is out of range 256-8k"},
    {"HeaderCountZero", "limits: { header_count: 0 }\n", "limits.header_count",
     "0 is out of range 1-10000"},
    {"HeaderCountTooLarge", "limits: { header_count: 10001 }\n", "limits.header_count",
     "10001 is out of range 1-10000"},
    {"HeaderCountWithUnit", "limits: { header_count: 1k }\n", "limits.header_count",
     "expected a number, got '1k'"},
    {"KeepaliveTooLarge", "limits: { upstream_keepalive: 10001 }\n", "limits.upstream_keepalive",
     "10001 is out of range 0-10000"},
    {"MaxConnectionsZero", "limits: { max_connections: 0 }\n", "limits.max_connections",
     "0 is out of range 1-"},
    {"MaxConnectionsAbove32Bits", "limits: { max_connections: 4294967296 }\n",
     "limits.max_connections", "4294967296 is out of range 1-4294967295"},
    {"BodySizeGarbage", "limits: { body_size: lots }\n", "limits.body_size", "got 'lots'"},
    {"BodySizeNegative", "limits: { body_size: -1 }\n", "limits.body_size",
     "must not be negative, got '-1'"},

    // Access log and endpoints.
    {"AccessLogFormat", "access_log: { format: xml }\n", "access_log.format",
     "unsupported format 'xml' (supported: json, text)"},
    {"AccessLogEmptyPath", "access_log: { path: \"\" }\n", "access_log.path", "must not be empty"},
    {"HealthPathWithoutSlash", "endpoints: { health_path: health }\n", "endpoints.health_path",
     "must start with '/', got 'health'"},
    {"HealthPathNotNormal", "endpoints: { health_path: /./health }\n", "endpoints.health_path",
     "write '/health'"},
    {"StatusPathEmpty", "endpoints: { status_path: \"\" }\n", "endpoints.status_path",
     "must start with '/'"},
    {"EndpointsSamePath", "endpoints: { health_path: /x, status_path: /x }\n",
     "endpoints.status_path", "must differ from endpoints.health_path"},
};

INSTANTIATE_TEST_SUITE_P(Yaml, ConfigErrorTest, ::testing::ValuesIn(kErrorCases),
                         [](const auto& test) { return std::string(test.param.name); });

// ---- validate() on hand-built configs --------------------------------------------------------

TEST(ConfigValidate, DefaultConfigIsValid) {
  EXPECT_NO_THROW(validate(Config{}));
}

TEST(ConfigValidate, ChecksHandBuiltValues) {
  Config config;
  config.services.push_back(ServiceConfig{"web", "round_robin", {{"127.0.0.1", 9101, 0}}});
  config.routes.push_back(RouteConfig{"", "/", "web", false});
  ConfigError error = error_of([&] { validate(config); });
  EXPECT_EQ(error.key(), "services[0].instances[0].weight");
  expect_well_formed(error);

  config.services[0].instances[0].weight = 1;
  config.timeouts.drain = Duration(-1);
  error = error_of([&] { validate(config); });
  EXPECT_EQ(error.key(), "timeouts.drain");
  EXPECT_THAT(error.what(), HasSubstr("must not be negative"));

  config.timeouts.drain = Duration::zero();
  config.threads = 1000;
  EXPECT_EQ(error_of([&] { validate(config); }).key(), "threads");

  config.threads = 2;
  config.listen.host.clear();
  EXPECT_EQ(error_of([&] { validate(config); }).key(), "listen");

  config.listen.host = "::";
  EXPECT_NO_THROW(validate(config));
}

TEST(ConfigValidate, SeveralServicesNeedRoutes) {
  Config config;
  config.services = {ServiceConfig{"a", "round_robin", {}}, ServiceConfig{"b", "round_robin", {}}};
  EXPECT_EQ(error_of([&] { validate(config); }).key(), "routes");
}

// ---- Durations -------------------------------------------------------------------------------

TEST(ConfigDuration, Units) {
  EXPECT_EQ(parse_duration("k", "250ms"), 250ms);
  EXPECT_EQ(parse_duration("k", "10s"), 10s);
  EXPECT_EQ(parse_duration("k", "5m"), 5min);
  EXPECT_EQ(parse_duration("k", "1h"), 1h);
  EXPECT_EQ(parse_duration("k", "30"), 30s);
  EXPECT_EQ(parse_duration("k", "0"), 0ms);
  EXPECT_EQ(parse_duration("k", "0ms"), 0ms);
  EXPECT_EQ(parse_duration("k", "007s"), 7s);
}

TEST(ConfigDuration, LargestValues) {
  const auto max = std::numeric_limits<Duration::rep>::max();
  EXPECT_EQ(parse_duration("k", std::to_string(max) + "ms").count(), max);
  EXPECT_EQ(parse_duration("k", std::to_string(max / 3'600'000) + "h").count(),
            max / 3'600'000 * 3'600'000);
}

TEST(ConfigDuration, Rejects) {
  const auto max = std::numeric_limits<Duration::rep>::max();
  const struct {
    std::string text;
    std::string problem;
  } cases[] = {
      {"", "got ''"},
      {"s", "got 's'"},
      {"10 s", "got '10 s'"},
      {" 10s", "got ' 10s'"},
      {"1.5s", "got '1.5s'"},
      {"10S", "got '10S'"},
      {"10sec", "got '10sec'"},
      {"2d", "got '2d'"},
      {"+5s", "got '+5s'"},
      {"-1", "must not be negative, got '-1'"},
      {"-5ms", "must not be negative, got '-5ms'"},
      {std::to_string(max) + "s", "duration '" + std::to_string(max) + "s' is too large"},
      {std::to_string(max / 1000 + 1) + "s", "is too large"},
      {"99999999999999999999999ms", "duration '99999999999999999999999ms' is too large"},
  };
  for (const auto& c : cases) {
    const ConfigError error = error_of([&] { parse_duration("timeouts.drain", c.text); });
    EXPECT_EQ(error.key(), "timeouts.drain") << c.text;
    EXPECT_THAT(error.what(), HasSubstr(c.problem)) << c.text;
    expect_well_formed(error);
  }
}

// ---- Sizes -----------------------------------------------------------------------------------

TEST(ConfigSize, Units) {
  EXPECT_EQ(parse_size("k", "0"), 0u);
  EXPECT_EQ(parse_size("k", "1024"), 1024u);
  EXPECT_EQ(parse_size("k", "32k"), 32u * 1024);
  EXPECT_EQ(parse_size("k", "32K"), 32u * 1024);
  EXPECT_EQ(parse_size("k", "1m"), 1024u * 1024);
  EXPECT_EQ(parse_size("k", "1M"), 1024u * 1024);
  EXPECT_EQ(parse_size("k", "4g"), 4ull << 30);
  EXPECT_EQ(parse_size("k", "4G"), 4ull << 30);
  EXPECT_EQ(parse_size("k", "18446744073709551615"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(parse_size("k", "17179869183g"), 17179869183ull << 30);
}

TEST(ConfigSize, Rejects) {
  const struct {
    std::string text;
    std::string problem;
  } cases[] = {
      {"", "got ''"},
      {"k", "got 'k'"},
      {"1kb", "got '1kb'"},
      {"1 k", "got '1 k'"},
      {"1.5m", "got '1.5m'"},
      {"1t", "got '1t'"},
      {"0x10", "got '0x10'"},
      {"-1", "must not be negative, got '-1'"},
      {"-4g", "must not be negative, got '-4g'"},
      {"18446744073709551616", "size '18446744073709551616' is too large"},
      {"17179869184g", "size '17179869184g' is too large"},
  };
  for (const auto& c : cases) {
    const ConfigError error = error_of([&] { parse_size("limits.body_size", c.text); });
    EXPECT_EQ(error.key(), "limits.body_size") << c.text;
    EXPECT_THAT(error.what(), HasSubstr(c.problem)) << c.text;
    expect_well_formed(error);
  }
}

// ---- Endpoints -------------------------------------------------------------------------------

TEST(ConfigEndpoint, Forms) {
  const struct {
    const char* text;
    const char* host;
    uint16_t port;
  } cases[] = {
      {"127.0.0.1:8090", "127.0.0.1", 8090},
      {"[::1]:8090", "::1", 8090},
      {"localhost:80", "localhost", 80},
      {"0.0.0.0:0", "0.0.0.0", 0},
      {"[::]:65535", "::", 65535},
      {"backend-1.internal:9101", "backend-1.internal", 9101},
  };
  for (const auto& c : cases) {
    const Endpoint endpoint = parse_endpoint("listen", c.text);
    EXPECT_EQ(endpoint.host, c.host) << c.text;
    EXPECT_EQ(endpoint.port, c.port) << c.text;
  }
}

TEST(ConfigEndpoint, Rejects) {
  for (const std::string text :
       {"", "127.0.0.1", "127.0.0.1:", ":8090", "::1:8090", "[::1]8090", "[::1]", "[::1:80",
        "[]:80", "host:65536", "host:-1", "host:+1", "host:8o", "host:http", "a b:80", "a/b:80",
        "host:99999999999999999999999"}) {
    const ConfigError error = error_of([&] { parse_endpoint("listen", text); });
    EXPECT_EQ(error.key(), "listen") << text;
    EXPECT_EQ(std::string(error.what()), "listen: expected host:port, got '" + text + "'");
  }
}

// ---- Files -----------------------------------------------------------------------------------

class ConfigFileTest : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove(path_); }

  std::string write(const std::string& text) {
    std::ofstream(path_) << text;
    return path_.string();
  }

  std::filesystem::path path_ = std::filesystem::path(::testing::TempDir()) /
                                ("config_test_" + std::to_string(::getpid()) + ".yaml");
};

TEST_F(ConfigFileTest, LoadsFile) {
  const Config config = load_file(write("listen: 0.0.0.0:0\nthreads: 2\n"));
  EXPECT_EQ(config.listen.host, "0.0.0.0");
  EXPECT_EQ(config.threads, 2u);
}

TEST_F(ConfigFileTest, SyntaxErrorNamesTheFile) {
  const std::string path = write("services:\n  - name: web\n   bad: [\n");
  const ConfigError error = error_of([&] { load_file(path); });
  EXPECT_EQ(error.key(), path);
  EXPECT_THAT(error.what(), HasSubstr("invalid YAML at line"));
  expect_well_formed(error);
}

TEST_F(ConfigFileTest, KeyErrorsKeepTheirDottedKey) {
  const ConfigError error = error_of([&] { load_file(write("threads: x\n")); });
  EXPECT_EQ(error.key(), "threads");
}

TEST(ConfigFile, MissingFile) {
  const std::string path = "/nonexistent/switchboard.yaml";
  const ConfigError error = error_of([&] { load_file(path); });
  EXPECT_EQ(error.key(), path);
  EXPECT_EQ(std::string(error.what()),
            path + ": cannot read " + path + ": No such file or directory");
}

TEST(ConfigFile, Directory) {
  const std::string path = ::testing::TempDir();
  const ConfigError error = error_of([&] { load_file(path); });
  EXPECT_EQ(error.key(), path);
  EXPECT_THAT(error.what(), HasSubstr("cannot read"));
  EXPECT_THAT(error.what(), HasSubstr("Is a directory"));
}

}  // namespace
}  // namespace sb::config
