// etcd's v3 JSON gateway over HTTP/1.1 (see etcd_client.hpp).
#include "registry/etcd_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <utility>

#include "core/base64.hpp"

namespace sb::registry::etcd {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

using Stream = beast::basic_stream<asio::ip::tcp, Executor>;
using Resolver = asio::ip::basic_resolver<asio::ip::tcp, Executor>;

// A member that does not complete the handshake in this time is taken as down: loopback and LAN
// connects take microseconds, and the write's whole deadline is only a few times longer.
constexpr auto kConnectTimeout = std::chrono::milliseconds(500);
// Between rounds while a member says "not now" (no leader during an election): elections take
// about one election timeout (1 s by default), so a few tries fit in a write's deadline.
constexpr auto kRetryPause = std::chrono::milliseconds(50);
constexpr size_t kMaxIdle = 8;
constexpr size_t kMaxBody = 256 * 1024 * 1024;  // a range page is far smaller; a sanity bound
constexpr size_t kMaxWatchLine = 256 * 1024 * 1024;

int64_t parse_int(std::string_view text, std::string_view name) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw std::runtime_error("etcd: field " + std::string(name) + " is not an integer");
  }
  return value;
}

// gRPC Unavailable (no leader, leader changed, request timed out, member stopping) and
// DeadlineExceeded: another member, or the same one a moment later, may take the request.
bool retryable(int code, int http_status) {
  return code == 14 || code == 4 || (code == 0 && http_status >= 500);
}

// Dead peers that never send a FIN or RST (a host gone from the network) are noticed by TCP
// keep-alive probes within about 5 s, instead of Linux's default of over two hours.
void tune(Stream& stream) {
  ErrorCode ignored;
  auto& socket = stream.socket();
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  socket.set_option(asio::socket_base::keep_alive(true), ignored);
  const int idle = 2, interval = 1, count = 3;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

std::string describe(const ErrorCode& ec) {
  if (ec == beast::error::timeout) return "no answer in time";
  return ec.message();
}

void append(std::string& failures, const std::string& failure) {
  if (!failures.empty()) failures += "; ";
  failures += failure;
}

http::request<http::string_body> post(const Member& member, std::string_view path,
                                      const std::string& body) {
  http::request<http::string_body> request{http::verb::post, path, 11};
  request.set(http::field::host, member.name());
  request.set(http::field::content_type, "application/json");
  // clientv3's WithRequireLeader, which the gateway passes on as gRPC metadata: a member without a
  // leader (cut off from the quorum) refuses the call at once with "no leader" instead of holding
  // it, and ends a watch after three election timeouts without one instead of keeping it open
  // with nothing to deliver, so the registry moves to a member of the quorum. Without it a watch
  // on a partitioned member stalls silently: it still answers, but hears of no change.
  request.set("Grpc-Metadata-hasleader", "true");
  request.keep_alive(true);
  request.body() = body;
  request.prepare_payload();
  return request;
}

}  // namespace

int64_t json_int(const Json& object, std::string_view name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return 0;
  if (it->is_string()) return parse_int(it->get_ref<const std::string&>(), name);
  if (it->is_number_integer()) return it->get<int64_t>();
  throw std::runtime_error("etcd: field " + std::string(name) + " is not an integer");
}

ResponseHeader decode_header(const Json& response) {
  ResponseHeader header;
  const auto it = response.find("header");
  if (it == response.end() || !it->is_object()) return header;
  const auto cluster = it->find("cluster_id");
  if (cluster != it->end() && cluster->is_string()) {
    const std::string& text = cluster->get_ref<const std::string&>();
    std::from_chars(text.data(), text.data() + text.size(), header.cluster_id);
  }
  header.revision = json_int(*it, "revision");
  return header;
}

KeyValue decode_kv(const Json& kv) {
  if (!kv.is_object()) throw std::runtime_error("etcd: a key-value is not an object");
  KeyValue out;
  const auto bytes = [&](std::string_view name) {
    const auto it = kv.find(name);
    if (it == kv.end() || it->is_null()) return std::string();
    if (!it->is_string()) throw std::runtime_error("etcd: " + std::string(name) + " not a string");
    auto decoded = base64_decode(it->get_ref<const std::string&>());
    if (!decoded) throw std::runtime_error("etcd: " + std::string(name) + " is not base64");
    return std::move(*decoded);
  };
  out.key = bytes("key");
  out.value = bytes("value");
  out.create_revision = json_int(kv, "create_revision");
  out.mod_revision = json_int(kv, "mod_revision");
  out.version = json_int(kv, "version");
  out.lease = json_int(kv, "lease");
  return out;
}

