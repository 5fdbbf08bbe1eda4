// One client connection, for its whole life, on one worker: reads requests (pipelined ones in
// order), answers the built-in endpoints, routes and forwards the rest to an upstream instance,
// streams bodies both ways through fixed buffers, and turns into a WebSocket tunnel after a 101.
// Its definitions are split by concept: session.cpp (the client side: requests, local answers,
// the access log), session_upstream.cpp (picking, connecting, sending, retries, passive health),
// session_response.cpp (relaying the response) and session_tunnel.cpp (the WebSocket tunnel).
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/buffer_pool.hpp"
#include "core/deadline.hpp"
#include "core/ip_address.hpp"
#include "health/outlier.hpp"
#include "http/message_parser.hpp"
#include "loop/socket.hpp"
#include "loop/task.hpp"
#include "proxy/access_log.hpp"
#include "proxy/request_state.hpp"
#include "proxy/retry_budget.hpp"
#include "proxy/snapshot.hpp"

namespace sb::proxy {

class Worker;

class Session {
 public:
  // The connection's coroutine: owns the session for as long as the connection lives.
  static loop::Task<void> serve(Worker& worker, loop::Socket client);

  Session(Worker& worker, loop::Socket client);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

 private:
  enum class Phase { kIdle, kReading, kWriting, kTunnel };
  enum class Next { kKeepGoing, kClose };
  // How one attempt at an upstream exchange ended: answered (the client connection kept or
  // closed), or to be sent again — on a fresh connection to the same instance (the pooled one
  // was stale) or to another instance (the retry policy allowed it).
  enum class Attempt { kDone, kClose, kRetryOnFreshConnection, kRetryElsewhere };

  loop::Task<void> run();
  loop::Task<bool> wait_for_request();
  loop::Task<bool> read_request_head();
  loop::Task<Next> handle_request();
  // Sends the request to the service with `target` as its request-target and `host`, when not
  // empty, as its Host (an absolute-form target's authority).
  loop::Task<Next> proxy(size_t service_index, std::string_view target, std::string_view host);
  // What ip_hash or hash hashes for the request in flight (nullopt: the request lacks the key):
  // `client`, the address forwarded_client attributed it to, or the service's request key.
  std::optional<uint64_t> pick_key(const Service& service, std::string_view target,
                                   const IpAddress& client) const;
  loop::Task<Attempt> exchange(bool reused);
  // `request_whole`: the upstream got the whole request; without it, the connection never serves
  // again whatever the answer says.
  loop::Task<Attempt> relay_response(bool resendable, bool request_whole);
  // An attempt failed before any byte of its answer reached the client. `outcome` is a
  // HealthConfig::kFailOn* bit, `reached` whether the request may have reached the upstream.
  // Returns kRetryElsewhere when the service's retry policy and budget allow another try, else
  // answers `status` with `detail` itself.
  loop::Task<Attempt> fail_attempt(uint32_t outcome, bool reached, int status,
                                   std::string_view detail, bool close);
  // A connection to instance_ failed (refused, or timed out): counted against the instance, and
  // tried elsewhere when the policy allows. The request reached no upstream, so even a POST may
  // go to the next instance (nginx's proxy_next_upstream error timeout).
  loop::Task<Attempt> fail_connect(std::string_view detail);
  bool may_retry(uint32_t outcome, bool reached);
  // The pick of a service with max_conns: an instance with a free place, which `active` then
  // holds; when every instance is full, waits in the service's queue. kNoInstance with
  // queue_refusal_ set when the queue is full or the wait timed out.
  loop::Task<size_t> pick_below_max_conns(const Service& service, balance::PickContext& context,
                                          upstream::ActiveRequest& active);
  // `timeout`, shortened to what is left of the attempt's try_timeout (when one is set).
  std::chrono::milliseconds try_limit(std::chrono::milliseconds timeout) const;
  loop::Task<void> tunnel();
  // Passive health of the instance in flight: an attempt failed (connect, reset, garbage,
  // timeout), or a final response head arrived (a failure too if its status is in fail_on).
  void note_failure(bool timed_out);
  void note_response(int status);
  // Outlier detection of the instance in flight (services with `outlier:`): counts the outcome
  // and ejects the instance when a rule trips and the service's ejection cap allows.
  void note_outlier(health::Outcome outcome);
  loop::Task<Next> respond_local(int status, std::string_view content_type, std::string_view body,
                                 bool close);
  loop::Task<Next> reject(int status, std::string_view detail, bool close);
  // How a connection attempt ended. kNoSocket: this process is out of descriptors (or memory)
  // for a socket, which is no instance's fault.
  enum class Connect { kConnected, kFailed, kNoSocket };
  loop::Task<Connect> connect_upstream(upstream::Instance& instance);
  // The answer when no socket could be made for the upstream: a 500, as nginx's, with no
  // instance counted as failed (health would otherwise take healthy instances out).
  loop::Task<Next> answer_no_socket();
  void close_upstream();
  void set_phase(Phase phase);
  void finish_log(int status);
  // A response the proxy made itself, for /metrics (the worker's and the service's counters).
  void count_local_response(int status);
  static void on_deadline(void* self);
  // Now, when the access log needs timings; otherwise no clock read.
  std::chrono::steady_clock::time_point log_clock() const;
  // Latency figures and access-log timings need sub-millisecond precision, which the coarse clock
  // of the deadlines (a few ms) lacks: they read the loop's time of the turn (one clock read per
  // turn, however many requests it moves; a request's events are dated to within a turn).
  static int64_t micros_between(std::chrono::steady_clock::time_point since,
                                std::chrono::steady_clock::time_point now) {
    return std::chrono::duration_cast<std::chrono::microseconds>(now - since).count();
  }

