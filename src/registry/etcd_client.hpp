// A client of etcd's v3 API through its JSON gateway (etcd 3.4 serves it under /v3/ on the client
// port): unary calls and lease keep-alives as HTTP/1.1 POSTs over keep-alive connections, and
// watches as long-lived POSTs whose chunked answer streams one JSON object per line. Runs on the
// registry thread's event loop (Boost.Beast, C++20 coroutines).
//
// Why the gateway and not gRPC: everything the registry needs (range, txn, lease grant, keep-alive,
// revoke, watch) is there; it costs no new dependency (Beast and nlohmann-json are already linked,
// where libgrpc++ would add gRPC, protobuf, code generation from etcd's .proto files and a second
// event loop with its own threads beside Asio's); and the traffic is small control-plane messages,
// where HTTP/1.1 + JSON costs well under a millisecond per call on loopback (BENCHMARKS.md). What
// the gateway lacks is multiplexing, so each call in flight takes a connection of its own, and a
// keep-alive stream of its own per batch: heartbeats are batched instead (etcd_registry.cpp).
//
// A watch that stalls: every request carries clientv3's WithRequireLeader, so a member cut off
// from the quorum ends its watches (etcd_client.cpp, post()). A member that hangs outright is not
// detected on the watch. clientv3 would send a progress request on the watch stream and expect an
// answer, but through the 3.4 gateway a stream's requests are the POST body, and its Go HTTP/1.1
// server sends no response head while that body is still open (tried: a watch whose body stays
// open for later requests is never answered); etcd's own periodic progress notifications
// (progress_notify) come every 10 minutes unless the server is started with another interval,
// which a node cannot know, so they cannot bound a stall either.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/io.hpp"

namespace sb::registry::etcd {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
using SteadyTimer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;

struct Member {
  std::string host;  // numeric address or a name (resolved at each connect)
  uint16_t port = 0;

  std::string name() const { return host + ":" + std::to_string(port); }
};

// No member took the request in time: every one refused, reset, timed out or answered that it
// cannot serve now (no leader, gRPC Unavailable). The registry API answers 503 with what() as the
// reason.
class Unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// etcd answered and refused the request, with a gRPC status code: 11 (OutOfRange) is "mvcc:
// required revision has been compacted", 5 (NotFound) "requested lease not found".
class EtcdError : public std::runtime_error {
 public:
  EtcdError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

  static constexpr int kNotFound = 5;
  static constexpr int kOutOfRange = 11;

 private:
  int code_;
};

// The gateway's JSON, decoded: int64 fields come as strings, bytes as base64, and fields at their
// default (0, false, PUT, empty) are left out.
struct ResponseHeader {
  uint64_t cluster_id = 0;
  int64_t revision = 0;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct Event {
  bool deleted = false;  // DELETE (also a lease expiry); else PUT
  KeyValue kv;
};

struct WatchMessage {
  ResponseHeader header;
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;  // set on a cancel: the start revision was compacted away
  std::string cancel_reason;
  std::vector<Event> events;
};

// Each throws std::runtime_error on JSON that is not what etcd sends.
int64_t json_int(const Json& object, std::string_view name);  // absent: 0
ResponseHeader decode_header(const Json& response);
KeyValue decode_kv(const Json& kv);
// One line of a watch stream: {"result": {...}}, or {"error": {...}} (thrown as EtcdError).
WatchMessage decode_watch_message(const Json& line);
// A gateway error body {"error": ..., "message": ..., "code": N} as an EtcdError.
EtcdError decode_error(const Json& body, int http_status);

// Runs on one event loop (the registry thread): no member is thread-safe.
class Client {
 public:
  Client(asio::io_context& context, std::vector<Member> members,
         std::chrono::milliseconds attempt_timeout);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // POSTs `body` to `path` ("/v3/kv/txn") and returns the 200 answer's body. Starts with the
  // member that answered last and moves to the next on a transport failure or an Unavailable
  // answer. One attempt waits at most `attempt_timeout`: a follower that lost its leader holds a
  // request until etcd's own request timeout (several seconds) and then drops it, so waiting on
  // it would spend the whole deadline on one member during an election. After a round where some
  // member said Unavailable or did not answer in time, it tries again every 50 ms until
  // `deadline`. A round where every member refused or reset fails at once: waiting would not
  // help, and the API should say so now. Throws Unavailable (with every member's failure) or
  // EtcdError. Requests sent again must be safe to repeat: the registry's writes are
  // compare-and-swap transactions, keep-alives and reads.
  Task<std::string> call(std::string_view path, const std::string& body, Deadline deadline);
  // call() with its answer parsed as one JSON object.
  Task<Json> call_json(std::string_view path, const Json& body, Deadline deadline);

  class Watch;
  // POST /v3/watch with `create_request` ({"create_request": {...}}); returns once a member
  // answered with the stream's response head. Throws as call().
  Task<std::unique_ptr<Watch>> watch(const Json& create_request, Deadline deadline);

  // Closes every connection and watch; calls in flight and later ones fail with Unavailable.
  void close();
  const std::vector<Member>& members() const { return members_; }
  // The member that answered last (where the next call starts).
  const Member& current() const { return members_[current_]; }

 private:
  struct Connection;
  struct Attempt;
  Task<std::unique_ptr<Connection>> connect(size_t member, Deadline deadline, std::string& error);
  Task<Attempt> attempt(size_t member, std::string_view path, const std::string& body,
                        Deadline deadline);

  asio::io_context& context_;
  std::vector<Member> members_;
  std::chrono::milliseconds attempt_timeout_;
  size_t current_ = 0;
  bool closed_ = false;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::unordered_set<Connection*> busy_;
  std::unordered_set<Watch*> watches_;
};

// One watch stream. Owned by whoever reads it; close() (or the Client's) ends a next() in
// progress with Unavailable.
class Client::Watch {
 public:
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  // The next message of the stream. Throws Unavailable when the stream breaks or ends, or etcd
  // ends it with a retryable error (the member has no leader, or is stopping); EtcdError for any
  // other error line.
  Task<WatchMessage> next();
  void close();
  const Member& member() const { return member_; }

 private:
  friend class Client;
  struct State;
  Watch(Client& client, std::unique_ptr<State> state, Member member);

  Client* client_;
  std::unique_ptr<State> state_;
  Member member_;
};

}  // namespace sb::registry::etcd
