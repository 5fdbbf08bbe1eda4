// The blocking HTTP/1.1 client (see http_call.hpp): Beast's serializer and parser over an Asio
// socket, driven by a private event loop so that one timer bounds the whole exchange and another
// thread can stop it.
#include "client/http_call.hpp"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <set>

namespace switchboard::detail {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// Enrols one call's abort function with a CallCancel for as long as the call runs, so cancel()
// can reach it; refuses to start a call once cancelled.
class CallScope {
 public:
  CallScope(CallCancel* cancel, const std::function<void()>& abort)
      : cancel_(cancel), abort_(abort) {
    if (cancel_ == nullptr) return;
    const std::lock_guard lock(cancel_->mutex_);
    if (cancel_->cancelled_) throw CallCancelled();
    cancel_->running_.push_back(&abort_);
  }
  ~CallScope() {
    if (cancel_ == nullptr) return;
    const std::lock_guard lock(cancel_->mutex_);
    std::erase(cancel_->running_, &abort_);
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  CallCancel* cancel_;
  const std::function<void()>& abort_;
};

namespace {

std::string describe(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::optional<uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65'535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

// Headers the caller gives replace the defaults of the same name; a name given twice is sent twice.
void apply_headers(http::request<http::string_body>& message,
                   const std::vector<std::pair<std::string, std::string>>& headers) {
  std::set<std::string> replaced;
  for (const auto& [name, value] : headers) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (replaced.insert(lower).second) {
      message.set(name, value);
    } else {
      message.insert(name, value);
    }
  }
}

}  // namespace

std::string HostPort::text() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare IPv6: ambiguous
  }
  const auto number = parse_port(port);
  if (host.empty() || !number) return std::nullopt;
  for (const char c : host) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '[' || c == ']') {
      return std::nullopt;
    }
  }
  return HostPort{std::string(host), *number};
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (is_unreserved(c)) {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

std::optional<std::string_view> HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (boost::beast::iequals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

void CallCancel::cancel() {
  const std::lock_guard lock(mutex_);
  cancelled_ = true;
  for (const std::function<void()>* abort : running_) (*abort)();
}

bool CallCancel::cancelled() const {
  const std::lock_guard lock(mutex_);
  return cancelled_;
}

HttpResponse http_call(const HostPort& to, const HttpRequest& request,
                       std::chrono::milliseconds timeout, CallCancel* cancel, size_t body_limit) {
  // Declared first, destroyed last: the loop runs until every operation has completed (the
  // timeout and cancel() close the socket rather than abandon the loop), so nothing is pending
  // when the objects below go.
  asio::io_context loop(1);
  tcp::resolver resolver(loop);
  tcp::socket socket(loop);
  asio::steady_timer deadline(loop);

  http::request<http::string_body> message;
  message.version(11);
  message.method_string(request.method);
  message.target(request.target);
  message.set(http::field::host, to.text());
  message.set(http::field::user_agent, "switchboard-client/0.1");
  message.set(http::field::connection, "close");
  apply_headers(message, request.headers);
  message.body() = request.body;
  message.prepare_payload();

  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  if (request.method == "HEAD") parser.skip(true);
  boost::beast::flat_buffer buffer;

  enum class Stage { kConnecting, kSending, kReceiving };
  Stage stage = Stage::kConnecting;
  bool done = false;
  bool timed_out = false;
  bool aborted = false;
  error_code failure;

  const auto finish = [&](error_code ec) {
    done = true;
    failure = ec;
    deadline.cancel();
    resolver.cancel();
  };
  const auto on_read = [&](error_code ec, size_t) { finish(ec); };
  const auto on_write = [&](error_code ec, size_t) {
    if (ec) return finish(ec);
    stage = Stage::kReceiving;
    http::async_read(socket, buffer, parser, on_read);
  };
  const auto on_connect = [&](error_code ec) {
    if (ec) return finish(ec);
    stage = Stage::kSending;
    http::async_write(socket, message, on_write);
  };
  const auto on_resolve = [&](error_code ec, const tcp::resolver::results_type& results) {
    if (ec) return finish(ec);
    asio::async_connect(socket, results, [&](error_code connect_ec, const tcp::endpoint&) {
      on_connect(connect_ec);
    });
  };

  // cancel() runs on another thread: it only posts, and the loop's thread does the closing.
  const std::function<void()> abort = [&] {
    asio::post(loop, [&] {
      if (done) return;
      aborted = true;
      deadline.cancel();
      resolver.cancel();
      error_code ignored;
      socket.close(ignored);
    });
  };
  const CallScope scope(cancel, abort);

  deadline.expires_after(timeout);
  deadline.async_wait([&](error_code ec) {
    if (ec) return;  // cancelled: the exchange finished first
    timed_out = true;
    resolver.cancel();
    error_code ignored;
    socket.close(ignored);
  });
  error_code not_numeric;
  const asio::ip::address address = asio::ip::make_address(to.host, not_numeric);
  if (!not_numeric) {
    socket.async_connect(tcp::endpoint(address, to.port), on_connect);
  } else {
    resolver.async_resolve(to.host, std::to_string(to.port), on_resolve);
  }
  loop.run();

  if (aborted) throw CallCancelled();
  const bool sent = stage != Stage::kConnecting;
  const std::string where = to.text() + ": ";
  if (timed_out) {
    const char* during = stage == Stage::kConnecting ? "connecting"
                         : stage == Stage::kSending  ? "sending the request"
                                                     : "waiting for the response";
    throw TransportError(where + "timed out after " + describe(timeout) + " " + during, sent);
  }
  if (failure == http::error::end_of_stream) {
    throw TransportError(where + "connection closed before a response", sent);
  }
  if (failure == http::error::body_limit) {
    throw TransportError(
        where + "response body larger than " + std::to_string(body_limit) + " bytes", sent);
  }
  if (failure &&
      failure.category() == http::make_error_code(http::error::end_of_stream).category()) {
    throw TransportError(where + "not a valid HTTP response (" + failure.message() + ")", sent);
  }
  if (failure) {
    const char* during = stage == Stage::kConnecting ? "connect: " : "";
    throw TransportError(where + during + failure.message(), sent);
  }

  HttpResponse response;
  auto& reply = parser.get();
  response.status = static_cast<int>(reply.result_int());
  for (const auto& field : reply) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = std::move(reply.body());
  return response;
}

}  // namespace switchboard::detail