  Worker& worker_;
  loop::Socket client_;
  // A connection to instance_ (counted open in its counters until closed or given to the pool).
  std::optional<loop::Socket> upstream_;
  std::shared_ptr<const Snapshot> snapshot_;      // the snapshot of the request in flight
  std::shared_ptr<upstream::Instance> instance_;  // the instance of the request in flight
  Deadline deadline_;
  Phase phase_ = Phase::kIdle;
  bool first_request_ = true;

  // Client bytes: [begin_, end_) are received and not yet consumed; `parsed_` is where the parser
  // stopped. Pipelined requests wait in the buffer after the current one.
  BufferLease in_;
  std::array<char, 512> first_bytes_;  // where an idle connection's next request starts
  size_t begin_ = 0;
  size_t parsed_ = 0;
  size_t end_ = 0;
  size_t body_begin_ = 0;  // where the request body starts in the buffer
  BufferLease out_;        // upstream bytes

  std::unique_ptr<RequestState> state_;  // borrowed from the worker while a request is in flight

  // Facts about the request in flight that outlive its head (the head is overwritten by the body).
  bool head_request_ = false;
  bool client_keep_alive_ = false;
  bool client_http10_ = false;
  bool upgrade_ = false;
  bool continue_sent_ = false;
  bool response_started_ = false;  // a byte of the final response reached the client
  bool logged_ = false;
  std::chrono::steady_clock::time_point started_;  // for the access log
  std::array<char, 48> client_ip_{};
  size_t client_ip_length_ = 0;
  IpAddress peer_address_;  // the client's address in binary, for ip_hash
  // The client a trusted proxy in front reported, as text (proxy/forwarded_client.hpp).
  std::array<char, IpAddress::kTextSize> real_ip_{};
  // What the service of the request in flight has the session do for its balancer.
  balance::Needs needs_;
  std::chrono::steady_clock::time_point upstream_sent_;  // for the EWMA latency (needs_.latency)
  // The passive-health policy of the request's service (its snapshot keeps it alive).
  const config::HealthConfig* health_ = nullptr;
  // Retries of the request in flight: its service, the instances it may not try (again), the
  // attempts so far, and what rules a retry out.
  const Service* service_ = nullptr;
  std::span<bool> excluded_;
  BudgetedRequest* budgeted_ = nullptr;
  uint32_t tries_ = 0;
  CoarseClock::time_point try_ends_;  // try_timeout of the attempt in flight
  bool idempotent_ = true;
  bool body_streamed_ = false;      // part of the body left the buffer: it cannot be sent again
  bool interim_relayed_ = false;    // the client saw a 1xx of this attempt
  std::string_view queue_refusal_;  // why the max_conns queue turned the request away
  int no_socket_error_ = 0;         // errno of the socket() that failed (Connect::kNoSocket)
};

}  // namespace sb::proxy
