// The registry's HTTP API (issue 3, "Registry API") as a pure request handler: a request's method,
// path, query and body in, a status and a JSON body out. No sockets, threads or blocking: a
// blocking query (?index=N&wait=30s) is answered with a BlockingWait that tells the caller (the
// admin listener) what to wait for; the caller parks the request and calls the handler again.
//
// Routes (JSON bodies; bad input is 400 {"error": message, "field": field}):
//   PUT    /v1/services/{service}/instances/{id}            register or update: 201 / 200
//   DELETE /v1/services/{service}/instances/{id}            deregister: 200 / 404
//   PUT    /v1/services/{service}/instances/{id}/heartbeat  200 / 404 (the client re-registers)
//   POST   /v1/services/{service}/instances/{id}/drain      200 / 404
//   POST   /v1/services/{service}/instances/{id}/undrain    200 / 404
//   GET    /v1/services                                     every service, passing/total
//   GET    /v1/services/{service}                           its instances; 404 if it has none
// A wrong method on one of these paths is 405 (with the allowed methods), any other path 404.
// Path segments are percent-decoded after splitting, so an id may contain "/" as %2F; decoded
// service names and ids are validated as parse_registration does.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "registry/clock.hpp"
#include "registry/registry.hpp"

namespace sb::registry {

// Consul's: a blocking query without ?wait waits 5 minutes; a longer ?wait is cut to 10.
inline constexpr std::chrono::milliseconds kDefaultBlockingWait = std::chrono::minutes(5);
inline constexpr std::chrono::milliseconds kMaxBlockingWait = std::chrono::minutes(10);

struct ApiRequest {
  std::string_view method;  // "GET", "PUT", ... (case-sensitive, as HTTP methods are)
  std::string_view path;    // "/v1/services/web", without the query
  std::string_view query;   // "index=12&wait=30s", without the '?' (a leading '?' is tolerated)
  std::string_view body;
};

// "Not yet": the blocking query's index has not moved. The caller parks the request until the
// index of `service` (the global index if `service` is empty, for GET /v1/services) differs from
// `after_index`, or until `wait` has passed, whichever is first. Consul adds a random jitter of up
// to wait/16 to the deadline so that parked clients do not all come back at once; that is the
// caller's job (it owns the timers), not the handler's.
struct BlockingWait {
  std::string service;
  uint64_t after_index = 0;
  std::chrono::milliseconds wait{0};  // already clamped to kMaxBlockingWait, never 0

  bool operator==(const BlockingWait&) const = default;
};

// Cluster mode: a write the handler validated but did not carry out, since the shared store
// answers asynchronously. The caller (the admin listener) has it done (registry/etcd_registry.hpp)
// and renders the answer with RegistryApi::complete().
struct RegistryWrite {
  enum class Op { kUpsert, kHeartbeat, kDrain, kUndrain, kDeregister };
  Op op = Op::kUpsert;
  std::string service;
  std::string id;
  InstanceRecord record;  // kUpsert only

  bool operator==(const RegistryWrite&) const = default;
};

// What a deferred write came to: a Result, or (non-empty `unavailable`) the reason the shared
// store could not take it, answered 503 so the client retries (here or on another node).
struct WriteOutcome {
  Result result = Result::kOk;
  std::string unavailable;
};

// Whether the handler writes through the Registry itself (the embedded store) or hands writes to
// the caller as a RegistryWrite (a shared store).
enum class WriteMode { kDirect, kDeferred };

struct ApiResponse {
  int status = 0;    // 0 (and an empty body) exactly when `wait` or `write` is set
  std::string body;  // JSON
  // For an X-Switchboard-Index header: the service's index on per-service routes (also on their
  // 404s, so a client can block until an unknown service appears), the global index on
  // GET /v1/services, 0 on 400/404-path/405/500.
  uint64_t index = 0;
  std::optional<BlockingWait> wait;
  std::optional<RegistryWrite> write;  // WriteMode::kDeferred: carry it out, then complete()
  std::string allow;                   // for 405: the Allow header's value, e.g. "PUT, DELETE"
  std::string content_type;            // empty: JSON
  bool ask_for_token = false;          // a 401: add WWW-Authenticate: Bearer
};

// Whether a blocking query may be parked (kMayWait) or must be answered now (kAnswerNow, for the
// call at the wait's deadline).
enum class WaitMode { kMayWait, kAnswerNow };

// Runs on the registry's thread, like the Registry it serves.
//
// Blocking queries, as the caller drives them: handle(request) returns a response with `wait`
// set; on each change of the watched index the caller calls handle(request) again (a new `wait`
// means "still not": stay parked, keeping the original deadline), and at the deadline it calls
// handle(request, WaitMode::kAnswerNow), which always answers.
//
// Choices made here:
//   - ?index=N blocks only while the watched index equals N. An index below N means the client
//     saw another incarnation of the registry (indexes restart with the process), so it is
//     answered at once with the current, lower index and the client starts over from that (Consul
//     clients reset on an index going backwards; answering at once spares them a full wait).
//   - ?index=0 blocks too (until the first change); a query without ?index never blocks. ?wait
//     without ?index is validated and ignored. ?wait=0s answers at once.
//   - A blocking query on an unknown service waits for it to appear (its index is 0, or the index
//     of its last deregistration); answered without waiting, an unknown service is 404.
//   - Query parameters other than index and wait are ignored; index and wait are read on the GET
//     routes only.
//   - Registry exceptions (a failing Store) become 500 {"error": ...}; the registry is unchanged.
class RegistryApi {
 public:
  // `clock` must be the registry's, for last_heartbeat_ms_ago.
  RegistryApi(Registry& registry, const Clock& clock, WriteMode writes = WriteMode::kDirect);

  ApiResponse handle(const ApiRequest& request, WaitMode mode = WaitMode::kMayWait);

  // WriteMode::kDeferred: the answer to `write` once it was carried out: as handle() would have
  // answered (201/200 with the instance, 404 naming the id), or 503 {"error": "registry
  // unavailable: <reason>"} when the shared store could not take it.
  ApiResponse complete(const RegistryWrite& write, const WriteOutcome& outcome);

 private:
  Registry& registry_;
  const Clock& clock_;
  WriteMode writes_;
};

// Decodes %XX escapes (either hex case); '+' stays '+'. std::nullopt for a '%' not followed by
// two hex digits.
std::optional<std::string> percent_decode(std::string_view text);

// The shortest of "1h", "10m", "30s", "1500ms" that parse_ttl reads back as the same duration.
std::string format_duration(std::chrono::milliseconds duration);

}  // namespace sb::registry
