// Session, the client side: the connection's life, reading requests and routing them, the
// answers the proxy makes itself, and the access log. Forwarding a request to an instance is in
// session_upstream.cpp, relaying its response in session_response.cpp, the WebSocket tunnel in
// session_tunnel.cpp.
#include "proxy/session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "http/error_response.hpp"
#include "http/header_rewrite.hpp"
#include "http/http_date.hpp"
#include "http/request_target.hpp"
#include "loop/stream.hpp"
#include "proxy/lb_status.hpp"
#include "proxy/server.hpp"
#include "proxy/worker.hpp"

namespace sb::proxy {

using loop::ErrorCode;
using loop::read_some;
using loop::write_all;

namespace {

// Lingering close: after an error response, read (and drop) what the client still sends for a
// while, so the kernel does not answer unread bytes with a reset that destroys our response.
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr size_t kLingerBytes = 256 * 1024;

bool contains_nocase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (http::iequals(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
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
  return worker_.access_log().enabled() ? worker_.loop().now()
                                        : std::chrono::steady_clock::time_point{};
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
             http::iequals(state_->request.field("upgrade"), "websocket");
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
                      contains_nocase(state_->request.field("accept"), "application/json");
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
