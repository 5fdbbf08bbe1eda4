// The whole run-time configuration of `switchboard serve`: listeners, services with their static
// instances, routes, timeouts and limits. Built from YAML or from the quick command-line flags.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sb::config {

using Duration = std::chrono::milliseconds;

// A configuration problem: `key` is the dotted path of the offending setting ("services[0].port"),
// `what()` the whole one-line message "<key>: <problem>", e.g.
// "services[0].instances[1].port: 70000 is out of range 1-65535".
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string key, const std::string& problem)
      : std::runtime_error(key + ": " + problem), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

struct Endpoint {
  std::string host;  // numeric IPv4/IPv6 or "localhost"
  uint16_t port = 0;
};

struct InstanceConfig {
  std::string address;  // numeric IP or host name resolved once at load
  uint16_t port = 0;
  uint32_t weight = 1;  // 1-1000
};

// Where `balance: hash` takes a request's key from: `header:NAME`, `cookie:NAME`, `query:NAME` or
// `path` in the config.
struct HashKey {
  enum class Source { kNone, kHeader, kCookie, kQuery, kPath };
  Source source = Source::kNone;
  std::string name;  // header, cookie or query parameter name; empty for kPath

  bool operator==(const HashKey&) const = default;
};

// `hash:` of a service (only with `balance: hash`).
struct HashConfig {
  HashKey key;
  uint32_t balance_factor = 0;  // bounded load in % of the average (HAProxy's); 0 = off, else >100
};

