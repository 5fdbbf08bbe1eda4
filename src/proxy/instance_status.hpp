// What the status views say about each instance of each service — its state word (passing,
// critical, draining, ejected, down), weight, requests, responses by class, errors, bytes,
// requests in flight, upstream connections, ejections and latency quantiles — and about each
// service (requests, the proxy's own answers) computed once here so /lb-status, the dashboard's
// JSON and /metrics cannot disagree (DESIGN.md: stats of a component declared in one list).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/deadline.hpp"
#include "metrics/latency_histogram.hpp"
#include "proxy/snapshot.hpp"

namespace sb::proxy {

// The state words, in the order /metrics lists them.
inline constexpr std::array<std::string_view, 5> kInstanceStates{"passing", "critical", "draining",
                                                                 "ejected", "down"};

struct InstanceStatus {
  const Member* member = nullptr;  // address, id, weight, routed; points into the snapshot
  // The registry's word first (critical, draining), then the proxy's health rules (ejected,
  // down: passive health, an active check, or a registered address that did not resolve).
  std::string_view state;
  bool passive_down = false;
  bool check_down = false;
  bool ejected = false;
  uint32_t ejection_multiplier = 0;  // of the next ejection's length (outlier detection)
  uint64_t ejections = 0;            // every ejection since start
  // The figures, summed over the workers; all zero when member->instance is null.
  uint64_t requests = 0;
  uint64_t failures = 0;
  uint64_t retries = 0;  // of `requests`: attempts that retried a request failed elsewhere
  std::array<uint64_t, 5> responses{};  // 1xx..5xx
  uint64_t sent_bytes = 0;              // to the instance
  uint64_t received_bytes = 0;          // from it
  uint64_t active = 0;                  // requests and tunnels in flight, every service
  uint64_t connections_open = 0;        // upstream connections: in use and idle
  uint64_t connections_idle = 0;        // of those, idle in the keep-alive pools
  metrics::LatencyTotals upstream_latency;
  metrics::LatencyTotals request_latency;

  bool has_figures() const { return member->instance != nullptr; }
  // No health rule has it out (passive health, active checks, outlier ejection).
  bool healthy() const { return !passive_down && !check_down && !ejected; }
  uint64_t errors() const { return responses[4] + failures; }  // 5xx answers and failed attempts
  // Errors per attempt since start; none before the first attempt.
  std::optional<double> error_rate() const;
  // The upstream response-head latency at quantile q (0-1), in ms, as coarse as the histogram's
  // buckets; none without samples.
  std::optional<double> latency_ms(double q) const;
};

struct ServiceStatus {
  const Service* service = nullptr;  // points into the snapshot
  bool panic = false;
  uint64_t requests = 0;                      // routed to the service
  std::array<uint64_t, 5> local_responses{};  // of those, answered by the proxy, 1xx..5xx
  std::vector<InstanceStatus> instances;      // one per member, in member order
};

// Any thread. The result points into `snapshot`, which must outlive it.
std::vector<ServiceStatus> collect_status(const Snapshot& snapshot, CoarseClock::time_point now);

// One service as /lb-status and the dashboard show it: name, balance, panic, requests,
// local_responses by class (max_conns and queued with max_conns), and per instance address, id
// (null for a static one), state, routed, weight, requests, retries, failures, errors,
// error_rate, responses by class, sent_bytes, received_bytes, active, connections (open, idle),
// p50_ms, p99_ms (null without samples), and where the service has them check, ejected,
// ejections and ejection_multiplier. Counters are null (active and connections left out) for a
// registered address that did not resolve.
nlohmann::json to_json(const ServiceStatus& status);

}  // namespace sb::proxy
