// A tiny blocking HTTP/1.1 client for the admin API and `switchboard call`: one connection per
// call, one deadline for the whole exchange, cancellable from another thread. Not a proxy path.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard::detail {

struct HostPort {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
  uint16_t port = 0;

  std::string text() const;  // "host:port", "[::1]:port"
};

// "host:port" or "[v6]:port" with a port of 1-65535; std::nullopt for anything else.
std::optional<HostPort> parse_host_port(std::string_view text);

// Percent-encodes everything but RFC 3986's unreserved characters, so a value is one path
// segment (an instance id may contain '/').
std::string percent_encode(std::string_view text);

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  // Sent as given after the defaults (Host, User-Agent, Connection: close); a name given here
  // replaces a default of the same name.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first header of that name (case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const;
};

// The exchange failed below HTTP: refused, reset, timed out, not HTTP. `request_sent` is false
// when the connection was never established, so even a non-idempotent request can go elsewhere.
class TransportError : public std::runtime_error {
 public:
  TransportError(const std::string& message, bool request_sent)
      : std::runtime_error(message), request_sent_(request_sent) {}
  bool request_sent() const { return request_sent_; }

 private:
  bool request_sent_;
};

class CallCancelled : public std::runtime_error {
 public:
  CallCancelled() : std::runtime_error("call cancelled") {}
};

// Ends calls in progress on other threads (they throw CallCancelled) and fails later ones: how a
// thread parked in a 30 s blocking query is stopped at once. Once cancelled, stays cancelled.
class CallCancel {
 public:
  void cancel();
  bool cancelled() const;

 private:
  friend class CallScope;
  mutable std::mutex mutex_;
  bool cancelled_ = false;
  // How to abort each call in progress: a function that asks the call's own event loop to close
  // its socket, so the loop completes every operation before the call returns (io_uring may
  // still be writing into a buffer the call owns until then; abandoning the loop is not safe).
  std::vector<const std::function<void()>*> running_;
};

inline constexpr size_t kDefaultBodyLimit = 64 * 1024 * 1024;

// Connects to `to`, sends `request`, reads the whole response. Throws TransportError, or
// CallCancelled when `cancel` fired. `timeout` bounds everything, name resolution included.
HttpResponse http_call(const HostPort& to, const HttpRequest& request,
                       std::chrono::milliseconds timeout, CallCancel* cancel = nullptr,
                       size_t body_limit = kDefaultBodyLimit);

}  // namespace switchboard::detail