// `health.check:` of a service: active checks (HAProxy's `check inter rise fall`, nginx plus's
// health_check): a GET of `path` on every instance every `interval`.
struct CheckConfig {
  std::string path = "/health";
  Duration interval{2'000};
  Duration timeout{1'000};
  uint32_t rise = 2;  // passes in a row that bring a down instance back
  uint32_t fall = 3;  // failures in a row that take an instance down
  // Statuses that pass: inclusive ranges.
  std::vector<std::pair<uint16_t, uint16_t>> expect{{200, 399}};
  std::string host;  // Host header; empty = the instance's address:port

  bool expects(int status) const {
    for (const auto& [lo, hi] : expect) {
      if (status >= lo && status <= hi) return true;
    }
    return false;
  }
};

// Passive health (nginx's max_fails / fail_timeout) and panic mode (Envoy's panic threshold).
struct HealthConfig {
  // What counts as a failed attempt: bits of kFailOn*.
  static constexpr uint32_t kFailOnError = 1;    // connect refused/reset, garbage, truncation
  static constexpr uint32_t kFailOnTimeout = 2;  // connect or response timeout
  static constexpr uint32_t kFailOn500 = 4;
  static constexpr uint32_t kFailOn502 = 8;
  static constexpr uint32_t kFailOn503 = 16;
  static constexpr uint32_t kFailOn504 = 32;

  uint32_t max_fails = 1;  // 0: passive health off
  Duration fail_timeout{10'000};
  uint32_t fail_on = kFailOnError | kFailOnTimeout;
  uint32_t panic_threshold = 50;     // percent healthy below which every instance is used
  std::optional<CheckConfig> check;  // active checks; none by default

  // Whether a response with this status counts as a failure.
  bool fails_on_status(int status) const {
    switch (status) {
      case 500:
        return (fail_on & kFailOn500) != 0;
      case 502:
        return (fail_on & kFailOn502) != 0;
      case 503:
        return (fail_on & kFailOn503) != 0;
      case 504:
        return (fail_on & kFailOn504) != 0;
      default:
        return false;
    }
  }
};

// `retry:` of a service: when a failed attempt is sent to another instance. nginx's
// proxy_next_upstream (what counts, `tries`), Envoy's per-try timeout and retry budget.
struct RetryConfig {
  uint32_t tries = 3;  // attempts in all, each on another instance; 1 = no retries
  // How long one attempt may take until its response head (connect included); 0 = only the
  // upstream_connect / upstream_response timeouts.
  Duration try_timeout{0};
  // What makes an attempt worth retrying: bits of HealthConfig::kFailOn*.
  uint32_t on = HealthConfig::kFailOnError | HealthConfig::kFailOnTimeout;
  // Retry requests that are not idempotent (POST, PATCH, ...) even after they reached an
  // upstream; they are always retried when they never did (connect failed).
  bool non_idempotent = false;
  // Retries in flight at once stay under `budget_percent` % of the service's active requests,
  // but `budget_min` are always allowed (Envoy's retry_budget): a service whose every instance
  // fails gets no storm of retries.
  uint32_t budget_percent = 20;
  uint32_t budget_min = 3;

  bool retries_status(int status) const { return (on & status_outcome(status)) != 0; }
  // The kFailOn* bit of a response status, 0 for one no policy can name.
  static uint32_t status_outcome(int status) {
    switch (status) {
      case 500:
        return HealthConfig::kFailOn500;
      case 502:
        return HealthConfig::kFailOn502;
      case 503:
        return HealthConfig::kFailOn503;
      case 504:
        return HealthConfig::kFailOn504;
      default:
        return 0;
    }
  }
};

// `max_conns` and `queue:` of a service: at most `max_conns` requests (WebSocket tunnels
// included) in flight to each instance, counted across workers (nginx's max_conns with a zone);
// a request that finds every instance full waits in a bounded queue (nginx plus's `queue`,
// HAProxy's server maxconn + `timeout queue`) and gets 503 when it is full or the wait too long.
struct ConnLimitConfig {
  uint32_t max_conns = 0;  // per instance; 0 = unlimited
  uint32_t queue_size = 100;
  Duration queue_timeout{5'000};
};

// `outlier:` of a service: Envoy's outlier detection. An instance that answers
// `consecutive_5xx` 5xx in a row, or `consecutive_gateway_errors` gateway errors in a row (502,
// 503, 504, a refused or reset connection, a timeout), is ejected for base_ejection_time times
// the number of its ejections (capped at max_ejection_time); never more than
// max_ejection_percent of the service's instances at once, though one always may be.
struct OutlierConfig {
  uint32_t consecutive_5xx = 5;             // 0 = this rule off
  uint32_t consecutive_gateway_errors = 5;  // 0 = this rule off
  Duration base_ejection_time{30'000};
  Duration max_ejection_time{300'000};
  uint32_t max_ejection_percent = 10;
};

struct ServiceConfig {
  std::string name;                     // [a-z0-9][a-z0-9._-]{0,62}
  std::string balance = "round_robin";  // an algorithm of balance/factory.cpp
  std::vector<InstanceConfig> instances;
  std::optional<HashConfig> hash{};  // given exactly when balance is hash
  HealthConfig health{};
  RetryConfig retry{};
  ConnLimitConfig limits{};
  std::optional<OutlierConfig> outlier{};  // off unless given
  // Ramp of an instance that joins or comes back, from 10 % of its weight to all of it
  // (round_robin and least_conn, as Envoy); 0 = off.
  Duration slow_start{0};
};

struct RouteConfig {
  std::string host;  // empty = any host; exact match, case-insensitive, port ignored
  std::string path_prefix = "/";
  std::string service;        // must name a service
  bool strip_prefix = false;  // remove path_prefix from the path sent upstream
};

struct Timeouts {
  Duration client_header{10'000};   // whole request head, first byte to last (slowloris defence)
  Duration client_body{60'000};     // between two reads of the request body
  Duration keepalive_idle{75'000};  // idle client connection between requests
  Duration upstream_connect{5'000};
  Duration upstream_response{60'000};  // between two reads of the response (first byte included)
  Duration upstream_idle{30'000};      // pooled idle upstream connection
  Duration websocket_idle{3'600'000};  // tunnel with no byte either way
  Duration drain{30'000};              // shutdown: how long in-flight requests may take
  // Shutdown: how long, before draining, the proxy keeps serving while its health endpoint
  // answers 503, so an outer balancer stops sending first. 0 = drain at once.
  Duration shutdown_delay{0};
};

struct Limits {
  uint32_t request_line = 8 * 1024;                // -> 414
  uint32_t header_block = 32 * 1024;               // -> 431
  uint32_t header_count = 100;                     // -> 431
  uint64_t body_size = 1024ull * 1024 * 1024 * 4;  // -> 413; 0 = unlimited
  uint32_t upstream_keepalive = 64;                // idle connections per instance per worker
  uint32_t max_connections = 100'000;              // per process; accept pauses above it
};

struct AccessLogConfig {
  bool enabled = true;
  std::string path = "-";       // "-" = stdout
  std::string format = "json";  // json | text
};

struct EndpointsConfig {
  std::string health_path = "/lb-health";
  std::string status_path = "/lb-status";
};

// The admin listener: the registry API (/v1), later metrics and the dashboard.
struct AdminConfig {
  bool enabled = true;
  Endpoint listen{"127.0.0.1", 8091};
  // Bearer token for the admin API; empty = none. Taken from `admin.token`, else from the
  // SWITCHBOARD_ADMIN_TOKEN environment variable. Required when `listen` is not loopback.
  std::string token;
  // With a token: GET requests (reads, blocking queries, /metrics) are answered without it.
  bool open_reads = false;
};

struct RegistryConfig {
  // The embedded store's directory (SQLite file), relative to the working directory.
  std::string data_dir = "switchboard-data";
  // How long an instance stays critical (TTL passed, no heartbeat) before it is deregistered.
  Duration deregister_after{60'000};
  // `registry.store` (flag --registry): "sqlite" (the embedded file in data_dir), or
  // "etcd://host:port[,host:port...]": an etcd v3 cluster shared by several switchboards.
  std::string store = "sqlite";
  // The etcd members parsed from `store`; empty for sqlite.
  std::vector<Endpoint> etcd;
  // Keys live under this prefix, so several switchboard clusters can share one etcd.
  std::string etcd_prefix = "/switchboard/";
  // The longest a registry write waits for etcd (all members tried) and for this node's watch to
  // deliver it, before it answers 503.
  Duration etcd_timeout{2'000};
};

struct Config {
  Endpoint listen{"127.0.0.1", 8090};
  AdminConfig admin;
  RegistryConfig registry;
  unsigned threads = 0;  // 0 = number of cores
  // How new connections reach the workers: "kernel" (each worker has its own listening socket and
  // the kernel spreads connections by a hash of their addresses, SO_REUSEPORT) or "exact" (one
  // socket; each connection goes to the worker with the fewest open, as Envoy's exact_balance).
  std::string accept_balance = "kernel";
  std::vector<ServiceConfig> services;
  std::vector<RouteConfig> routes;
  Timeouts timeouts;
  Limits limits;
  AccessLogConfig access_log;
  EndpointsConfig endpoints;
  // `log: {level, format}` (`log_level` is the older spelling of log.level): trace, debug,
  // info, warn, error, off; and text (one human line) or json (one object per line).
  std::string log_level = "info";
  std::string log_format = "text";
  // Peers whose X-Forwarded-For is believed for the client address (ip_hash): addresses or CIDRs.
  // Top level because it describes the network in front of the proxy, not any one service.
  std::vector<std::string> trusted_proxies;
};

// Parses and validates a YAML document. Throws ConfigError naming the key.
Config parse_yaml(const std::string& text);
Config load_file(const std::string& path);

// "127.0.0.1:8090", "[::1]:8090", "localhost:80". Throws ConfigError(key, ...).
Endpoint parse_endpoint(const std::string& key, const std::string& text);
// "sqlite" -> no endpoints; "etcd://h1:2379,h2:2379" (each item may repeat "etcd://") -> the
// members. Throws ConfigError(key, ...).
std::vector<Endpoint> parse_registry_store(const std::string& key, const std::string& text);
// "250ms", "10s", "5m", "1h"; a bare number is seconds. Throws ConfigError(key, ...).
Duration parse_duration(const std::string& key, const std::string& text);
// "32k", "1m", "4g", "1024". Throws ConfigError(key, ...).
uint64_t parse_size(const std::string& key, const std::string& text);
// "header:X-User", "cookie:session", "query:user", "path". Throws ConfigError(key, ...).
HashKey parse_hash_key(const std::string& key, const std::string& text);

// When no routes are given and exactly one service exists, sends every request ("/") to it.
// parse_yaml calls it; call it too on a Config assembled by hand (the quick command-line flags).
void add_default_route(Config& config);

// log.level ("trace" ... "off") and log.format ("text", "json"), for values from flags too.
// Throw ConfigError(key, ...).
void check_log_level(const std::string& key, const std::string& level);
void check_log_format(const std::string& key, const std::string& format);
// The admin bearer token, from the config (admin.token) or the environment
// (SWITCHBOARD_ADMIN_TOKEN): 16+ characters, no spaces. Throws ConfigError(key, ...).
void check_admin_token(const std::string& key, const std::string& token);

// Checks cross-references and ranges of an assembled Config (routes name existing services,
// weights 1-1000, unique service names, ...). Throws ConfigError.
void validate(const Config& config);

}  // namespace sb::config
