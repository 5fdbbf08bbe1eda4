// Session, relaying an instance's response: interim responses, the final head rewritten for
// the client, and the body streamed through a fixed buffer in its own framing, with the
// upstream connection pooled only when nothing casts doubt on where the response ended.
#include "balance/ewma.hpp"
#include "core/clock.hpp"
#include "core/log_event.hpp"
#include "http/header_rewrite.hpp"
#include "loop/stream.hpp"
#include "proxy/session.hpp"
#include "proxy/worker.hpp"

namespace sb::proxy {

namespace asio = boost::asio;
using loop::ErrorCode;
using loop::read_some;
using loop::write_all;

namespace {

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

}  // namespace

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
}  // namespace sb::proxy
