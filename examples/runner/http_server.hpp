// A small JSON-over-HTTP/1.1 server for the example services: Boost.Beast on Asio, one coroutine
// per keep-alive connection, and a thread pool for handlers that block (file locks, fsync).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace runner {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

struct JsonReply {
  unsigned status = 200;
  nlohmann::json body;
};

struct Route {
  boost::beast::http::verb method;
  std::string path;  // exact match, query string ignored
  // Blocking handlers run on the worker pool, so a request waiting for a file lock holds neither
  // an I/O thread nor the other connections on it.
  bool blocking = false;
  std::function<JsonReply(const Request&)> handler;
};

class HttpServer {
 public:
  // Binds and listens at once (port 0: ephemeral), so local_endpoint() is known before the
  // routes are (the runner's default id comes from its port). Throws boost::system::system_error
  // when the address cannot be bound.
  HttpServer(const std::string& host, uint16_t port, unsigned io_threads, unsigned worker_threads);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

  // Starts accepting and serving `routes` on the I/O threads. Call once.
  void start(std::vector<Route> routes);
  // Stops accepting, closes idle connections, lets requests in progress finish and answer, and
  // returns when every connection is gone. Idempotent; called from the thread that called start().
  void stop();

 private:
  struct Impl;        // the accept and connection coroutines; nested, so they reach the members
  struct Connection;  // one client connection, shared by its coroutine and stop()

  JsonReply route(const Request& request, const Route** blocking_route) const;
  bool is_stopping();

  std::vector<Route> routes_;
  unsigned io_thread_count_;
  // Declared before the pool: handlers that finish on the pool post their completion to the
  // io_context, so it must outlive the pool.
  boost::asio::io_context io_;
  boost::asio::thread_pool workers_;
  boost::asio::strand<boost::asio::io_context::executor_type> accept_strand_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::thread> io_threads_;
  bool stopped_ = false;

  // Open connections, for stop() to close. Registering a connection and setting stopping_ both
  // happen under the mutex, so no connection accepted during stop() escapes being closed.
  std::mutex connections_mutex_;
  bool stopping_ = false;
  std::unordered_map<const Connection*, std::weak_ptr<Connection>> connections_;
};

}  // namespace runner
