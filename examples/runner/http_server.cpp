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

struct HttpServer::Impl {
  // Runs on the connection's strand; the handler of a blocking route runs on the worker pool
  // while this coroutine waits.
  static asio::awaitable<void> serve(HttpServer& server, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
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
            read_error == asio::error::operation_aborted;
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
      stream.expires_after(kIoTimeout);
      auto written = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      if (std::get<0>(written) || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  static asio::awaitable<void> accept_loop(HttpServer& server) {
    for (;;) {
      // Each connection gets its own strand: its socket, its tcp_stream timer and its coroutine
      // then never run on two I/O threads at once.
      tcp::socket socket(asio::make_strand(server.io_));
      auto accepted =
          co_await server.acceptor_.async_accept(socket, asio::as_tuple(asio::use_awaitable));
      const beast::error_code ec = std::get<0>(accepted);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) continue;  // e.g. EMFILE, or a connection reset before accept
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto executor = socket.get_executor();
      asio::co_spawn(executor, serve(server, std::move(socket)), asio::detached);
    }
  }
};

HttpServer::HttpServer(const std::string& host, uint16_t port, unsigned io_threads,
                       unsigned worker_threads)
    : io_thread_count_(io_threads == 0 ? 1 : io_threads),
      io_(static_cast<int>(io_thread_count_)),
      workers_(worker_threads == 0 ? 1 : worker_threads),
      acceptor_(io_) {
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
  asio::co_spawn(io_, Impl::accept_loop(*this), asio::detached);
  for (unsigned i = 0; i < io_thread_count_; ++i) io_threads_.emplace_back([this] { io_.run(); });
}

void HttpServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  io_.stop();
  for (std::thread& t : io_threads_) t.join();
  beast::error_code ignored;
  acceptor_.close(ignored);  // no I/O thread left to race with
  // Handlers already running finish (their completions queue on the stopped io_context and are
  // destroyed with it); the ones not yet started are dropped.
  workers_.stop();
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
