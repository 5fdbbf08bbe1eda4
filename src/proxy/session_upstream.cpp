// Session, forwarding a request: picking an instance (slow start, max_conns and its queue, the
// hash key), connecting, sending the head and the body, retrying elsewhere when the policy
// allows, and the passive health and outlier detection fed by each attempt.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log_event.hpp"
#include "health/eligibility.hpp"
#include "http/header_rewrite.hpp"
#include "loop/stream.hpp"
#include "proxy/balance_key.hpp"
#include "proxy/forwarded_client.hpp"
#include "proxy/session.hpp"
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

}  // namespace

loop::Task<Session::Next> Session::proxy(size_t service_index, std::string_view target,
                                         std::string_view host) {
  const Service& service = *snapshot_->services[service_index];
  service_ = &service;  // from here on, the proxy's own answers count for the service too
  service.counters->worker(worker_.index()).requests.add();
  const bool body_pending_at_start = !state_->request.message_complete();
  body_begin_ = begin_ + state_->request.head_length();
  // HTTP/1.0 has no 1xx: its Expect is ignored (RFC 9110 10.1.1), and no interim reaches it.
  const bool expect_continue = http::iequals(state_->request.field("expect"), "100-continue") &&
                               body_pending_at_start && !client_http10_;
  const std::string_view peer_ip(client_ip_.data(), client_ip_length_);
  const ForwardedClient client = forwarded_client(peer_address_, peer_ip, state_->request,
                                                  snapshot_->trusted_proxies, real_ip_);
  http::build_upstream_request(
      state_->request,
      {peer_ip, target, upgrade_, service.name, host, client.real_ip, client.proto}, state_->head);

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
  if (needs_.client_address || needs_.request_key) {
    context.key = pick_key(service, target, client.address);
  }
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
          const std::string detail =
              fmt::format("no instance of service '{}' accepted the connection", service.name);
          const Attempt failed = co_await fail_connect(detail);
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
        const Attempt failed = co_await fail_connect("upstream connection failed");
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

loop::Task<Session::Attempt> Session::fail_connect(std::string_view detail) {
  const bool timed_out = deadline_.expired();
  instance_->counters(worker_.index()).failures.add();
  note_failure(timed_out);
  const Attempt failed = co_await fail_attempt(
      timed_out ? config::HealthConfig::kFailOnTimeout : config::HealthConfig::kFailOnError, false,
      timed_out ? 504 : 502, detail, !state_->request.message_complete());
  co_return failed;
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

std::optional<uint64_t> Session::pick_key(const Service& service, std::string_view target,
                                          const IpAddress& client) const {
  if (service.needs.client_address) return balance::hash_key(client.bytes());
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
}  // namespace sb::proxy
