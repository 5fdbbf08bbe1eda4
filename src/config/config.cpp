// Reads the YAML configuration of `switchboard serve` into a Config and validates it; every problem
// becomes one ConfigError naming the dotted key. The schema is documented in docs/config.md.
#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "balance/balancer.hpp"
#include "core/ip_address.hpp"
#include "http/request_target.hpp"
#include "http/text.hpp"

namespace sb::config {
namespace {

// ---- Messages --------------------------------------------------------------------------------

// Messages go to one log line or one CLI line, so control characters from the user's text (a
// quoted YAML scalar may hold a newline) are escaped.
std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      std::array<char, 5> escaped{};
      std::snprintf(escaped.data(), escaped.size(), "\\x%02x", byte);
      out += escaped.data();
    } else {
      out += c;
    }
  }
  return out;
}

[[noreturn]] void fail(const std::string& key, const std::string& problem) {
  throw ConfigError(printable(key), printable(problem));
}

std::string quoted(std::string_view text) {
  return "'" + std::string(text) + "'";
}

template <typename Names>
std::string join(const Names& names) {
  std::string out;
  for (const std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string item(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

// ---- Numbers, sizes, durations ---------------------------------------------------------------

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;

// Leading decimal digits of a setting and what follows them ("250ms" -> 250, "ms").
struct Number {
  uint64_t value = 0;
  bool overflow = false;
  std::string_view suffix;
};

// Only plain digits: yaml-cpp's own conversions would take "0x10" or "1e3", or wrap "-1" into a
// huge unsigned value.
std::optional<Number> split_number(std::string_view text) {
  Number number;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const auto digit = static_cast<uint64_t>(text[i] - '0');
    if (number.value > (std::numeric_limits<uint64_t>::max() - digit) / 10) number.overflow = true;
    number.value = number.value * 10 + digit;
  }
  if (i == 0) return std::nullopt;
  number.suffix = text.substr(i);
  return number;
}

bool is_negative_number(std::string_view text) {
  return text.size() > 1 && text[0] == '-' && text[1] >= '0' && text[1] <= '9';
}

std::string format_size(uint64_t bytes) {
  for (const auto& [unit, suffix] : {std::pair{kGiB, "g"}, {kMiB, "m"}, {kKiB, "k"}}) {
    if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
  }
  return std::to_string(bytes);
}

std::string format_duration(Duration duration) {
  const auto ms = duration.count();
  for (const auto& [unit, suffix] :
       {std::pair{3'600'000LL, "h"}, {60'000LL, "m"}, {1'000LL, "s"}}) {
    if (ms != 0 && ms % unit == 0) return std::to_string(ms / unit) + suffix;
  }
  return std::to_string(ms) + "ms";
}

// 0 for a suffix that is not a duration unit.
int64_t millis_per_unit(std::string_view suffix) {
  if (suffix == "ms") return 1;
  if (suffix.empty() || suffix == "s") return 1'000;
  if (suffix == "m") return 60'000;
  if (suffix == "h") return 3'600'000;
  return 0;
}

// 0 for a suffix that is not a size unit.
uint64_t bytes_per_unit(std::string_view suffix) {
  if (suffix.empty()) return 1;
  if (suffix.size() != 1) return 0;
  switch (std::tolower(static_cast<unsigned char>(suffix[0]))) {
    case 'k':
      return kKiB;
    case 'm':
      return kMiB;
    case 'g':
      return kGiB;
    default:
      return 0;
  }
}

// ---- Ranges ----------------------------------------------------------------------------------

struct Range {
  uint64_t lo;
  uint64_t hi;
};

enum class Unit { kCount, kBytes };

std::string show(uint64_t value, Unit unit) {
  return unit == Unit::kBytes ? format_size(value) : std::to_string(value);
}

[[noreturn]] void fail_range(const std::string& key, const std::string& shown, Range range,
                             Unit unit) {
  fail(key, shown + " is out of range " + show(range.lo, unit) + "-" + show(range.hi, unit));
}

void check_range(const std::string& key, uint64_t value, Range range, Unit unit = Unit::kCount) {
  if (value < range.lo || value > range.hi) fail_range(key, show(value, unit), range, unit);
}

constexpr Range kThreadsRange{0, 256};
constexpr Range kPortRange{1, 65'535};
constexpr Range kWeightRange{1, 1'000};
constexpr Range kHeaderBlockRange{kKiB, kMiB};
constexpr uint64_t kMinRequestLine = 256;
// Timers count nanoseconds from the clock's epoch in an int64 (about 292 years), so a timeout must
// stay far below that for `now() + timeout` not to overflow.
constexpr Duration kMaxTimeout = std::chrono::hours(24 * 365);

// ---- Schema tables ---------------------------------------------------------------------------

// HAProxy's hash-balance-factor: over 100 (at 100 every instance is capped at exactly the average
// and keys spill constantly); 0 turns it off. 1000 already allows ten times the average.
constexpr Range kBalanceFactorRange{101, 1'000};

constexpr std::array<std::string_view, 2> kAcceptBalances{"kernel", "exact"};
constexpr std::array<std::string_view, 6> kLogLevels{"trace", "debug", "info",
                                                     "warn",  "error", "off"};
constexpr std::array<std::string_view, 2> kAccessLogFormats{"json", "text"};
constexpr std::array<std::string_view, 2> kLogFormats{"text", "json"};

struct TimeoutField {
  std::string_view name;
  Duration Timeouts::*member;
  bool zero_allowed;
};

constexpr std::array<TimeoutField, 9> kTimeoutFields{{
    {"client_header", &Timeouts::client_header, false},
    {"client_body", &Timeouts::client_body, false},
    {"keepalive_idle", &Timeouts::keepalive_idle, false},
    {"upstream_connect", &Timeouts::upstream_connect, false},
    {"upstream_response", &Timeouts::upstream_response, false},
    {"upstream_idle", &Timeouts::upstream_idle, false},
    {"websocket_idle", &Timeouts::websocket_idle, false},
    {"drain", &Timeouts::drain, true},  // 0 = stop at once, dropping in-flight requests
    {"shutdown_delay", &Timeouts::shutdown_delay, true},  // 0 = drain at once
}};

// The 32-bit limits. body_size (64-bit, 0 = unlimited) is handled on its own.
struct LimitField {
  std::string_view name;
  uint32_t Limits::*member;
  Unit unit;
  Range range;  // request_line is further capped by header_block in validate()
};

constexpr std::array<LimitField, 5> kLimitFields{{
    {"request_line", &Limits::request_line, Unit::kBytes, {kMinRequestLine, kHeaderBlockRange.hi}},
    {"header_block", &Limits::header_block, Unit::kBytes, kHeaderBlockRange},
    {"header_count", &Limits::header_count, Unit::kCount, {1, 10'000}},
    {"upstream_keepalive", &Limits::upstream_keepalive, Unit::kCount, {0, 10'000}},
    {"max_connections",
     &Limits::max_connections,
     Unit::kCount,
     {1, std::numeric_limits<uint32_t>::max()}},
}};

template <typename Names>
bool contains(const Names& names, std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

// ---- YAML readers ----------------------------------------------------------------------------

// Rejects keys the schema does not know, so a typo cannot silently leave a default in place, and
// repeated keys, which yaml-cpp would otherwise resolve by quietly taking the first.
template <typename Names>
void check_keys(const YAML::Node& map, const std::string& path, const std::string& owner,
                const Names& known) {
  std::vector<std::string> seen;
  for (const auto& entry : map) {
    if (!entry.first.IsScalar()) fail(owner, "expected keys to be plain strings");
    const std::string& key = entry.first.Scalar();
    if (!contains(known, key)) fail(child(path, key), "unknown key");
    if (contains(seen, key)) fail(child(path, key), "duplicate key");
    seen.push_back(key);
  }
}

void check_keys(const YAML::Node& map, const std::string& path,
                std::initializer_list<std::string_view> known) {
  check_keys(map, path, path, known);
}

// A section may be left empty (`timeouts:`) to keep its defaults; false means "absent or empty".
bool open_map(const YAML::Node& node, const std::string& path) {
  if (!node || node.IsNull()) return false;
  if (!node.IsMap()) fail(path, "expected a map");
  return true;
}

bool open_list(const YAML::Node& node, const std::string& path) {
  if (!node || node.IsNull()) return false;
  if (!node.IsSequence()) fail(path, "expected a list");
  return true;
}

YAML::Node require(const YAML::Node& map, const std::string& path, std::string_view key) {
  YAML::Node value = map[std::string(key)];
  if (!value) fail(child(path, key), "missing required key");
  return value;
}

std::string read_string(const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) fail(key, "expected a string");
  return node.Scalar();
}

bool read_bool(const YAML::Node& node, const std::string& key) {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    fail(key, "expected true or false, got " + quoted(node.Scalar()));
  }
  return value;
}

uint64_t read_count(const YAML::Node& node, const std::string& key, Range range) {
  if (!node.IsScalar()) fail(key, "expected a number");
  const std::string& text = node.Scalar();
  if (is_negative_number(text)) fail_range(key, text, range, Unit::kCount);
  const auto number = split_number(text);
  if (!number || !number->suffix.empty()) fail(key, "expected a number, got " + quoted(text));
  if (number->overflow) fail_range(key, text, range, Unit::kCount);
  check_range(key, number->value, range);
  return number->value;
}

uint64_t read_size(const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) fail(key, "expected a size such as 32k");
  return parse_size(key, node.Scalar());
}

Duration read_duration(const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) fail(key, "expected a duration such as 10s");
  return parse_duration(key, node.Scalar());
}

// ---- Sections --------------------------------------------------------------------------------

template <typename Parse>
auto read_list(const YAML::Node& node, const std::string& path, Parse parse) {
  std::vector<decltype(parse(node, path))> out;
  if (!open_list(node, path)) return out;
  for (size_t i = 0; i < node.size(); ++i) out.push_back(parse(node[i], item(path, i)));
  return out;
}

InstanceConfig parse_instance(const YAML::Node& node, const std::string& path) {
  InstanceConfig instance;
  if (node.IsScalar()) {  // short form "host:port", weight 1
    const Endpoint endpoint = parse_endpoint(path, node.Scalar());
    instance.address = endpoint.host;
    instance.port = endpoint.port;
    return instance;
  }
  if (!node.IsMap()) fail(path, "expected a map or a \"host:port\" string");
  check_keys(node, path, {"address", "port", "weight"});
  instance.address = read_string(require(node, path, "address"), child(path, "address"));
  instance.port = static_cast<uint16_t>(
      read_count(require(node, path, "port"), child(path, "port"), kPortRange));
  if (const auto weight = node["weight"]) {
    instance.weight =
        static_cast<uint32_t>(read_count(weight, child(path, "weight"), kWeightRange));
  }
  return instance;
}

HashConfig parse_hash(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) fail(path, "expected a map with key and balance_factor");
  check_keys(node, path, {"key", "balance_factor"});
  HashConfig hash;
  const std::string key_path = child(path, "key");
  hash.key = parse_hash_key(key_path, read_string(require(node, path, "key"), key_path));
  if (const auto factor = node["balance_factor"]) {
    const std::string factor_path = child(path, "balance_factor");
    const uint64_t value = read_count(factor, factor_path, {0, kBalanceFactorRange.hi});
    if (value != 0) check_range(factor_path, value, kBalanceFactorRange);
    hash.balance_factor = static_cast<uint32_t>(value);
  }
  return hash;
}

// A list of attempt outcomes, `[error, timeout, 500, 502, 503, 504]`, as HealthConfig::kFailOn*
// bits (passive health's fail_on and retry's on).
uint32_t read_outcomes(const YAML::Node& node, const std::string& key) {
  if (!node.IsSequence()) fail(key, "expected a list such as [error, timeout, 502]");
  uint32_t outcomes = 0;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string word = read_string(node[i], item(key, i));
    static constexpr std::array<std::pair<std::string_view, uint32_t>, 6> kWords{{
        {"error", HealthConfig::kFailOnError},
        {"timeout", HealthConfig::kFailOnTimeout},
        {"500", HealthConfig::kFailOn500},
        {"502", HealthConfig::kFailOn502},
        {"503", HealthConfig::kFailOn503},
        {"504", HealthConfig::kFailOn504},
    }};
    const auto it = std::find_if(kWords.begin(), kWords.end(),
                                 [&](const auto& entry) { return entry.first == word; });
    if (it == kWords.end()) {
      fail(item(key, i),
           "unknown outcome " + quoted(word) + " (expected error, timeout, 500, 502, 503, 504)");
    }
    outcomes |= it->second;
  }
  return outcomes;
}

// `expect: [200, 204, 300-399]` or `expect: 200-299`: statuses that pass an active check.
std::vector<std::pair<uint16_t, uint16_t>> read_status_ranges(const YAML::Node& node,
                                                              const std::string& key) {
  const auto one = [](const YAML::Node& n, const std::string& k) {
    if (!n.IsScalar()) fail(k, "expected a status or a range such as 200-399");
    const std::string text = n.Scalar();
    const size_t dash = text.find('-');
    const auto status = [&](std::string_view part) {
      uint32_t value = 0;
      const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
      if (ec != std::errc() || end != part.data() + part.size() || value < 100 || value > 599) {
        fail(k, "expected a status 100-599 or a range such as 200-399, got " + quoted(text));
      }
      return static_cast<uint16_t>(value);
    };
    const std::string_view view(text);
    const uint16_t lo = status(view.substr(0, dash));
    const uint16_t hi = dash == std::string::npos ? lo : status(view.substr(dash + 1));
    if (hi < lo) fail(k, "range " + quoted(text) + " ends before it starts");
    return std::pair{lo, hi};
  };
  std::vector<std::pair<uint16_t, uint16_t>> ranges;
  if (node.IsSequence()) {
    if (node.size() == 0) fail(key, "expected at least one status");
    for (size_t i = 0; i < node.size(); ++i) ranges.push_back(one(node[i], item(key, i)));
  } else {
    ranges.push_back(one(node, key));
  }
  return ranges;
}

// `check: {path: /health, interval: 2s, timeout: 1s, rise: 2, fall: 3, expect: [200-399]}`
CheckConfig parse_check(const YAML::Node& node, const std::string& path) {
  CheckConfig check;
  if (node.IsNull()) return check;  // `check:` alone: every default
  if (!node.IsMap()) fail(path, "expected a map");
  check_keys(node, path, {"path", "interval", "timeout", "rise", "fall", "expect", "host"});
  if (const auto v = node["path"]) {
    check.path = read_string(v, child(path, "path"));
    if (check.path.empty() || check.path.front() != '/' ||
        check.path.find_first_of(" \r\n\t") != std::string::npos) {
      fail(child(path, "path"),
           "must start with '/' and hold no spaces, got " + quoted(check.path));
    }
  }
  if (const auto v = node["interval"]) {
    check.interval = read_duration(v, child(path, "interval"));
    if (check.interval < Duration(100) || check.interval > std::chrono::hours(1)) {
      fail(child(path, "interval"), format_duration(check.interval) + " is out of range 100ms-1h");
    }
  }
  if (const auto v = node["timeout"]) check.timeout = read_duration(v, child(path, "timeout"));
  if (check.timeout <= Duration::zero() || check.timeout > check.interval) {
    fail(child(path, "timeout"), format_duration(check.timeout) + " must be above 0 and at most " +
                                     "the interval (" + format_duration(check.interval) + ")");
  }
  if (const auto v = node["rise"]) {
    check.rise = static_cast<uint32_t>(read_count(v, child(path, "rise"), Range{1, 100}));
  }
  if (const auto v = node["fall"]) {
    check.fall = static_cast<uint32_t>(read_count(v, child(path, "fall"), Range{1, 100}));
  }
  if (const auto v = node["expect"]) check.expect = read_status_ranges(v, child(path, "expect"));
  if (const auto v = node["host"]) {
    check.host = read_string(v, child(path, "host"));
    if (check.host.find_first_of(" \r\n\t/") != std::string::npos) {
      fail(child(path, "host"), "not a host name: " + quoted(check.host));
    }
  }
  return check;
}

// `health: {max_fails: 3, fail_timeout: 30s, fail_on: [error, timeout, 502], panic_threshold: 50}`
HealthConfig parse_health(const YAML::Node& node, const std::string& path) {
  HealthConfig health;
  if (!open_map(node, path)) return health;
  check_keys(node, path, {"max_fails", "fail_timeout", "fail_on", "panic_threshold", "check"});
  if (const auto v = node["check"]) health.check = parse_check(v, child(path, "check"));
  if (const auto v = node["max_fails"]) {
    health.max_fails =
        static_cast<uint32_t>(read_count(v, child(path, "max_fails"), Range{0, 1000}));
  }
  if (const auto v = node["fail_timeout"]) {
    health.fail_timeout = read_duration(v, child(path, "fail_timeout"));
    if (health.fail_timeout <= Duration::zero() || health.fail_timeout > std::chrono::hours(1)) {
      fail(child(path, "fail_timeout"),
           format_duration(health.fail_timeout) + " is out of range 1ms-1h");
    }
  }
  if (const auto v = node["panic_threshold"]) {
    health.panic_threshold =
        static_cast<uint32_t>(read_count(v, child(path, "panic_threshold"), Range{0, 100}));
  }
  if (const auto v = node["fail_on"]) health.fail_on = read_outcomes(v, child(path, "fail_on"));
  return health;
}

// `retry: {tries: 3, try_timeout: 2s, on: [error, timeout, 503], non_idempotent: false,
//          budget: {percent: 20, min: 3}}`
RetryConfig parse_retry(const YAML::Node& node, const std::string& path) {
  RetryConfig retry;
  if (!open_map(node, path)) return retry;
  check_keys(node, path, {"tries", "try_timeout", "on", "non_idempotent", "budget"});
  if (const auto v = node["tries"]) {
    retry.tries = static_cast<uint32_t>(read_count(v, child(path, "tries"), Range{1, 100}));
  }
  if (const auto v = node["try_timeout"]) {
    const std::string key = child(path, "try_timeout");
    retry.try_timeout = read_duration(v, key);
    if (retry.try_timeout < Duration::zero() || retry.try_timeout > std::chrono::hours(1)) {
      fail(key, format_duration(retry.try_timeout) + " is out of range 0-1h");
    }
  }
  if (const auto v = node["on"]) retry.on = read_outcomes(v, child(path, "on"));
  if (const auto v = node["non_idempotent"]) {
    retry.non_idempotent = read_bool(v, child(path, "non_idempotent"));
  }
  const std::string budget_path = child(path, "budget");
  if (const auto budget = node["budget"]; open_map(budget, budget_path)) {
    check_keys(budget, budget_path, {"percent", "min"});
    if (const auto v = budget["percent"]) {
      retry.budget_percent =
          static_cast<uint32_t>(read_count(v, child(budget_path, "percent"), Range{0, 100}));
    }
    if (const auto v = budget["min"]) {
      retry.budget_min =
          static_cast<uint32_t>(read_count(v, child(budget_path, "min"), Range{0, 100'000}));
    }
  }
  return retry;
}

// `max_conns: 100` and `queue: {size: 100, timeout: 5s}` of a service.
void parse_conn_limit(const YAML::Node& node, const std::string& path, ConnLimitConfig& limits) {
  if (const auto v = node["max_conns"]) {
    limits.max_conns =
        static_cast<uint32_t>(read_count(v, child(path, "max_conns"), Range{0, 1'000'000}));
  }
  const std::string queue_path = child(path, "queue");
  if (const auto queue = node["queue"]; open_map(queue, queue_path)) {
    check_keys(queue, queue_path, {"size", "timeout"});
    if (const auto v = queue["size"]) {
      limits.queue_size =
          static_cast<uint32_t>(read_count(v, child(queue_path, "size"), Range{0, 1'000'000}));
    }
    if (const auto v = queue["timeout"]) {
      const std::string key = child(queue_path, "timeout");
      limits.queue_timeout = read_duration(v, key);
      if (limits.queue_timeout <= Duration::zero() ||
          limits.queue_timeout > std::chrono::hours(1)) {
        fail(key, format_duration(limits.queue_timeout) + " is out of range 1ms-1h");
      }
    }
    if (limits.max_conns == 0) fail(queue_path, "only used with max_conns");
  }
}

// `outlier: {consecutive_5xx: 5, consecutive_gateway_errors: 5, base_ejection_time: 30s,
//            max_ejection_time: 300s, max_ejection_percent: 10}`
OutlierConfig parse_outlier(const YAML::Node& node, const std::string& path) {
  OutlierConfig outlier;
  if (node.IsNull()) return outlier;  // `outlier:` alone: every default
  if (!node.IsMap()) fail(path, "expected a map");
  check_keys(node, path,
             {"consecutive_5xx", "consecutive_gateway_errors", "base_ejection_time",
              "max_ejection_time", "max_ejection_percent"});
  if (const auto v = node["consecutive_5xx"]) {
    outlier.consecutive_5xx =
        static_cast<uint32_t>(read_count(v, child(path, "consecutive_5xx"), Range{0, 1000}));
  }
  if (const auto v = node["consecutive_gateway_errors"]) {
    outlier.consecutive_gateway_errors = static_cast<uint32_t>(
        read_count(v, child(path, "consecutive_gateway_errors"), Range{0, 1000}));
  }
  const auto ejection_time = [&](const char* key, Duration& out) {
    if (const auto v = node[key]) {
      out = read_duration(v, child(path, key));
      if (out <= Duration::zero() || out > std::chrono::hours(24)) {
        fail(child(path, key), format_duration(out) + " is out of range 1ms-24h");
      }
    }
  };
  ejection_time("base_ejection_time", outlier.base_ejection_time);
  ejection_time("max_ejection_time", outlier.max_ejection_time);
  if (outlier.max_ejection_time < outlier.base_ejection_time) {
    fail(child(path, "max_ejection_time"), "must be at least base_ejection_time (" +
                                               format_duration(outlier.base_ejection_time) + ")");
  }
  if (const auto v = node["max_ejection_percent"]) {
    outlier.max_ejection_percent =
        static_cast<uint32_t>(read_count(v, child(path, "max_ejection_percent"), Range{0, 100}));
  }
  return outlier;
}

ServiceConfig parse_service(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) fail(path, "expected a map");
  check_keys(node, path,
             {"name", "balance", "instances", "hash", "health", "retry", "max_conns", "queue",
              "outlier", "slow_start"});
  ServiceConfig service;
  service.name = read_string(require(node, path, "name"), child(path, "name"));
  if (const auto balance = node["balance"]) {
    service.balance = read_string(balance, child(path, "balance"));
  }
  service.instances = read_list(node["instances"], child(path, "instances"), parse_instance);
  if (const auto hash = node["hash"]) service.hash = parse_hash(hash, child(path, "hash"));
  service.health = parse_health(node["health"], child(path, "health"));
  service.retry = parse_retry(node["retry"], child(path, "retry"));
  parse_conn_limit(node, path, service.limits);
  if (const auto v = node["outlier"]) service.outlier = parse_outlier(v, child(path, "outlier"));
  if (const auto v = node["slow_start"]) {
    service.slow_start = read_duration(v, child(path, "slow_start"));
    if (service.slow_start < Duration::zero() || service.slow_start > std::chrono::hours(1)) {
      fail(child(path, "slow_start"),
           format_duration(service.slow_start) + " is out of range 0-1h");
    }
  }
  return service;
}

RouteConfig parse_route(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) fail(path, "expected a map");
  check_keys(node, path, {"host", "path_prefix", "service", "strip_prefix"});
  RouteConfig route;
  route.service = read_string(require(node, path, "service"), child(path, "service"));
  if (const auto host = node["host"]) route.host = read_string(host, child(path, "host"));
  if (const auto prefix = node["path_prefix"]) {
    route.path_prefix = read_string(prefix, child(path, "path_prefix"));
  }
  if (const auto strip = node["strip_prefix"]) {
    route.strip_prefix = read_bool(strip, child(path, "strip_prefix"));
  }
  return route;
}

void parse_timeouts(const YAML::Node& node, const std::string& path, Timeouts& timeouts) {
  if (!open_map(node, path)) return;
  std::array<std::string_view, kTimeoutFields.size()> names{};
  std::transform(kTimeoutFields.begin(), kTimeoutFields.end(), names.begin(),
                 [](const TimeoutField& field) { return field.name; });
  check_keys(node, path, path, names);
  for (const TimeoutField& field : kTimeoutFields) {
    if (const auto value = node[std::string(field.name)]) {
      timeouts.*field.member = read_duration(value, child(path, field.name));
    }
  }
}

void parse_limits(const YAML::Node& node, const std::string& path, Limits& limits) {
  if (!open_map(node, path)) return;
  std::array<std::string_view, kLimitFields.size() + 1> names{};
  std::transform(kLimitFields.begin(), kLimitFields.end(), names.begin(),
                 [](const LimitField& field) { return field.name; });
  names.back() = "body_size";
  check_keys(node, path, path, names);
  for (const LimitField& field : kLimitFields) {
    const auto value = node[std::string(field.name)];
    if (!value) continue;
    const std::string key = child(path, field.name);
    const uint64_t number =
        field.unit == Unit::kBytes ? read_size(value, key) : read_count(value, key, field.range);
    // Checked before narrowing to 32 bits; validate() repeats it on the narrowed value.
    check_range(key, number, field.range, field.unit);
    limits.*field.member = static_cast<uint32_t>(number);
  }
  if (const auto body = node["body_size"]) {
    limits.body_size = read_size(body, child(path, "body_size"));
  }
}

// `access_log: off` / `false` disables it, `access_log: /path/file.log` is shorthand for the path,
// or a full map.
void parse_access_log(const YAML::Node& node, const std::string& path, AccessLogConfig& log) {
  if (node && node.IsScalar()) {
    bool enabled = false;
    // A quoted scalar ("!" tag) is always a path, so a log file may be called "off".
    if (node.Tag() != "!" && YAML::convert<bool>::decode(node, enabled)) {
      log.enabled = enabled;
    } else {
      log.path = node.Scalar();
    }
    return;
  }
  if (!open_map(node, path)) return;
  check_keys(node, path, {"enabled", "path", "format"});
  if (const auto enabled = node["enabled"]) {
    log.enabled = read_bool(enabled, child(path, "enabled"));
  }
  if (const auto file = node["path"]) log.path = read_string(file, child(path, "path"));
  if (const auto format = node["format"]) log.format = read_string(format, child(path, "format"));
}

// `log: {level, format}`; `log_level` at the top level is the older spelling of log.level.
void parse_log(const YAML::Node& node, const std::string& path, bool has_log_level,
               Config& config) {
  if (!open_map(node, path)) return;
  check_keys(node, path, {"level", "format"});
  if (const auto level = node["level"]) {
    if (has_log_level) fail(child(path, "level"), "also given as log_level; keep one of them");
    config.log_level = read_string(level, child(path, "level"));
    check_log_level(child(path, "level"), config.log_level);
  }
  if (const auto format = node["format"]) {
    config.log_format = read_string(format, child(path, "format"));
    check_log_format(child(path, "format"), config.log_format);
  }
}

void parse_endpoints(const YAML::Node& node, const std::string& path, EndpointsConfig& endpoints) {
  if (!open_map(node, path)) return;
  check_keys(node, path, {"health_path", "status_path"});
  if (const auto health = node["health_path"]) {
    endpoints.health_path = read_string(health, child(path, "health_path"));
  }
  if (const auto status = node["status_path"]) {
    endpoints.status_path = read_string(status, child(path, "status_path"));
  }
}

// `admin: off` disables the admin listener (and with it the registry API); `admin: {listen: ...}`.
void parse_admin(const YAML::Node& node, const std::string& path, AdminConfig& admin) {
  if (node && node.IsScalar()) {
    bool enabled = false;
    if (!YAML::convert<bool>::decode(node, enabled) || enabled) {
      fail(path, "expected off or a map with listen, got " + quoted(node.Scalar()));
    }
    admin.enabled = false;
    return;
  }
  if (!open_map(node, path)) return;
  check_keys(node, path, {"listen", "token", "open_reads"});
  if (const auto listen = node["listen"]) {
    admin.listen =
        parse_endpoint(child(path, "listen"), read_string(listen, child(path, "listen")));
  }
  if (const auto token = node["token"]) {
    admin.token = read_string(token, child(path, "token"));
    check_admin_token(child(path, "token"), admin.token);
  }
  if (const auto open = node["open_reads"]) {
    admin.open_reads = read_bool(open, child(path, "open_reads"));
  }
}

void parse_registry(const YAML::Node& node, const std::string& path, RegistryConfig& registry) {
  if (!open_map(node, path)) return;
  check_keys(node, path, {"data_dir", "deregister_after", "store", "etcd_prefix", "etcd_timeout"});
  if (const auto dir = node["data_dir"]) {
    registry.data_dir = read_string(dir, child(path, "data_dir"));
  }
  if (const auto store = node["store"]) {
    registry.store = read_string(store, child(path, "store"));
    registry.etcd = parse_registry_store(child(path, "store"), registry.store);
  }
  if (const auto prefix = node["etcd_prefix"]) {
    registry.etcd_prefix = read_string(prefix, child(path, "etcd_prefix"));
  }
  if (const auto timeout = node["etcd_timeout"]) {
    registry.etcd_timeout = read_duration(timeout, child(path, "etcd_timeout"));
  }
  if (const auto after = node["deregister_after"]) {
    registry.deregister_after = read_duration(after, child(path, "deregister_after"));
  }
}

Config parse_root(const YAML::Node& root, const std::string& source) {
  Config config;
  if (root.IsNull()) return config;  // an empty file: all defaults
  if (!root.IsMap()) fail(source, "expected a map of settings at the top level");
  check_keys(
      root, "", source,
      std::initializer_list<std::string_view>{
          "listen", "threads", "accept_balance", "log_level", "log", "services", "routes",
          "timeouts", "limits", "access_log", "endpoints", "admin", "registry", "trusted_proxies"});
  if (const auto listen = root["listen"]) {
    config.listen = parse_endpoint("listen", read_string(listen, "listen"));
  }
  if (const auto threads = root["threads"]) {
    config.threads = static_cast<unsigned>(read_count(threads, "threads", kThreadsRange));
  }
  if (const auto balance = root["accept_balance"]) {
    config.accept_balance = read_string(balance, "accept_balance");
  }
  if (const auto level = root["log_level"]) config.log_level = read_string(level, "log_level");
  parse_log(root["log"], "log", static_cast<bool>(root["log_level"]), config);
  config.services = read_list(root["services"], "services", parse_service);
  config.routes = read_list(root["routes"], "routes", parse_route);
  parse_timeouts(root["timeouts"], "timeouts", config.timeouts);
  parse_limits(root["limits"], "limits", config.limits);
  parse_access_log(root["access_log"], "access_log", config.access_log);
  parse_endpoints(root["endpoints"], "endpoints", config.endpoints);
  parse_admin(root["admin"], "admin", config.admin);
  parse_registry(root["registry"], "registry", config.registry);
  config.trusted_proxies = read_list(root["trusted_proxies"], "trusted_proxies", read_string);
  return config;
}

// yaml-cpp's marks count from 0; editors count from 1.
std::string describe(const YAML::Exception& error) {
  if (error.mark.is_null()) return "invalid YAML: " + error.msg;
  return "invalid YAML at line " + std::to_string(error.mark.line + 1) + ", column " +
         std::to_string(error.mark.column + 1) + ": " + error.msg;
}

// `source` names the document in errors that belong to no key: "config" or the file path.
Config parse_document(const std::string& text, const std::string& source) {
  Config config;
  try {
    config = parse_root(YAML::Load(text), source);
  } catch (const YAML::Exception& error) {
    fail(source, describe(error));
  }
  add_default_route(config);
  validate(config);
  return config;
}

[[noreturn]] void fail_read(const std::string& path, int error) {
  const std::string reason = std::error_code(error, std::generic_category()).message();
  fail(path, "cannot read " + path + ": " + reason);
}

// ---- Validation ------------------------------------------------------------------------------

bool has_space(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
}

bool is_service_name(std::string_view name) {
  const auto lower_or_digit = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (name.empty() || name.size() > 63 || !lower_or_digit(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return lower_or_digit(c) || c == '.' || c == '_' || c == '-'; });
}

template <typename Names>
void check_one_of(const std::string& key, const std::string& value, const Names& allowed,
                  std::string_view what) {
  if (!contains(allowed, value)) {
    fail(key, "unsupported " + std::string(what) + " " + quoted(value) +
                  " (supported: " + join(allowed) + ")");
  }
}

// A path a request's path is compared with. Requests are matched by their path in normal form
// (RFC 3986 6.2.2, http/request_target.hpp), so a path in any other form would never match.
void check_path(const std::string& key, const std::string& path) {
  if (path.empty() || path[0] != '/') fail(key, "must start with '/', got " + quoted(path));
  std::string normal;
  const http::PathCheck check = http::normalize_path(path, normal);
  switch (check) {
    case http::PathCheck::kMalformed:
    case http::PathCheck::kAmbiguous:
      fail(key, std::string(http::path_problem(check)) + ": " + quoted(path));
    case http::PathCheck::kNormalized:
      if (normal != path) {
        fail(key, quoted(path) + " is not in normal form, which requests are matched in; write " +
                      quoted(normal));
      }
      break;
    case http::PathCheck::kUnchanged:
      break;
  }
}

void validate_instance(const InstanceConfig& instance, const std::string& path) {
  if (instance.address.empty()) fail(child(path, "address"), "must not be empty");
  check_range(child(path, "port"), instance.port, kPortRange);
  check_range(child(path, "weight"), instance.weight, kWeightRange);
}

void validate_services(const std::vector<ServiceConfig>& services) {
  for (size_t i = 0; i < services.size(); ++i) {
    const ServiceConfig& service = services[i];
    const std::string path = item("services", i);
    if (!is_service_name(service.name)) {
      fail(child(path, "name"),
           "invalid name " + quoted(service.name) + " (expected [a-z0-9][a-z0-9._-]{0,62})");
    }
    for (size_t j = 0; j < i; ++j) {
      if (services[j].name == service.name) {
        fail(child(path, "name"), "duplicate service name " + quoted(service.name) + " (also " +
                                      item("services", j) + ")");
      }
    }
    check_one_of(child(path, "balance"), service.balance, balance::algorithm_names(), "balance");
    if (service.balance == "hash" && !service.hash) {
      fail(child(path, "hash"),
           "missing: balance: hash needs hash.key (header:NAME, "
           "cookie:NAME, query:NAME or path)");
    }
    if (service.hash && service.balance != "hash") {
      fail(child(path, "hash"),
           "only used with balance: hash (balance is " + quoted(service.balance) + ")");
    }
    for (size_t j = 0; j < service.instances.size(); ++j) {
      validate_instance(service.instances[j], item(child(path, "instances"), j));
    }
  }
}

bool has_service(const std::vector<ServiceConfig>& services, const std::string& name) {
  return std::any_of(services.begin(), services.end(),
                     [&](const ServiceConfig& service) { return service.name == name; });
}

void validate_routes(const std::vector<RouteConfig>& routes,
                     const std::vector<ServiceConfig>& services) {
  // With one service add_default_route() fills the gap; with several there is no sensible guess.
  if (routes.empty() && services.size() > 1) {
    fail("routes", "no routes given for " + std::to_string(services.size()) +
                       " services; add routes saying which requests go to which service");
  }
  for (size_t i = 0; i < routes.size(); ++i) {
    const RouteConfig& route = routes[i];
    const std::string path = item("routes", i);
    if (!route.host.empty() && !http::valid_route_host(route.host)) {
      fail(child(path, "host"), "invalid host " + quoted(route.host) +
                                    " (a host name or [IPv6] address, without a port)");
    }
    check_path(child(path, "path_prefix"), route.path_prefix);
    if (!has_service(services, route.service)) {
      fail(child(path, "service"), "unknown service " + quoted(route.service));
    }
  }
}

void validate_trusted_proxies(const std::vector<std::string>& proxies) {
  for (size_t i = 0; i < proxies.size(); ++i) {
    if (!Cidr::parse(proxies[i])) {
      fail(item("trusted_proxies", i),
           "expected an IP address or a CIDR range such as 10.0.0.0/8 (host bits zero), got " +
               quoted(proxies[i]));
    }
  }
}

void validate_timeouts(const Timeouts& timeouts) {
  for (const TimeoutField& field : kTimeoutFields) {
    const Duration value = timeouts.*field.member;
    const std::string key = child("timeouts", field.name);
    if (field.zero_allowed && value < Duration::zero()) fail(key, "must not be negative");
    if (!field.zero_allowed && value <= Duration::zero()) fail(key, "must be greater than 0");
    if (value > kMaxTimeout) {
      fail(key,
           format_duration(value) + " is more than the maximum " + format_duration(kMaxTimeout));
    }
  }
}

void validate_limits(const Limits& limits) {
  for (const LimitField& field : kLimitFields) {
    Range range = field.range;
    // The request line is part of the header block, so it cannot be allowed to be longer.
    if (field.member == &Limits::request_line) {
      range.hi = std::min<uint64_t>(range.hi, limits.header_block);
    }
    check_range(child("limits", field.name), limits.*field.member, range, field.unit);
  }
}

void validate_access_log(const AccessLogConfig& log) {
  if (log.enabled && log.path.empty()) fail("access_log.path", "must not be empty");
  check_one_of("access_log.format", log.format, kAccessLogFormats, "format");
}

// The admin API changes what the proxy routes: reachable from other machines, it must ask for a
// token.
void validate_admin(const AdminConfig& admin) {
  if (!admin.enabled || !admin.token.empty()) return;
  const std::string& host = admin.listen.host;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  const bool loopback = host == "localhost" || (!ec && address.is_loopback());
  if (!loopback) {
    fail("admin.token", "required when the admin listener is not on loopback (it is on " + host +
                            "): set admin.token or SWITCHBOARD_ADMIN_TOKEN");
  }
}

void validate_endpoints(const EndpointsConfig& endpoints) {
  check_path("endpoints.health_path", endpoints.health_path);
  check_path("endpoints.status_path", endpoints.status_path);
  if (endpoints.status_path == endpoints.health_path) {
    fail("endpoints.status_path", "must differ from endpoints.health_path");
  }
}

}  // namespace

// ---- Public API ------------------------------------------------------------------------------

Endpoint parse_endpoint(const std::string& key, const std::string& text) {
  const std::string bad = "expected host:port, got " + quoted(text);
  const std::string_view view = text;
  std::string_view host;
  std::string_view port;
  if (view.starts_with('[')) {  // "[::1]:8090"
    const size_t close = view.find(']');
    if (close == std::string_view::npos || view.substr(close + 1, 1) != ":") fail(key, bad);
    host = view.substr(1, close - 1);
    port = view.substr(close + 2);
  } else {
    const size_t colon = view.rfind(':');
    if (colon == std::string_view::npos) fail(key, bad);
    host = view.substr(0, colon);
    port = view.substr(colon + 1);
    // A bare IPv6 address is ambiguous ("::1:80"); it needs brackets.
    if (host.find(':') != std::string_view::npos) fail(key, bad);
  }
  if (host.empty() || has_space(host) || host.find_first_of("/[]") != std::string_view::npos) {
    fail(key, bad);
  }
  const auto number = split_number(port);
  if (!number || !number->suffix.empty() || number->overflow || number->value > 65'535) {
    fail(key, bad);
  }
  return Endpoint{std::string(host), static_cast<uint16_t>(number->value)};
}

std::vector<Endpoint> parse_registry_store(const std::string& key, const std::string& text) {
  constexpr std::string_view kScheme = "etcd://";
  if (text == "sqlite") return {};
  const std::string_view view = text;
  if (!view.starts_with(kScheme)) {
    fail(key, "expected sqlite or etcd://host:port[,host:port...], got " + quoted(text));
  }
  std::vector<Endpoint> endpoints;
  size_t start = kScheme.size();
  while (true) {
    const size_t comma = view.find(',', start);
    std::string_view item =
        view.substr(start, comma == std::string_view::npos ? comma : comma - start);
    if (item.starts_with(kScheme)) item.remove_prefix(kScheme.size());
    if (item.empty()) {
      fail(key, "expected etcd://host:port[,host:port...], got " + quoted(text));
    }
    const Endpoint endpoint = parse_endpoint(key, std::string(item));
    if (endpoint.port == 0) fail(key, "etcd port 0 in " + quoted(text));
    endpoints.push_back(endpoint);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return endpoints;
}

Duration parse_duration(const std::string& key, const std::string& text) {
  if (is_negative_number(text)) fail(key, "must not be negative, got " + quoted(text));
  const auto number = split_number(text);
  const int64_t unit = number ? millis_per_unit(number->suffix) : 0;
  if (unit == 0) fail(key, "expected a duration such as 250ms, 10s, 5m or 1h, got " + quoted(text));
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<Duration::rep>::max());
  if (number->overflow || number->value > kMax / static_cast<uint64_t>(unit)) {
    fail(key, "duration " + quoted(text) + " is too large");
  }
  return Duration(static_cast<Duration::rep>(number->value) * unit);
}

uint64_t parse_size(const std::string& key, const std::string& text) {
  if (is_negative_number(text)) fail(key, "must not be negative, got " + quoted(text));
  const auto number = split_number(text);
  const uint64_t unit = number ? bytes_per_unit(number->suffix) : 0;
  if (unit == 0) fail(key, "expected a size such as 32k, 1m, 4g or 1024, got " + quoted(text));
  if (number->overflow || number->value > std::numeric_limits<uint64_t>::max() / unit) {
    fail(key, "size " + quoted(text) + " is too large");
  }
  return number->value * unit;
}

HashKey parse_hash_key(const std::string& key, const std::string& text) {
  const std::string_view view = text;
  const std::string expected =
      "expected header:NAME, cookie:NAME, query:NAME or path, got " + quoted(text);
  HashKey out;
  if (view == "path") {
    out.source = HashKey::Source::kPath;
    return out;
  }
  const size_t colon = view.find(':');
  if (colon == std::string_view::npos) fail(key, expected);
  const std::string_view source = view.substr(0, colon);
  const std::string_view name = view.substr(colon + 1);
  if (source == "header") {
    out.source = HashKey::Source::kHeader;
  } else if (source == "cookie") {
    out.source = HashKey::Source::kCookie;
  } else if (source == "query") {
    out.source = HashKey::Source::kQuery;
  } else {
    fail(key, expected);
  }
  // Header and cookie names are tokens (RFC 9110 5.1, RFC 6265 4.1.1); a query parameter name
  // is matched as written, so it only must not contain what separates parameters.
  const bool valid =
      !name.empty() &&
      (out.source == HashKey::Source::kQuery
           ? name.find_first_of("&=#? ") == std::string_view::npos
           : std::all_of(name.begin(), name.end(), [](char c) { return http::is_token_char(c); }));
  if (!valid) fail(key, "invalid name in " + quoted(text));
  out.name = std::string(name);
  return out;
}

Config parse_yaml(const std::string& text) {
  return parse_document(text, "config");
}

Config load_file(const std::string& path) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                             &std::fclose);
  if (!file) fail_read(path, errno);
  std::string text;
  std::array<char, 64 * 1024> buffer{};
  size_t got = 0;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) {
    text.append(buffer.data(), got);
  }
  if (std::ferror(file.get()) != 0) fail_read(path, errno);  // EISDIR: fopen takes a directory
  return parse_document(text, path);
}

void add_default_route(Config& config) {
  if (!config.routes.empty() || config.services.size() != 1) return;
  RouteConfig route;
  route.path_prefix = "/";
  route.service = config.services.front().name;
  config.routes.push_back(std::move(route));
}

void validate_registry(const RegistryConfig& registry) {
  if (registry.data_dir.empty()) fail("registry.data_dir", "must not be empty");
  if (registry.store != "sqlite" && registry.etcd.empty()) {
    fail("registry.store",
         "expected sqlite or etcd://host:port[,host:port...], got " + quoted(registry.store));
  }
  const std::string_view prefix = registry.etcd_prefix;
  if (prefix.size() < 2 || prefix.size() > 128 || !prefix.starts_with('/') ||
      !prefix.ends_with('/') ||
      std::any_of(prefix.begin(), prefix.end(), [](char c) { return c <= 0x20 || c >= 0x7f; })) {
    fail("registry.etcd_prefix",
         "expected 2-128 printable characters starting and ending with '/', got " +
             quoted(registry.etcd_prefix));
  }
  if (registry.etcd_timeout < std::chrono::milliseconds(100) ||
      registry.etcd_timeout > std::chrono::minutes(1)) {
    fail("registry.etcd_timeout",
         format_duration(registry.etcd_timeout) + " is out of range 100ms-1m");
  }
  if (registry.deregister_after < std::chrono::seconds(1) ||
      registry.deregister_after > std::chrono::hours(24)) {
    fail("registry.deregister_after",
         format_duration(registry.deregister_after) + " is out of range 1s-24h");
  }
}
void check_log_level(const std::string& key, const std::string& level) {
  check_one_of(key, level, kLogLevels, "log level");
}

void check_log_format(const std::string& key, const std::string& format) {
  check_one_of(key, format, kLogFormats, "log format");
}

void check_admin_token(const std::string& key, const std::string& token) {
  if (token.size() < 16 || token.find_first_of(" \t\r\n") != std::string::npos) {
    fail(key, "must be at least 16 characters with no spaces");
  }
}

void validate(const Config& config) {
  if (config.listen.host.empty()) fail("listen", "host must not be empty");
  validate_registry(config.registry);
  check_range("threads", config.threads, kThreadsRange);
  check_log_level("log_level", config.log_level);
  check_log_format("log.format", config.log_format);
  check_one_of("accept_balance", config.accept_balance, kAcceptBalances, "accept balance");
  validate_services(config.services);
  validate_routes(config.routes, config.services);
  validate_trusted_proxies(config.trusted_proxies);
  validate_timeouts(config.timeouts);
  validate_limits(config.limits);
  validate_access_log(config.access_log);
  validate_endpoints(config.endpoints);
  validate_admin(config.admin);
  if (!config.registry.etcd.empty() && !config.admin.enabled) {
    // The registry (and with it the etcd watch) lives on the admin listener's thread.
    fail("registry.store", "etcd cluster mode needs the admin listener (admin is off)");
  }
}

}  // namespace sb::config
