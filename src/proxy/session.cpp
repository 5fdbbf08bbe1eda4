#include "proxy/session.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "balance/ewma.hpp"
#include "core/clock.hpp"
#include "core/log_event.hpp"
#include "health/eligibility.hpp"
#include "http/error_response.hpp"
#include "http/header_rewrite.hpp"
#include "http/http_date.hpp"
#include "http/request_target.hpp"
#include "loop/stream.hpp"
#include "proxy/balance_key.hpp"
#include "proxy/lb_status.hpp"
#include "proxy/server.hpp"
#include "proxy/worker.hpp"

namespace sb::proxy {

namespace asio = boost::asio;
using loop::ErrorCode;
using loop::read_some;
using loop::write_all;

namespace {

// Slow start weighs in hundredths of a weight, so 10 % of weight 1 is still a weight.
constexpr uint32_t kSlowStartScale = 100;

constexpr std::string_view k100Continue = "HTTP/1.1 100 Continue\r\n\r\n";
// Lingering close: after an error response, read (and drop) what the client still sends for a
// while, so the kernel does not answer unread bytes with a reset that destroys our response.
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr size_t kLingerBytes = 256 * 1024;

// A response body with at most this much left to come is on its way at once (the backend knows
// its length and has it at hand): what is relayed of it before the end is written with MSG_MORE.
constexpr uint64_t kHoldBackLimit = 32 * 1024;

// Whether the rest of `response` follows so soon that a write of what came so far should wait
// for it in the kernel: a backend that writes its head and then its body (nginx with sendfile)
// would otherwise have the client woken twice for one short response, two segments where one
// does (nginx holds back output under postpone_output, 1460 bytes, for the same reason; measured:
// 7.2 segments per proxied 1 KiB request without, 6.0 with, nginx 6.1). Only a Content-Length
// body that is nearly there: a chunked or close-delimited stream may pause, and its bytes must
// not wait on the next ones. Should the rest be late after all, Linux sends what it holds after
// 200 ms.
bool more_follows_at_once(const http::MessageParser& response) {
  if (response.message_complete() || response.chunked() || !response.has_content_length()) {
    return false;
  }
  return response.content_length() - response.body_bytes() <= kHoldBackLimit;
}

// Latency figures and access-log timings need sub-millisecond precision, which the coarse clock
// of the deadlines (a few ms) lacks: they read the loop's time of the turn (one clock read per
// turn, however many requests it moves; a request's events are dated to within a turn).
using LogClock = std::chrono::steady_clock;

int64_t micros_between(LogClock::time_point since, LogClock::time_point now) {
  return std::chrono::duration_cast<std::chrono::microseconds>(now - since).count();
}

std::string_view find_header(const http::MessageParser& m, std::string_view name) {
  for (uint32_t i = 0; i < m.header_count(); ++i) {
    if (http::iequals(m.header_name(i), name)) return m.header_value(i);
  }
  return {};
}

bool contains_nocase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (http::iequals(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

// RFC 9110 9.2.2: sending these twice has the effect of sending them once.
bool is_idempotent(llhttp_method_t method) {
  switch (method) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_PUT:
    case HTTP_DELETE:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
      return true;
    default:
      return false;
  }
}

// What round_robin and least_conn weigh the service's instances by for this pick: each one's
// weight, ramped for those that joined or came back less than slow_start ago.
std::span<const uint32_t> slow_start_weights(const Service& service, std::span<uint32_t> out,
                                             CoarseClock::time_point now) {
  const CoarseClock::rep window = CoarseClock::duration(service.slow_start).count();
  for (size_t i = 0; i < out.size(); ++i) {
    const upstream::Instance& instance = *service.instances[i];
    out[i] = instance.weight() * kSlowStartScale;
    const CoarseClock::rep start = instance.ramp_start();
    const CoarseClock::rep elapsed = now.time_since_epoch().count() - start;
    if (start == 0 || elapsed >= window) continue;
    // Linear from 10 % to 100 % (Envoy's slow start with aggression 1 and min_weight_percent 10).
    const int64_t percent = std::max<int64_t>(10, elapsed < 0 ? 0 : elapsed * 100 / window);
    out[i] = static_cast<uint32_t>(instance.weight() * kSlowStartScale * percent / 100);
  }
  return out;
}

// One direction of a WebSocket tunnel: bytes from `from` to `to` until either side ends, added
// to `bytes` and to the instance's `counted` as they pass.
loop::Task<void> pump(loop::Socket& from, loop::Socket& to, char* buffer, size_t size,
                      Deadline& deadline, std::chrono::milliseconds idle, uint64_t& bytes,
                      SingleWriterCounter& counted) {
  for (;;) {
    ErrorCode ec;
    const size_t n = co_await read_some(from, {buffer, size}, ec);
    if (n == 0) {
      if (ec) {
        from.close();
        to.close();
      } else {
        to.shutdown_send();  // pass the half-close on
      }
      co_return;
    }
    deadline.arm(idle);
    co_await write_all(to, std::string_view(buffer, n), ec);
    if (ec) {
      from.close();
      to.close();
      co_return;
    }
    bytes += n;
    counted.add(n);
  }
}

}  // namespace

loop::Task<void> Session::serve(Worker& worker, loop::Socket client) {
  Session session(worker, std::move(client));
  co_await session.run();
}

Session::Session(Worker& worker, loop::Socket client)
    : worker_(worker),
      client_(std::move(client)),
      deadline_(worker.deadlines(), &Session::on_deadline, this),
      in_(worker.client_buffers()),
      out_(worker.upstream_buffers()) {
  worker_.stats().active.add();
  if (const auto remote = client_.remote_endpoint()) {
    peer_address_ = IpAddress::from(remote->address());
    const std::string ip = remote->address().to_string();
    client_ip_length_ = std::min(ip.size(), client_ip_.size() - 1);
    std::memcpy(client_ip_.data(), ip.data(), client_ip_length_);
  }
}

Session::~Session() {
  set_phase(Phase::kIdle);
  worker_.stats().active.sub();
  if (upstream_) instance_->counters(worker_.index()).connections.sub();  // closes as it goes
}

std::chrono::steady_clock::time_point Session::log_clock() const {
  return worker_.access_log().enabled() ? worker_.loop().now() : LogClock::time_point{};
}

void Session::on_deadline(void* self) {
  auto* session = static_cast<Session*>(self);
  session->client_.cancel();
  if (session->upstream_) session->upstream_->cancel();
}

void Session::set_phase(Phase phase) {
  if (phase == phase_) return;
  WorkerStats& stats = worker_.stats();
  if (phase_ == Phase::kReading) stats.reading.sub();
  if (phase_ == Phase::kWriting || phase_ == Phase::kTunnel) stats.writing.sub();
  if (phase_ == Phase::kTunnel) stats.tunnels.sub();
  if (phase == Phase::kReading) stats.reading.add();
  if (phase == Phase::kWriting || phase == Phase::kTunnel) stats.writing.add();
  if (phase == Phase::kTunnel) stats.tunnels.add();
  phase_ = phase;
}

loop::Task<void> Session::run() {
  for (;;) {
    // (Results are named before testing them: g++ 12 miscompiles co_await inside conditions.)
    const bool request_coming = co_await wait_for_request();
    if (!request_coming) co_return;
    const bool head_read = co_await read_request_head();
    if (!head_read) co_return;
    const Next next = co_await handle_request();
    if (next == Next::kClose) co_return;
    begin_ = parsed_;  // the request is answered; what follows it in the buffer is the next one
    first_request_ = false;
  }
}

loop::Task<bool> Session::wait_for_request() {
  if (begin_ < end_) co_return !worker_.draining();  // a pipelined request is already here
  begin_ = parsed_ = end_ = 0;
  if (worker_.draining()) co_return false;
  // An idle connection holds no buffer: 10,000 idle clients cost no buffer memory.
  in_.release();
  out_.release();
  worker_.request_states().give(std::move(state_));
  snapshot_.reset();
  instance_.reset();
  service_ = nullptr;
  health_ = nullptr;
  set_phase(Phase::kIdle);
  const Snapshot& snapshot = worker_.snapshot();
  deadline_.set_idle(true);
  deadline_.arm(first_request_ ? snapshot.timeouts.client_header
                               : snapshot.timeouts.keepalive_idle);
  if (!first_request_) client_.use_file_slot();  // a keep-alive client: likely to stay
  // The first bytes land in a small buffer of the session's own, so an idle connection holds no
  // pooled buffer, and waiting is a plain read (no readiness wait before it).
  // After a response the client has had no time to send more (one that pipelines had its bytes
  // read with the last request: begin_ < end_ above).
  const int n = co_await client_.recv(first_bytes_, /*expect_empty=*/!first_request_);
  deadline_.set_idle(false);
  if (n <= 0) co_return false;
  std::memcpy(in_.get(), first_bytes_.data(), static_cast<size_t>(n));
  end_ = n;
  co_return true;
}

loop::Task<bool> Session::read_request_head() {
  set_phase(Phase::kReading);
  service_ = nullptr;  // the previous request's, when this one was pipelined behind it
  if (!state_) state_ = worker_.request_states().take();
  const Snapshot& snapshot = worker_.snapshot();
  const config::Limits& limits = snapshot.limits;
  deadline_.arm(snapshot.timeouts.client_header);
  started_ = worker_.loop().now();  // for the request-latency histogram (and the access log)
  char* buffer = in_.get();
  state_->request.begin(buffer + begin_, {limits.request_line, limits.header_block,
                                          limits.header_count, limits.body_size});
  parsed_ = begin_;
  head_request_ = false;
  for (;;) {
    if (parsed_ < end_) {
      const http::ParseStatus status = state_->request.feed(buffer + parsed_, end_ - parsed_);
      if (status == http::ParseStatus::kError) {
        co_await reject(state_->request.error_status(), state_->request.error_reason(), true);
        co_return false;
      }
      parsed_ += state_->request.consumed();
      if (status != http::ParseStatus::kNeedMore) co_return true;
    }
    if (end_ == in_.size()) {
      if (begin_ == 0) {
        co_await reject(431, "request header block too large", true);
        co_return false;
      }
      std::memmove(buffer, buffer + begin_, end_ - begin_);
      state_->request.rebase(buffer);
      parsed_ -= begin_;
      end_ -= begin_;
      begin_ = 0;
    }
    ErrorCode ec;
    const size_t n = co_await read_some(client_, {buffer + end_, in_.size() - end_}, ec);
    if (n == 0) {
      if (deadline_.expired() && end_ > begin_) co_await reject(408, "request head too slow", true);
      co_return false;
    }
    end_ += n;
  }
}

loop::Task<Session::Next> Session::handle_request() {
  // The request keeps its snapshot alive: a change published meanwhile does not pull services
  // and instances from under it.
  snapshot_ = worker_.snapshot_ptr();
  const Snapshot& snapshot = *snapshot_;
  worker_.stats().requests.add();
  set_phase(Phase::kWriting);

  const std::string_view target = state_->request.target();
  const std::string_view origin = http::origin_form(target);
  const llhttp_method_t method = state_->request.method();
  head_request_ = method == HTTP_HEAD;
  client_keep_alive_ = state_->request.keep_alive();
  client_http10_ = state_->request.version_minor() == 0;
  // Only a WebSocket handshake becomes a tunnel. Any other Upgrade (h2c above all) is dropped
  // as the hop-by-hop field it is: a tunnel to a server that speaks HTTP/2 behind it would carry
  // requests that no route chose ("h2c smuggling").
  upgrade_ = state_->request.upgrade() && method == HTTP_GET &&
             http::iequals(find_header(state_->request, "upgrade"), "websocket");
  continue_sent_ = false;
  response_started_ = false;
  instance_.reset();
  state_->log.attempts = 0;
  logged_ = false;
  if (worker_.access_log().enabled()) {
    state_->log = AccessRecord{};
    AccessRecord::copy(state_->log.client, std::string_view(client_ip_.data(), client_ip_length_));
    AccessRecord::copy(state_->log.method, state_->request.method_name());
    state_->log.set_path(origin);
    state_->log.bytes_in = state_->request.head_length();
  }

  const bool body_pending = !state_->request.message_complete();
  // Routing, the endpoints and the upstream all see the path in its normal form, so that no
  // spelling of a path ("/a/../admin", "/%61dmin") reaches a service its route did not choose.
  // The access log keeps the target as it came.
  std::string_view forward_target = origin;
  const std::string_view received_path = http::target_path(origin);
  const http::PathCheck check = http::normalize_path(received_path, state_->target);
  switch (check) {
    case http::PathCheck::kUnchanged:
      break;
    case http::PathCheck::kNormalized:
      state_->target.append(origin.substr(received_path.size()));
      forward_target = state_->target;
      break;
    case http::PathCheck::kMalformed:
    case http::PathCheck::kAmbiguous: {
      const Next answered = co_await reject(400, http::path_problem(check), true);
      co_return answered;
    }
  }
  std::string_view path = http::target_path(forward_target);
  if (path.empty()) path = "/";  // "http://h?q" has the path "/"
  // An absolute-form target names the host itself, in place of the Host field (RFC 9112 3.2.2):
  // the route is chosen by it, and it is the Host the upstream gets.
  const std::string_view host = state_->request.host();
  const std::string_view host_override = state_->request.host_from_target() ? host : "";
  const config::EndpointsConfig& endpoints = snapshot.endpoints;
  if ((method == HTTP_GET || method == HTTP_HEAD) && path == endpoints.health_path) {
    const bool stopping = worker_.server().shutting_down();
    const Next answered = co_await respond_local(
        stopping ? 503 : 200, "text/plain", stopping ? "shutting down\n" : "ok\n", body_pending);
    co_return answered;
  }
  if ((method == HTTP_GET || method == HTTP_HEAD) && path == endpoints.status_path) {
    const bool json = contains_nocase(forward_target, "format=json") ||
                      contains_nocase(find_header(state_->request, "accept"), "application/json");
    const std::string body = json ? status_json(worker_.server()) : status_text(worker_.server());
    const Next answered =
        co_await respond_local(200, json ? "application/json" : "text/plain", body, body_pending);
    co_return answered;
  }
  if (method == HTTP_CONNECT) {
    const Next answered = co_await reject(405, "CONNECT is not supported", true);
    co_return answered;
  }

  const Route* route = snapshot.match(host, path);
  if (route == nullptr) {
    const Next answered = co_await reject(404, "no route for this host and path", body_pending);
    co_return answered;
  }
  if (route->strip_prefix) {
    // `rest` may lie inside state_->target (a normalized path): assign() copies it safely.
    const std::string_view rest = strip_prefix(forward_target, route->path_prefix);
    state_->target.assign(rest);
    if (state_->target.empty() || state_->target.front() != '/') state_->target.insert(0, 1, '/');
    forward_target = state_->target;
  }
  const Next answered = co_await proxy(route->service, forward_target, host_override);
  co_return answered;
}

loop::Task<Session::Next> Session::proxy(size_t service_index, std::string_view target,
                                         std::string_view host) {
  const Service& service = *snapshot_->services[service_index];
  service_ = &service;  // from here on, the proxy's own answers count for the service too
  service.counters->worker(worker_.index()).requests.add();
  const bool body_pending_at_start = !state_->request.message_complete();
  body_begin_ = begin_ + state_->request.head_length();
  // HTTP/1.0 has no 1xx: its Expect is ignored (RFC 9110 10.1.1), and no interim reaches it.
  const bool expect_continue =
      http::iequals(find_header(state_->request, "expect"), "100-continue") &&
      body_pending_at_start && !client_http10_;
  http::build_upstream_request(state_->request,
                               {std::string_view(client_ip_.data(), client_ip_length_), target,
                                upgrade_, service.name, host},
                               state_->head);

  // The body bytes that came with the head are parsed now, so a retry can send them again.
  if (body_pending_at_start && parsed_ < end_) {
    const http::ParseStatus status = state_->request.feed(in_.get() + parsed_, end_ - parsed_);
    if (status == http::ParseStatus::kError) {
      const Next answered =
          co_await reject(state_->request.error_status(), state_->request.error_reason(), true);
      co_return answered;
    }
    parsed_ += state_->request.consumed();
  }

  const std::span<bool> excluded = state_->excluded(service.instances.size());
  needs_ = service.needs;
  health_ = &service.health;
  bool any_excluded = false;
  if (service.checks_health()) {
    const health::Eligibility eligible =
        health::exclude_unhealthy(service.instances, excluded, CoarseClock::now(),
                                  service.health.panic_threshold, service.name);
    if (service.panic.load(std::memory_order_relaxed) != eligible.panic &&
        service.panic.exchange(eligible.panic, std::memory_order_relaxed) != eligible.panic) {
      if (eligible.panic) {
        log_event(spdlog::level::warn, {"panic", service.name},
                  "service {} in panic mode: {} of {} instances healthy, using all of them",
                  service.name, eligible.healthy, service.instances.size());
      } else {
        log_event(spdlog::level::info, {"panic_over", service.name}, "service {} out of panic mode",
                  service.name);
      }
    }
    any_excluded = !eligible.panic && eligible.healthy < service.instances.size();
  }
  // The key is hashed once: a retry picks with the same key, and the head it came from is
  // overwritten once the body streams. Round robin and the others that hash nothing skip it.
  // A first pick with nothing excluded says so with an empty list (round robin then rotates in
  // O(1)); every pick after it, a retry, sees what was tried.
  balance::PickContext context{
      any_excluded ? std::span<const bool>(excluded) : std::span<const bool>(), std::nullopt, {}};
  if (needs_.client_address || needs_.request_key) context.key = pick_key(service, target);
  if (service.slow_start.count() != 0) {
    context.weights =
        slow_start_weights(service, state_->weights(service.instances.size()), CoarseClock::now());
  }
  // Counts this request (or tunnel) as active on its instance until proxy() ends, however it
  // ends; a retry on another instance moves it.
  // When the request ends (after `active` below lets go of its instance), a request queued for
  // a place under max_conns on this worker looks again at once.
  struct WakeQueue {
    const Service& service;
    unsigned worker;
    ~WakeQueue() {
      if (service.limits.max_conns != 0) service.queue.notify_one(worker);
    }
  } wake_queue{service, worker_.index()};
  upstream::ActiveRequest active;
  upstream::InFlight in_flight;  // the same span, for every service (/metrics, /lb-status)
  BudgetedRequest budgeted(service.retry_budget, worker_.index());
  budgeted_ = &budgeted;
  excluded_ = excluded;
  tries_ = 0;
  idempotent_ = is_idempotent(state_->request.method());
  body_streamed_ = false;
  interim_relayed_ = false;
  bool reused = false;
  for (;;) {
    if (!upstream_) {
      // Pick (again): the instances tried already are excluded, so a retry goes elsewhere.
      queue_refusal_ = {};
      const size_t index = service.limits.max_conns == 0
                               ? service.balancer(worker_.index()).pick(context)
                               : co_await pick_below_max_conns(service, context, active);
      if (index == balance::kNoInstance) {
        const std::string detail =
            queue_refusal_.empty()
                ? fmt::format("no instance available for service '{}'", service.name)
                : fmt::format("service '{}': every instance at max_conns, {}", service.name,
                              queue_refusal_);
        const Next answered = co_await reject(503, detail, !state_->request.message_complete());
        co_return answered;
      }
      excluded[index] = true;
      context.excluded = excluded;
      context.retry = true;  // for the picks after this one
      instance_ = service.instances[index];
      ++tries_;
      if (service.retry.try_timeout.count() != 0) {
        try_ends_ = CoarseClock::now() + service.retry.try_timeout;
      }
      if (needs_.active_requests && service.limits.max_conns == 0) active.assign(*instance_);
      upstream::InstanceCounters& counters = instance_->counters(worker_.index());
      in_flight.assign(counters);
      counters.requests.add();
      if (tries_ > 1) {
        worker_.stats().retries.add();
        counters.retries.add();
      }
      if (worker_.access_log().enabled()) {
        AccessRecord::copy(state_->log.upstream, instance_->label());
        ++state_->log.attempts;
      }
      std::optional<loop::Socket> pooled = worker_.pool().take(instance_->id());
      reused = pooled.has_value();
      if (reused) {
        upstream_ = std::move(pooled);
      } else {
        const Connect connected = co_await connect_upstream(*instance_);
        if (connected == Connect::kNoSocket) co_return co_await answer_no_socket();
        if (connected == Connect::kFailed) {
          // The request reached no upstream, so even a POST may go to the next instance
          // (nginx's proxy_next_upstream error timeout).
          const bool timed_out = deadline_.expired();
          instance_->counters(worker_.index()).failures.add();
          note_failure(timed_out);
          const std::string detail =
              fmt::format("no instance of service '{}' accepted the connection", service.name);
          const Attempt failed = co_await fail_attempt(
              timed_out ? config::HealthConfig::kFailOnTimeout : config::HealthConfig::kFailOnError,
              false, timed_out ? 504 : 502, detail, !state_->request.message_complete());
          if (failed == Attempt::kRetryElsewhere) continue;
          co_return failed == Attempt::kDone ? Next::kKeepGoing : Next::kClose;
        }
      }
    }
    if (expect_continue && !continue_sent_ && parsed_ == end_) {
      // Answer "Expect: 100-continue" once, here; the upstream never sees the Expect field.
      ErrorCode ec;
      deadline_.arm(snapshot_->timeouts.client_body);
      co_await write_all(client_, k100Continue, ec);
      if (ec) co_return Next::kClose;
      continue_sent_ = true;
    }
    const Attempt outcome = co_await exchange(reused);
    if (outcome == Attempt::kRetryElsewhere) continue;
    if (outcome == Attempt::kRetryOnFreshConnection) {
      // A pooled connection the upstream had already closed: nothing was processed, so the
      // request (even a POST) goes again on a fresh connection to the same instance; this does
      // not count as a try.
      close_upstream();
      reused = false;
      if (worker_.access_log().enabled()) ++state_->log.attempts;
      const Connect connected = co_await connect_upstream(*instance_);
      if (connected == Connect::kNoSocket) co_return co_await answer_no_socket();
      if (connected == Connect::kFailed) {
        const bool timed_out = deadline_.expired();
        instance_->counters(worker_.index()).failures.add();
        note_failure(timed_out);
        const Attempt failed = co_await fail_attempt(
            timed_out ? config::HealthConfig::kFailOnTimeout : config::HealthConfig::kFailOnError,
            false, timed_out ? 504 : 502, "upstream connection failed",
            !state_->request.message_complete());
        if (failed == Attempt::kRetryElsewhere) continue;
        co_return failed == Attempt::kDone ? Next::kKeepGoing : Next::kClose;
      }
      continue;
    }
    co_return outcome == Attempt::kDone ? Next::kKeepGoing : Next::kClose;
  }
}

loop::Task<size_t> Session::pick_below_max_conns(const Service& service,
                                                 balance::PickContext& context,
                                                 upstream::ActiveRequest& active) {
  const std::span<bool> full = state_->full(excluded_.size());
  const auto limit = static_cast<int64_t>(service.limits.max_conns);
  std::optional<QueueTimer> timer;
  std::optional<ConnQueue::Waiter> waiter;
  std::chrono::steady_clock::time_point give_up;
  struct Place {  // the request's place in the queue, given back however the wait ends
    ConnQueue* queue = nullptr;
    ~Place() {
      if (queue != nullptr) queue->leave();
    }
  } place;
  context.excluded = excluded_;  // full instances are marked in it
  for (;;) {
    // Instances at max_conns are left out of this round's picks only.
    size_t index = balance::kNoInstance;
    bool any_full = false;
    for (;;) {
      index = service.balancer(worker_.index()).pick(context);
      if (index == balance::kNoInstance || active.try_assign(*service.instances[index], limit)) {
        break;
      }
      excluded_[index] = full[index] = true;
      any_full = true;
    }
    for (size_t i = 0; i < full.size(); ++i) {
      if (full[i]) excluded_[i] = full[i] = false;
    }
    // Found one, or nothing is full and every instance was tried or is down: no wait helps.
    if (index != balance::kNoInstance || !any_full) co_return index;
    const auto now = std::chrono::steady_clock::now();
    if (!place.queue) {
      if (!service.queue.enter(service.limits.queue_size)) {
        queue_refusal_ = "queue full";
        co_return balance::kNoInstance;
      }
      place.queue = &service.queue;
      give_up = now + service.limits.queue_timeout;
      timer.emplace(worker_.loop());
      waiter.emplace(service.queue, worker_.index(), *timer);
    }
    if (now >= give_up) {
      queue_refusal_ = "timed out in the queue";
      co_return balance::kNoInstance;
    }
    waiter->park();
    co_await timer->wait_for(
        std::min<std::chrono::steady_clock::duration>(ConnQueue::kRecheck, give_up - now));
    waiter->unpark();
  }
}

loop::Task<Session::Attempt> Session::fail_attempt(uint32_t outcome, bool reached, int status,
                                                   std::string_view detail, bool close) {
  close_upstream();
  if (may_retry(outcome, reached)) co_return Attempt::kRetryElsewhere;
  const Next answered = co_await reject(status, detail, close);
  co_return answered == Next::kKeepGoing ? Attempt::kDone : Attempt::kClose;
}

bool Session::may_retry(uint32_t outcome, bool reached) {
  const config::RetryConfig& retry = service_->retry;
  if ((retry.on & outcome) == 0 || tries_ >= retry.tries) return false;
  // The request must still be whole in the buffer, and the client must have seen nothing.
  if (body_streamed_ || interim_relayed_ || response_started_) return false;
  // A POST that reached an upstream may have been acted on: sending it again could do it twice.
  if (reached && !idempotent_ && !retry.non_idempotent) return false;
  if (std::find(excluded_.begin(), excluded_.end(), false) == excluded_.end()) return false;
  // The budget guards a struggling service against work sent again: a retry after a response
  // timeout or a retried status is charged. One after a connection error (refused, reset or
  // closed before any answer, garbage) is not: it costs the failed instance nothing, `tries`
  // bounds it, and a backend killed under load cuts several requests at once that must all move.
  const bool charged = reached && outcome != config::HealthConfig::kFailOnError;
  if (charged && !budgeted_->allow_retry(retry.budget_percent, retry.budget_min)) {
    worker_.stats().retries_over_budget.add();
    return false;
  }
  return true;
}

std::chrono::milliseconds Session::try_limit(std::chrono::milliseconds timeout) const {
  if (service_ == nullptr || service_->retry.try_timeout.count() == 0) return timeout;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(try_ends_ - CoarseClock::now());
  return std::clamp(left, std::chrono::milliseconds::zero(), timeout);
}

std::optional<uint64_t> Session::pick_key(const Service& service, std::string_view target) const {
  if (service.needs.client_address) {
    const IpAddress client =
        client_address(peer_address_, state_->request, snapshot_->trusted_proxies);
    return balance::hash_key(client.bytes());
  }
  const auto key = request_key(service.hash_key, state_->request, target);
  if (!key) return std::nullopt;
  return balance::hash_key(*key);
}

loop::Task<Session::Attempt> Session::exchange(bool reused) {
  // The request's own snapshot: the worker's current one may be replaced (and freed) by another
  // session while this one waits.
  const Snapshot& snapshot = *snapshot_;
  char* buffer = in_.get();
  const size_t body_begin = body_begin_;
  // A request that fits the first write can be sent again if the pooled connection was stale.
  const bool resendable = reused && state_->request.message_complete();
  const auto upstream_start = log_clock();
  upstream_sent_ = worker_.loop().now();
  upstream::InstanceCounters& counters = instance_->counters(worker_.index());

  ErrorCode ec;
  const std::array<asio::const_buffer, 2> first{
      asio::const_buffer(state_->head.data(), state_->head.size()),
      asio::const_buffer(buffer + body_begin, parsed_ - body_begin)};
  deadline_.arm(try_limit(snapshot.timeouts.upstream_response));
  co_await write_all(*upstream_, first, ec);
  if (ec) {
    if (resendable && !deadline_.expired()) co_return Attempt::kRetryOnFreshConnection;
    const bool timed_out = deadline_.expired();
    counters.failures.add();
    note_failure(timed_out);
    const Attempt failed = co_await fail_attempt(
        timed_out ? config::HealthConfig::kFailOnTimeout : config::HealthConfig::kFailOnError, true,
        timed_out ? 504 : 502, "upstream connection failed", true);
    co_return failed;
  }
  counters.sent_bytes.add(state_->head.size() + parsed_ - body_begin);
  if (worker_.access_log().enabled()) state_->log.bytes_in += parsed_ - body_begin;

  bool request_whole = true;
  while (!state_->request.message_complete()) {
    // Everything received so far is sent; the buffer starts over for the next part of the body,
    // so from here on the request cannot be sent again.
    body_streamed_ = true;
    begin_ = parsed_ = end_ = 0;
    deadline_.arm(snapshot.timeouts.client_body);
    const size_t n = co_await read_some(client_, {buffer, in_.size()}, ec);
    if (n == 0) {
      close_upstream();
      if (deadline_.expired()) co_await reject(408, "request body too slow", true);
      co_return Attempt::kClose;
    }
    end_ = n;
    const http::ParseStatus status = state_->request.feed(buffer, n);
    if (status == http::ParseStatus::kError) {
      close_upstream();
      co_await reject(state_->request.error_status(), state_->request.error_reason(), true);
      co_return Attempt::kClose;
    }
    parsed_ = state_->request.consumed();
    deadline_.arm(snapshot.timeouts.upstream_response);
    co_await write_all(*upstream_, std::string_view(buffer, parsed_), ec);
    if (ec) {
      // An upstream may answer before it has the whole body (a 413 or a 401) and close: that
      // answer, already on its way, is the client's, as Envoy and HAProxy relay it. The rest of
      // the body is never read, so the client connection closes after it. Without an answer,
      // relay_response makes the 502.
      client_keep_alive_ = false;
      request_whole = false;
      break;
    }
    counters.sent_bytes.add(parsed_);
    if (worker_.access_log().enabled()) state_->log.bytes_in += parsed_;
  }
  begin_ = parsed_;  // a pipelined request may follow in the buffer

  const Attempt outcome = co_await relay_response(resendable, request_whole);
  if (outcome == Attempt::kRetryOnFreshConnection || outcome == Attempt::kRetryElsewhere) {
    co_return outcome;
  }
  if (outcome == Attempt::kDone || outcome == Attempt::kClose) {
    counters.request_latency.record(micros_between(started_, worker_.loop().now()));
  }
  if (worker_.access_log().enabled()) {
    state_->log.upstream_us =
        std::chrono::duration_cast<std::chrono::microseconds>(worker_.loop().now() - upstream_start)
            .count();
    finish_log(state_->log.status);
  }
  co_return outcome;
}

loop::Task<Session::Attempt> Session::relay_response(bool resendable, bool request_whole) {
  // The request's own snapshot: the worker's current one may be replaced (and freed) by another
  // session while this one waits.
  const Snapshot& snapshot = *snapshot_;
  upstream::InstanceCounters& counters = instance_->counters(worker_.index());
  char* buffer = out_.get();
  const size_t size = out_.size();
  const http::ParseLimits limits{0, static_cast<uint32_t>(size), http::MessageParser::kMaxHeaders,
                                 0};
  size_t end = 0;
  size_t parsed = 0;
  bool got_byte = false;
  const auto sent_at = log_clock();
  ErrorCode ec;
  state_->response.begin(buffer, limits, head_request_);

  // Interim (1xx) responses, then the final head.
  for (;;) {
    if (parsed == end) {
      deadline_.arm(try_limit(snapshot.timeouts.upstream_response));
      // The first read comes right after the request went out: nothing can be there yet.
      const size_t n =
          co_await read_some(*upstream_, {buffer + end, size - end}, ec, /*expect_empty=*/end == 0);
      if (n == 0) {
        const bool timed_out = ec && deadline_.expired();
        // A pooled connection closed or reset under the request before any answer: the
        // upstream closed it while idle, and never saw the request.
        if (!got_byte && resendable && !timed_out) co_return Attempt::kRetryOnFreshConnection;
        counters.failures.add();
        note_failure(timed_out);
        const Attempt failed = co_await fail_attempt(
            timed_out ? config::HealthConfig::kFailOnTimeout : config::HealthConfig::kFailOnError,
            true, timed_out ? 504 : 502,
            timed_out ? "upstream timed out" : "upstream closed the connection before responding",
            false);
        co_return failed;
      }
      if (!got_byte && worker_.access_log().enabled())
        state_->log.first_byte_us = micros_between(sent_at, worker_.loop().now());
      got_byte = true;
      counters.received_bytes.add(n);
      end += n;
    }
    const http::ParseStatus status = state_->response.feed(buffer + parsed, end - parsed);
    if (status == http::ParseStatus::kError) {
      counters.failures.add();
      note_failure(false);
      // Over the field-count limit is not malformed; say which, as HAProxy's 502 log does.
      const std::string_view why = state_->response.error_status() == 431
                                       ? "upstream response has too many header fields"
                                       : "upstream sent a malformed response";
      const Attempt failed =
          co_await fail_attempt(config::HealthConfig::kFailOnError, true, 502, why, false);
      co_return failed;
    }
    parsed += state_->response.consumed();
    if (status == http::ParseStatus::kNeedMore) {
      if (end == size) {
        counters.failures.add();
        note_failure(false);
        const Attempt failed = co_await fail_attempt(config::HealthConfig::kFailOnError, true, 502,
                                                     "upstream response head too large", false);
        co_return failed;
      }
      continue;
    }
    const int code = state_->response.status_code();
    if (code / 100 != 1 || code == 101) break;
    // Never a second 100 Continue, and no 1xx at all to an HTTP/1.0 client (RFC 9110 15.2).
    if (!(code == 100 && continue_sent_) && !client_http10_) {
      http::build_client_response(state_->response, {}, state_->head);
      deadline_.arm(snapshot.timeouts.client_body);
      interim_relayed_ = true;
      co_await write_all(client_, state_->head, ec);
      if (ec) {
        close_upstream();
        co_return Attempt::kClose;
      }
    }
    std::memmove(buffer, buffer + parsed, end - parsed);
    end -= parsed;
    parsed = 0;
    state_->response.begin(buffer, limits, head_request_);
  }

  const int code = state_->response.status_code();
  {
    // The final head's arrival is what the upstream-latency histogram and EWMA learn from: it
    // measures the instance, not the body's size or the client's speed.
    const auto now = worker_.loop().now();
    const auto latency = std::chrono::duration_cast<std::chrono::nanoseconds>(now - upstream_sent_);
    counters.upstream_latency.record(latency.count() / 1000);
    if (needs_.latency) {
      balance::record_latency(*instance_, latency.count(), MonotonicClock::to_ns(now));
    }
  }
  const bool tunnel_after = code == 101 && upgrade_;
  if (code == 101 && !upgrade_) {
    counters.failures.add();
    close_upstream();
    const Next answered = co_await reject(502, "upstream switched protocols unasked", false);
    co_return answered == Next::kKeepGoing ? Attempt::kDone : Attempt::kClose;
  }
  counters.responses[std::clamp(code / 100, 1, 5) - 1].add();
  note_response(code);
  // A status the retry policy names (502/503/504 when configured) sends the request elsewhere
  // if it may go again; the answer is dropped unread with its connection. Otherwise, the last
  // try included, the client gets the response as it is (nginx).
  if (service_->retry.retries_status(code) &&
      may_retry(config::RetryConfig::status_outcome(code), true)) {
    close_upstream();
    co_return Attempt::kRetryElsewhere;
  }
  if (worker_.access_log().enabled()) state_->log.status = static_cast<uint32_t>(code);
  // An HTTP/1.0 client cannot read chunked coding: it gets the decoded body, ended by the close.
  const bool dechunk = client_http10_ && state_->response.chunked();
  const bool close_client =
      !client_keep_alive_ || state_->response.body_until_close() || worker_.draining() || dechunk;
  http::build_client_response(
      state_->response, {close_client, client_http10_ && client_keep_alive_, tunnel_after, dechunk},
      state_->head);

  const size_t body_begin = state_->response.head_length();
  size_t body_length = 0;
  bool stray_bytes = false;
  if (!state_->response.message_complete() && parsed < end) {
    const http::ParseStatus status =
        dechunk ? state_->response.feed_decoding(buffer + parsed, end - parsed)
                : state_->response.feed(buffer + parsed, end - parsed);
    if (status == http::ParseStatus::kError) {
      counters.failures.add();
      close_upstream();
      const Next answered = co_await reject(502, "upstream sent a malformed response", false);
      co_return answered == Next::kKeepGoing ? Attempt::kDone : Attempt::kClose;
    }
    parsed += state_->response.consumed();
  }
  if (tunnel_after) parsed = end;  // bytes after a 101 belong to the new protocol
  stray_bytes = parsed < end;
  body_length = dechunk ? state_->response.decoded() : parsed - body_begin;
  response_started_ = true;
  const std::array<asio::const_buffer, 2> first{
      asio::const_buffer(state_->head.data(), state_->head.size()),
      asio::const_buffer(buffer + body_begin, body_length)};
  deadline_.arm(snapshot.timeouts.client_body);
  co_await write_all(client_, first, ec,
                     !tunnel_after && !dechunk && more_follows_at_once(state_->response));
  if (ec) {
    close_upstream();
    co_return Attempt::kClose;
  }
  if (worker_.access_log().enabled()) state_->log.bytes_out += state_->head.size() + body_length;
  if (tunnel_after) {
    co_await tunnel();
    co_return Attempt::kClose;
  }

  while (!state_->response.message_complete()) {
    deadline_.arm(snapshot.timeouts.upstream_response);
    // The body is relayed from where it was received (no copy when the upstream streams).
    std::span<char> data;
    const size_t n = co_await loop::read_view(*upstream_, {buffer, size}, data, ec);
    counters.received_bytes.add(n);
    if (n == 0) {
      if (!ec && state_->response.finish() == http::ParseStatus::kMessageComplete) break;
      // Truncated: the client sees the connection close before the announced end.
      counters.failures.add();
      close_upstream();
      co_return Attempt::kClose;
    }
    const http::ParseStatus status = dechunk ? state_->response.feed_decoding(data.data(), n)
                                             : state_->response.feed(data.data(), n);
    if (status == http::ParseStatus::kError) {
      counters.failures.add();
      close_upstream();
      co_return Attempt::kClose;
    }
    stray_bytes = state_->response.consumed() < n;
    const size_t body = dechunk ? state_->response.decoded() : state_->response.consumed();
    deadline_.arm(snapshot.timeouts.client_body);
    co_await write_all(client_, std::string_view(data.data(), body), ec,
                       !dechunk && more_follows_at_once(state_->response));
    upstream_->release_view();
    if (ec) {
      close_upstream();
      co_return Attempt::kClose;
    }
    if (worker_.access_log().enabled()) state_->log.bytes_out += body;
  }

  // Reuse the upstream connection only when its framing left no doubt, both ways.
  const bool reusable = request_whole && state_->response.keep_alive() &&
                        !state_->response.body_until_close() && !stray_bytes &&
                        upstream_->quiet().value_or(true) && !worker_.draining();
  if (reusable) {
    upstream_->use_file_slot();  // it will serve again
    worker_.pool().give(instance_->id(), counters, std::move(*upstream_));
    upstream_.reset();
  } else {
    close_upstream();
  }
  co_return close_client ? Attempt::kClose : Attempt::kDone;
}

void Session::note_failure(bool timed_out) {
  if (service_ != nullptr && service_->outlier) note_outlier(health::Outcome::kGatewayError);
  if (health_ == nullptr || health_->max_fails == 0) return;
  const uint32_t kind =
      timed_out ? config::HealthConfig::kFailOnTimeout : config::HealthConfig::kFailOnError;
  if ((health_->fail_on & kind) == 0) return;
  if (instance_->passive().record_failure(CoarseClock::now(),
                                          {health_->max_fails, health_->fail_timeout})) {
    log_event(spdlog::level::warn,
              {"marked_down", service_ ? std::string_view(service_->name) : "", instance_->label()},
              "instance {} marked down for {} ms: {} failure(s) within fail_timeout",
              instance_->label(), health_->fail_timeout.count(), health_->max_fails);
  }
}

void Session::note_response(int status) {
  if (service_ != nullptr && service_->outlier) {
    note_outlier(status < 500                     ? health::Outcome::kSuccess
                 : status >= 502 && status <= 504 ? health::Outcome::kGatewayError
                                                  : health::Outcome::k5xx);
  }
  if (health_ == nullptr || health_->max_fails == 0) return;
  if (!health_->fails_on_status(status)) {
    instance_->passive().record_success();
    return;
  }
  if (instance_->passive().record_failure(CoarseClock::now(),
                                          {health_->max_fails, health_->fail_timeout})) {
    log_event(spdlog::level::warn,
              {"marked_down", service_ ? std::string_view(service_->name) : "", instance_->label()},
              "instance {} marked down for {} ms: answered {}", instance_->label(),
              health_->fail_timeout.count(), status);
  }
}

void Session::note_outlier(health::Outcome outcome) {
  const config::OutlierConfig& policy = *service_->outlier;
  if (!instance_->outlier().record(outcome, policy)) return;
  const auto now = CoarseClock::now();
  if (instance_->outlier().ejected(now)) return;
  // Never more than max_ejection_percent of the instances out at once, but one always may be.
  const auto& instances = service_->instances;
  const auto ejected = static_cast<size_t>(
      std::count_if(instances.begin(), instances.end(),
                    [&](const auto& instance) { return instance->outlier().ejected(now); }));
  if (ejected > 0 && (ejected + 1) * 100 > size_t{policy.max_ejection_percent} * instances.size()) {
    log_event(spdlog::level::info, {"not_ejected", service_->name, instance_->label()},
              "instance {} of service {} not ejected: {} of {} instances out already",
              instance_->label(), service_->name, ejected, instances.size());
    return;
  }
  const auto length = instance_->outlier().eject(now, policy);
  log_event(spdlog::level::warn, {"ejected", service_->name, instance_->label()},
            "instance {} of service {} ejected for {} ms: {} in a row (ejection {})",
            instance_->label(), service_->name, length.count(),
            outcome == health::Outcome::k5xx ? "5xx answers" : "gateway errors",
            instance_->outlier().ejections());
}

loop::Task<void> Session::tunnel() {
  set_phase(Phase::kTunnel);
  const auto idle = worker_.snapshot().timeouts.websocket_idle;
  upstream::InstanceCounters& counters = instance_->counters(worker_.index());
  ErrorCode ec;
  // Frames the client sent right behind its handshake are already in the buffer.
  if (parsed_ < end_) {
    co_await write_all(*upstream_, std::string_view(in_.get() + parsed_, end_ - parsed_), ec);
    if (ec) co_return;
    counters.sent_bytes.add(end_ - parsed_);
  }
  begin_ = parsed_ = end_ = 0;
  deadline_.arm(idle);
  uint64_t up = 0;
  uint64_t down = 0;
  co_await loop::when_all(
      pump(client_, *upstream_, in_.get(), in_.size(), deadline_, idle, up, counters.sent_bytes),
      pump(*upstream_, client_, out_.get(), out_.size(), deadline_, idle, down,
           counters.received_bytes));
  close_upstream();
  if (worker_.access_log().enabled()) {
    state_->log.bytes_in += up;
    state_->log.bytes_out += down;
  }
}

loop::Task<Session::Connect> Session::connect_upstream(upstream::Instance& instance) {
  upstream_ = loop::Socket::open(worker_.loop(), instance.endpoint());
  if (!upstream_->is_open()) {
    no_socket_error_ = errno;
    upstream_.reset();
    co_return Connect::kNoSocket;
  }
  instance.counters(worker_.index()).connections.add();  // close_upstream() takes it off
  deadline_.arm(try_limit(worker_.snapshot().timeouts.upstream_connect));
  const auto start = log_clock();
  const int connected = co_await upstream_->connect(instance.endpoint());
  if (connected < 0) {
    close_upstream();
    co_return Connect::kFailed;
  }
  upstream_->set_no_delay();
  if (worker_.access_log().enabled())
    state_->log.connect_us = micros_between(start, worker_.loop().now());
  co_return Connect::kConnected;
}

loop::Task<Session::Next> Session::answer_no_socket() {
  const std::string detail =
      fmt::format("no socket for the upstream connection: {}", std::strerror(no_socket_error_));
  const Next answered = co_await reject(500, detail, !state_->request.message_complete());
  co_return answered;
}

void Session::close_upstream() {
  if (!upstream_) return;
  upstream_->close();
  upstream_.reset();
  instance_->counters(worker_.index()).connections.sub();
}

loop::Task<Session::Next> Session::respond_local(int status, std::string_view content_type,
                                                 std::string_view body, bool close) {
  close = close || worker_.draining();  // the connection ends after this answer: say so
  state_->head.clear();
  fmt::format_to(std::back_inserter(state_->head),
                 "HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                 "Cache-Control: no-store\r\n{}\r\n",
                 status, http::reason_phrase(status), http::http_date_now(), content_type,
                 body.size(), close || !client_keep_alive_ ? "Connection: close\r\n" : "");
  if (!head_request_) state_->head.append(body);
  count_local_response(status);
  ErrorCode ec;
  deadline_.arm(worker_.snapshot().timeouts.client_body);
  co_await write_all(client_, state_->head, ec);
  if (worker_.access_log().enabled()) state_->log.bytes_out = state_->head.size();
  finish_log(status);
  co_return ec || close || !client_keep_alive_ ? Next::kClose : Next::kKeepGoing;
}

loop::Task<Session::Next> Session::reject(int status, std::string_view detail, bool close) {
  close = close || !client_keep_alive_;
  http::build_error_response(status, detail, close, head_request_, state_->head);
  count_local_response(status);
  ErrorCode ec;
  set_phase(Phase::kWriting);
  deadline_.arm(worker_.snapshot().timeouts.client_body);
  co_await write_all(client_, state_->head, ec);
  if (worker_.access_log().enabled()) state_->log.bytes_out += state_->head.size();
  finish_log(status);
  if (ec) co_return Next::kClose;
  if (!close) co_return Next::kKeepGoing;
  client_.shutdown_send();
  deadline_.arm(kLingerTime);
  char* buffer = in_.get();
  for (size_t drained = 0; drained < kLingerBytes;) {
    const size_t n = co_await read_some(client_, {buffer, in_.size()}, ec);
    if (n == 0) break;
    drained += n;
  }
  co_return Next::kClose;
}

void Session::count_local_response(int status) {
  const size_t status_class = static_cast<size_t>(std::clamp(status / 100, 1, 5)) - 1;
  worker_.stats().local_responses[status_class].add();
  if (service_ != nullptr) {
    service_->counters->worker(worker_.index()).local_responses[status_class].add();
  }
}

void Session::finish_log(int status) {
  AccessLog& log = worker_.access_log();
  if (!log.enabled() || logged_) return;
  logged_ = true;
  state_->log.status = static_cast<uint32_t>(status);
  state_->log.request_us = micros_between(started_, worker_.loop().now());
  state_->log.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  log.push(worker_.index(), state_->log);
}

}  // namespace sb::proxy
