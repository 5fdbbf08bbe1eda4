// Parsing of the runner's flag values that CLI11 takes as strings: host:port and durations.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace runner {

// A bad flag value; main() prints "runner: <flag>: <reason>" and exits with status 2.
class FlagError : public std::runtime_error {
 public:
  FlagError(const std::string& flag, const std::string& reason)
      : std::runtime_error(flag + ": " + reason) {}
};

struct Endpoint {
  std::string host;  // without brackets for IPv6
  uint16_t port = 0;
};

// "host:port" or "[v6]:port"; port 0 only when `allow_zero`.
Endpoint parse_endpoint(const std::string& flag, const std::string& text, bool allow_zero);

// "10s", "500ms", "2m", or a bare number of seconds; must be positive.
std::chrono::milliseconds parse_duration(const std::string& flag, const std::string& text);

}  // namespace runner