EtcdError decode_error(const Json& body, int http_status) {
  std::string message = "HTTP " + std::to_string(http_status);
  int code = 0;
  if (body.is_object()) {
    const Json* error = &body;
    if (const auto it = body.find("error"); it != body.end() && it->is_object()) error = &*it;
    for (const char* key : {"message", "error"}) {
      const auto it = error->find(key);
      if (it != error->end() && it->is_string()) {
        message = it->get<std::string>();
        break;
      }
    }
    for (const char* key : {"code", "grpc_code"}) {
      const auto it = error->find(key);
      if (it != error->end() && it->is_number_integer()) {
        code = it->get<int>();
        break;
      }
    }
  }
  return EtcdError(code, message);
}

WatchMessage decode_watch_message(const Json& line) {
  if (!line.is_object()) throw std::runtime_error("etcd: a watch message is not an object");
  if (line.contains("error")) throw decode_error(line, 200);
  const auto result = line.find("result");
  if (result == line.end() || !result->is_object()) {
    throw std::runtime_error("etcd: a watch message without result");
  }
  WatchMessage message;
  message.header = decode_header(*result);
  message.created = result->value("created", false);
  message.canceled = result->value("canceled", false);
  message.compact_revision = json_int(*result, "compact_revision");
  message.cancel_reason = result->value("cancel_reason", std::string());
  if (const auto events = result->find("events"); events != result->end()) {
    if (!events->is_array()) throw std::runtime_error("etcd: watch events are not a list");
    for (const Json& event : *events) {
      Event decoded;
      decoded.deleted = event.value("type", std::string("PUT")) == "DELETE";
      decoded.kv = decode_kv(event.at("kv"));
      message.events.push_back(std::move(decoded));
    }
  }
  return message;
}

struct Client::Connection {
  Connection(asio::io_context& context, size_t index)
      : stream(context.get_executor()), member(index) {}
  Stream stream;
  beast::flat_buffer buffer;
  size_t member;
};

struct Client::Attempt {
  bool answered = false;   // an HTTP answer came (status, body); else `error` says why not
  bool timed_out = false;  // no answer in time (the member may be waiting for a leader)
  int status = 0;
  std::string body;
  std::string error;
};

struct Client::Watch::State {
  std::unique_ptr<Connection> connection;
  http::response_parser<http::buffer_body> parser;
  std::string pending;  // bytes of the stream not yet returned as messages
  std::array<char, 64 * 1024> chunk;
};

Client::Client(asio::io_context& context, std::vector<Member> members,
               std::chrono::milliseconds attempt_timeout)
    : context_(context), members_(std::move(members)), attempt_timeout_(attempt_timeout) {
  if (members_.empty()) throw std::invalid_argument("etcd client: no members");
}

Client::~Client() {
  for (Watch* watch : watches_) watch->client_ = nullptr;
}

void Client::close() {
  closed_ = true;
  ErrorCode ignored;
  idle_.clear();
  for (Connection* connection : busy_) connection->stream.socket().close(ignored);
  for (Watch* watch : watches_) watch->close();
}

Task<std::unique_ptr<Client::Connection>> Client::connect(size_t member, Deadline deadline,
                                                          std::string& error) {
  const Member& to = members_[member];
  std::vector<asio::ip::tcp::endpoint> endpoints;
  ErrorCode ec;
  const auto address = asio::ip::make_address(to.host == "localhost" ? "127.0.0.1" : to.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, to.port);
  } else {
    Resolver resolver(context_);
    auto [resolve_error, results] =
        co_await resolver.async_resolve(to.host, std::to_string(to.port), use_task);
    if (resolve_error) {
      error = to.name() + ": " + resolve_error.message();
      co_return nullptr;
    }
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  auto connection = std::make_unique<Connection>(context_, member);
  connection->stream.expires_at(std::min(deadline, Clock::now() + kConnectTimeout));
  busy_.insert(connection.get());
  auto [connect_error, endpoint] = co_await connection->stream.async_connect(endpoints, use_task);
  busy_.erase(connection.get());
  if (closed_) {
    error = "shutting down";
    co_return nullptr;
  }
  if (connect_error) {
    error =
        to.name() + ": " +
        (connect_error == beast::error::timeout ? "connect timed out" : connect_error.message());
    co_return nullptr;
  }
  tune(connection->stream);
  co_return connection;
}

