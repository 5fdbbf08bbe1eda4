// HttpServer: the accept loop and the per-connection coroutine (read a request, route it, run the
// handler inline or on the worker pool, write the JSON reply, repeat while keep-alive).
#include "http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <exception>
#include <string_view>
#include <tuple>

namespace runner {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(60);  // between requests on a connection
constexpr auto kIoTimeout = std::chrono::seconds(30);    // one request's read or reply's write
constexpr size_t kBodyLimit = 1 << 20;                   // task requests are a few bytes

http::response<http::string_body> to_response(const JsonReply& reply, const Request& request) {
  http::response<http::string_body> res{static_cast<http::status>(reply.status), request.version()};
  res.set(http::field::server, "switchboard-runner");
  res.set(http::field::content_type, "application/json");
  if (reply.status == 405) {
    const auto allow = reply.body.find("allow");
    if (allow != reply.body.end() && allow->is_string()) {
      res.set(http::field::allow, allow->get<std::string>());
    }
  }
  res.body() = reply.body.dump() + "\n";
  res.keep_alive(request.keep_alive());
  res.prepare_payload();
  return res;
}

JsonReply run_handler(const Route& route, const Request& request) {
  try {
    return route.handler(request);
  } catch (const std::exception& e) {
    return {500, {{"error", std::string("internal error: ") + e.what()}}};
  }
}

}  // namespace

struct HttpServer::Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  bool busy = false;  // a request is being handled; touched only on the connection's strand
};

struct HttpServer::Impl {
  // Runs on the connection's strand; the handler of a blocking route runs on the worker pool
  // while this coroutine waits.
  static asio::awaitable<void> serve(HttpServer& server, std::shared_ptr<Connection> conn) {
    beast::tcp_stream& stream = conn->stream;
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kBodyLimit);
      // The idle wait and the request share one deadline: simple, and generous for a demo.
      stream.expires_after(buffer.size() == 0 ? kIdleTimeout : kIoTimeout);
      auto read =
          co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      const beast::error_code read_error = std::get<0>(read);
      if (read_error) {
        // A malformed request is answered; a closed, reset or timed-out connection is not.
        const bool client_gone =
            read_error == http::error::end_of_stream || read_error == beast::error::timeout ||
            read_error == asio::error::eof || read_error == asio::error::connection_reset ||
            read_error == asio::error::operation_aborted || !stream.socket().is_open();
        if (!client_gone) {
          Request bad;
          bad.version(11);
          bad.keep_alive(false);
          const bool too_big = read_error == http::error::body_limit;
          const JsonReply reply{too_big ? 413u : 400u,
                                {{"error", "bad request: " + read_error.message()}}};
          auto res = to_response(reply, bad);
          stream.expires_after(kIoTimeout);
          co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        }
        break;
      }
      conn->busy = true;
      const Request request = parser.release();
      const Route* blocking = nullptr;
      JsonReply reply = server.route(request, &blocking);
      if (blocking != nullptr) {
        const Route& route = *blocking;
        reply = co_await asio::co_spawn(
            server.workers_,
            [&route, &request]() -> asio::awaitable<JsonReply> {
              co_return run_handler(route, request);
            },
            asio::use_awaitable);
      }
      auto res = to_response(reply, request);
      if (server.is_stopping()) res.keep_alive(false);  // this answer is the connection's last
      stream.expires_after(kIoTimeout);
      auto written = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      conn->busy = false;
      if (std::get<0>(written) || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
    std::lock_guard lock(server.connections_mutex_);
    server.connections_.erase(conn.get());
  }

  // Runs on accept_strand_, where stop() also closes the acceptor.
  static asio::awaitable<void> accept_loop(HttpServer& server) {
    for (;;) {
      // Each connection gets its own strand: its socket, its tcp_stream timer and its coroutine
      // then never run on two I/O threads at once.
      tcp::socket socket(asio::make_strand(server.io_));
      auto accepted =
          co_await server.acceptor_.async_accept(socket, asio::as_tuple(asio::use_awaitable));
      const beast::error_code ec = std::get<0>(accepted);
      if (ec == asio::error::operation_aborted || !server.acceptor_.is_open()) co_return;
      if (ec) continue;  // e.g. EMFILE, or a connection reset before accept
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto conn = std::make_shared<Connection>(std::move(socket));
      {
        std::lock_guard lock(server.connections_mutex_);
        if (server.stopping_) co_return;  // closes the socket: stop() has taken its census
        server.connections_.emplace(conn.get(), conn);
      }
      auto executor = conn->stream.get_executor();
      asio::co_spawn(executor, serve(server, std::move(conn)), asio::detached);
    }
  }
};

HttpServer::HttpServer(const std::string& host, uint16_t port, unsigned io_threads,
                       unsigned worker_threads)
    : io_thread_count_(io_threads == 0 ? 1 : io_threads),
      io_(static_cast<int>(io_thread_count_)),
      workers_(worker_threads == 0 ? 1 : worker_threads),
      accept_strand_(asio::make_strand(io_)),
      acceptor_(accept_strand_) {
  const auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host);
  const tcp::endpoint endpoint(address, port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::start(std::vector<Route> routes) {
  routes_ = std::move(routes);
  asio::co_spawn(accept_strand_, Impl::accept_loop(*this), asio::detached);
  for (unsigned i = 0; i < io_thread_count_; ++i) io_threads_.emplace_back([this] { io_.run(); });
}

bool HttpServer::is_stopping() {
  std::lock_guard lock(connections_mutex_);
  return stopping_;
}

// Nothing is abandoned mid-flight: the I/O threads return from run() on their own once the
// acceptor and every connection are closed, so no coroutine frame outlives the io_context's
// services (destroying suspended frames in ~io_context touches services already gone).
void HttpServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  std::vector<std::shared_ptr<Connection>> open;
  {
    std::lock_guard lock(connections_mutex_);
    stopping_ = true;
    for (auto& [key, weak] : connections_) {
      if (auto conn = weak.lock()) open.push_back(std::move(conn));
    }
  }
  asio::post(accept_strand_, [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  // On each connection's strand, so it cannot race the connection's coroutine: an idle one is
  // closed now; a busy one sees is_stopping() and closes after writing its answer.
  for (auto& conn : open) {
    asio::post(conn->stream.get_executor(), [conn] {
      if (conn->busy) return;
      beast::error_code ignored;
      conn->stream.socket().close(ignored);
    });
  }
  for (std::thread& t : io_threads_) t.join();
  workers_.join();
}

JsonReply HttpServer::route(const Request& request, const Route** blocking_route) const {
  std::string_view target = request.target();
  target = target.substr(0, target.find('?'));
  std::string allow;
  for (const Route& route : routes_) {
    if (route.path != target) continue;
    if (route.method == request.method()) {
      if (route.blocking) {
        *blocking_route = &route;
        return {};
      }
      return run_handler(route, request);
    }
    if (!allow.empty()) allow += ", ";
    allow += std::string(http::to_string(route.method));
  }
  if (!allow.empty()) {
    return {405,
            {{"error", "method " + std::string(request.method_string()) + " not allowed on " +
                           std::string(target)},
             {"allow", allow}}};
  }
  return {404, {{"error", "no such path: " + std::string(target)}}};
}

}  // namespace runner
