// Shared by the client unit tests: a scripted HTTP/1.1 server on 127.0.0.1:0 (one request per
// connection, answered by a handler on the server's thread, or never answered), and a port that
// refuses connections.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace switchboard::testing {

struct SeenRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct Reply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class FakeAdmin {
 public:
  // std::nullopt: keep the connection open and never answer (a parked blocking query, a hung
  // server).
  using Handler = std::function<std::optional<Reply>(const SeenRequest&)>;

  explicit FakeAdmin(Handler handler) : handler_(std::move(handler)) {
    namespace ip = boost::asio::ip;
    acceptor_.open(ip::tcp::v4());
    acceptor_.bind({ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    accept();
    thread_ = std::thread([this] { loop_.run(); });
  }
  // Closes everything on the server's thread and lets the loop run out of work: a loop stopped
  // with an accept pending would destroy that accept's socket after the socket service.
  ~FakeAdmin() {
    boost::asio::post(loop_, [this] {
      acceptor_.close();
      hung_.clear();
    });
    thread_.join();
  }
  FakeAdmin(const FakeAdmin&) = delete;
  FakeAdmin& operator=(const FakeAdmin&) = delete;

  std::string address() const {
    return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  std::vector<SeenRequest> requests() const {
    const std::lock_guard lock(mutex_);
    return requests_;
  }
  size_t count(const std::string& method, const std::string& target) const {
    size_t n = 0;
    for (const auto& seen : requests()) n += seen.method == method && seen.target == target;
    return n;
  }

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket s) {
      if (ec) return;
      serve(std::move(s));
      accept();
    });
  }

  // Synchronous: the clients under test send their request at once.
  void serve(boost::asio::ip::tcp::socket socket) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> request;
    boost::system::error_code ec;
    http::read(socket, buffer, request, ec);
    if (ec) return;
    SeenRequest seen{
        std::string(request.method_string()), std::string(request.target()), {}, request.body()};
    for (const auto& field : request) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      seen.headers[name] = std::string(field.value());
    }
    {
      const std::lock_guard lock(mutex_);
      requests_.push_back(seen);
    }
    const std::optional<Reply> reply = handler_(seen);
    if (!reply) {
      hung_.push_back(std::move(socket));
      return;
    }
    http::response<http::string_body> response{static_cast<http::status>(reply->status), 11};
    for (const auto& [name, value] : reply->headers) response.set(name, value);
    response.set(http::field::content_type, "application/json");
    response.body() = reply->body;
    response.keep_alive(false);
    response.prepare_payload();
    http::write(socket, response, ec);
  }

  Handler handler_;
  boost::asio::io_context loop_{1};
  boost::asio::ip::tcp::acceptor acceptor_{loop_};
  std::vector<boost::asio::ip::tcp::socket> hung_;  // server thread only
  mutable std::mutex mutex_;
  std::vector<SeenRequest> requests_;
  std::thread thread_;
};

// A bound, non-listening port: connecting to it is refused, and nobody else can take it.
class RefusingPort {
 public:
  RefusingPort() {
    namespace ip = boost::asio::ip;
    socket_.open(ip::tcp::v4());
    socket_.bind({ip::make_address("127.0.0.1"), 0});
  }
  std::string address() const {
    return "127.0.0.1:" + std::to_string(socket_.local_endpoint().port());
  }

 private:
  boost::asio::io_context loop_{1};
  boost::asio::ip::tcp::socket socket_{loop_};
};

// Polls until `condition` holds or `timeout` passes; returns whether it held.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace switchboard::testing