Task<Client::Attempt> Client::attempt(size_t member, std::string_view path, const std::string& body,
                                      Deadline deadline) {
  Attempt out;
  const Member& to = members_[member];
  for (int round = 0; round < 2; ++round) {
    std::unique_ptr<Connection> connection;
    bool reused = false;
    if (round == 0) {
      for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        if ((*it)->member == member) {
          connection = std::move(*it);
          idle_.erase(it);
          reused = true;
          break;
        }
      }
    }
    if (!connection) {
      connection = co_await connect(member, deadline, out.error);
      if (!connection) {
        out.timed_out = Clock::now() >= deadline;
        co_return out;
      }
    }
    auto request = post(to, path, body);
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    connection->stream.expires_at(deadline);
    busy_.insert(connection.get());
    auto [write_error, written] = co_await http::async_write(connection->stream, request, use_task);
    ErrorCode ec = write_error;
    if (!ec) {
      auto [read_error, read] =
          co_await http::async_read(connection->stream, connection->buffer, parser, use_task);
      ec = read_error;
    }
    busy_.erase(connection.get());
    if (closed_) {
      out.error = "shutting down";
      co_return out;
    }
    if (ec) {
      // A pooled connection the member closed while it sat idle (a restart, its idle timeout):
      // once more on a fresh one, as the proxy does upstream.
      const bool stale = ec == http::error::end_of_stream || ec == asio::error::eof ||
                         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
      if (reused && stale && Clock::now() < deadline) continue;
      out.timed_out = ec == beast::error::timeout;
      out.error = to.name() + ": " + describe(ec);
      co_return out;
    }
    out.answered = true;
    out.status = static_cast<int>(parser.get().result_int());
    const bool keep = parser.get().keep_alive();
    out.body = std::move(parser.get().body());
    if (keep && idle_.size() < kMaxIdle) {
      connection->stream.expires_never();
      idle_.push_back(std::move(connection));
    }
    co_return out;
  }
  co_return out;
}

Task<std::string> Client::call(std::string_view path, const std::string& body, Deadline deadline) {
  std::string failures;
  for (;;) {
    bool not_now = false;  // some member answered that it cannot serve now
    failures.clear();
    for (size_t n = 0; n < members_.size(); ++n) {
      if (closed_) throw Unavailable("shutting down");
      if (Clock::now() >= deadline) break;
      const size_t member = (current_ + n) % members_.size();
      Attempt attempt_result =
          co_await attempt(member, path, body, std::min(deadline, Clock::now() + attempt_timeout_));
      if (attempt_result.answered && attempt_result.status == 200) {
        current_ = member;
        co_return std::move(attempt_result.body);
      }
      if (!attempt_result.answered) {
        not_now = not_now || attempt_result.timed_out;
        append(failures, attempt_result.error);
        continue;
      }
      const Json parsed = Json::parse(attempt_result.body, nullptr, false);
      EtcdError error = decode_error(parsed, attempt_result.status);
      if (retryable(error.code(), attempt_result.status)) {
        not_now = true;
        append(failures, members_[member].name() + ": " + error.what());
        continue;
      }
      current_ = member;
      throw error;
    }
    if (!not_now || closed_ || Clock::now() + kRetryPause >= deadline) break;
    SteadyTimer pause(context_);
    pause.expires_after(kRetryPause);
    co_await pause.async_wait(use_task);
  }
  throw Unavailable(failures.empty() ? std::string("no etcd member answered in time") : failures);
}

Task<Json> Client::call_json(std::string_view path, const Json& body, Deadline deadline) {
  const std::string answer = co_await call(path, body.dump(), deadline);
  Json parsed = Json::parse(answer, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    throw Unavailable("etcd answered " + std::string(path) + " with something that is not JSON");
  }
  co_return parsed;
}

