// Parsing of the client commands' flag values (--route, --meta, -H, --admin, durations), each
// failing with a UsageError that names the flag, so the CLI prints one line and exits 2.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchboard/client.hpp"

namespace sb::cli {

// Bad usage: the command line is wrong, not the server (exit status 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "--route [host]/prefix": "/api" routes /api on any host, "shop.example/api" only on that host.
switchboard::RouteSpec parse_route_flag(std::string_view text);
// "--meta key=value"; the value may contain '=' and be empty, the key may not.
std::pair<std::string, std::string> parse_meta_flag(std::string_view text);
// "-H 'Name: value'", as curl takes it.
std::pair<std::string, std::string> parse_header_flag(std::string_view text);
// "--admin host:port[,host:port...]", in failover order.
std::vector<std::string> parse_admin_flag(std::string_view text);
// A duration in the registry's grammar ("500ms", "10s", "5m", "1h").
std::chrono::milliseconds parse_duration_flag(std::string_view flag, std::string_view text);
// "--ttl": a duration, or "none" for an instance that never expires.
std::optional<std::chrono::milliseconds> parse_ttl_flag(std::string_view text);

}  // namespace sb::cli
