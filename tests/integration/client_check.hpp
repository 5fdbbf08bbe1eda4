// What the client-library check programs (client_lifecycle_check, client_failover_check) share:
// failing with one line, reporting a passed check, polling with a deadline, and reading one
// instance's record through the admin API.
#pragma once

#include <switchboard/client.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <thread>

namespace client_check {

using Clock = std::chrono::steady_clock;

[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "FAIL %s\n", what.c_str());
  std::exit(1);
}

inline void ok(const std::string& what) {
  std::printf("ok %s\n", what.c_str());
  std::fflush(stdout);
}

// Polls `condition` every 20 ms until it holds; fails the check at `timeout`.
inline void wait_for(const std::string& what, std::chrono::milliseconds timeout,
                     const std::function<bool()>& condition) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() > deadline) fail("timed out waiting for " + what);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

inline std::optional<switchboard::InstanceInfo> find(switchboard::AdminClient& admin,
                                                     const std::string& service,
                                                     const std::string& id) {
  for (auto& info : admin.instances(service).instances) {
    if (info.id == id) return info;
  }
  return std::nullopt;
}

// The instance's state word, or "absent".
inline std::string state_of(switchboard::AdminClient& admin, const std::string& service,
                            const std::string& id) {
  const auto info = find(admin, service, id);
  return info ? info->state : "absent";
}

}  // namespace client_check