Task<std::unique_ptr<Client::Watch>> Client::watch(const Json& create_request, Deadline deadline) {
  const std::string body = create_request.dump();
  std::string failures;
  for (size_t n = 0; n < members_.size(); ++n) {
    if (closed_) throw Unavailable("shutting down");
    if (Clock::now() >= deadline) break;
    const size_t member = (current_ + n) % members_.size();
    std::string error;
    auto connection = co_await connect(member, deadline, error);
    if (!connection) {
      append(failures, error);
      continue;
    }
    auto state = std::make_unique<Watch::State>();
    state->connection = std::move(connection);
    state->parser.body_limit(boost::none);
    Stream& stream = state->connection->stream;
    auto request = post(members_[member], "/v3/watch", body);
    stream.expires_at(deadline);
    busy_.insert(state->connection.get());
    auto [write_error, written] = co_await http::async_write(stream, request, use_task);
    ErrorCode ec = write_error;
    if (!ec) {
      auto [read_error, read] = co_await http::async_read_header(stream, state->connection->buffer,
                                                                 state->parser, use_task);
      ec = read_error;
    }
    busy_.erase(state->connection.get());
    if (closed_) throw Unavailable("shutting down");
    if (ec) {
      append(failures, members_[member].name() + ": watch: " + describe(ec));
      continue;
    }
    if (state->parser.get().result_int() != 200) {
      append(failures, members_[member].name() + ": watch answered HTTP " +
                           std::to_string(state->parser.get().result_int()));
      continue;
    }
    stream.expires_never();  // a quiet registry sends nothing for hours; keep-alive probes watch
    current_ = member;
    co_return std::unique_ptr<Watch>(new Watch(*this, std::move(state), members_[member]));
  }
  throw Unavailable(failures.empty() ? std::string("no etcd member answered in time") : failures);
}

Client::Watch::Watch(Client& client, std::unique_ptr<State> state, Member member)
    : client_(&client), state_(std::move(state)), member_(std::move(member)) {
  client_->watches_.insert(this);
}

Client::Watch::~Watch() {
  if (client_ != nullptr) client_->watches_.erase(this);
}

void Client::Watch::close() {
  ErrorCode ignored;
  state_->connection->stream.socket().close(ignored);
}

namespace {

// One message of a watch stream from `member`.
WatchMessage decode_watch_line(const std::string& line, const Member& member) {
  const Json parsed = Json::parse(line, nullptr, false);
  if (parsed.is_discarded()) throw std::runtime_error("etcd: a watch message is not JSON");
  try {
    return decode_watch_message(parsed);
  } catch (const EtcdError& e) {
    // "no leader" (the member lost the quorum) or a member stopping: the history is intact, so
    // the watch resumes on another member rather than after a full read.
    if (retryable(e.code(), 200)) {
      throw Unavailable(member.name() + ": etcd ended the watch: " + e.what());
    }
    throw;
  }
}

bool blank(std::string_view text) {
  return text.find_first_not_of(" \t\r") == std::string_view::npos;
}

}  // namespace

Task<WatchMessage> Client::Watch::next() {
  State& s = *state_;
  for (;;) {
    const size_t newline = s.pending.find('\n');
    if (newline != std::string::npos) {
      const std::string line = s.pending.substr(0, newline);
      s.pending.erase(0, newline + 1);
      if (blank(line)) continue;
      co_return decode_watch_line(line, member_);
    }
    if (s.pending.size() > kMaxWatchLine) throw std::runtime_error("etcd: watch message too long");
    if (s.parser.is_done()) {
      // The gateway ends a stream with an error object that has no newline after it.
      if (!blank(s.pending)) {
        const std::string last = std::move(s.pending);
        s.pending.clear();
        co_return decode_watch_line(last, member_);
      }
      throw Unavailable(member_.name() + ": the watch stream ended");
    }
    s.parser.get().body().data = s.chunk.data();
    s.parser.get().body().size = s.chunk.size();
    auto [ec, read] = co_await http::async_read_some(s.connection->stream, s.connection->buffer,
                                                     s.parser, use_task);
    if (ec == http::error::need_buffer) ec = {};
    s.pending.append(s.chunk.data(), s.chunk.size() - s.parser.get().body().size);
    if (ec) throw Unavailable(member_.name() + ": the watch stream broke: " + describe(ec));
  }
}

}  // namespace sb::registry::etcd
