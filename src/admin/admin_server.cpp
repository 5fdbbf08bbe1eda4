#include "admin/admin_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <nlohmann/json.hpp>

#include "core/constant_time.hpp"

namespace sb::admin {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

using Stream = beast::basic_stream<asio::ip::tcp, Executor>;

// Registration bodies are limited to 64 KiB by the API, which answers 400 naming the field; the
// transport takes more so that answer can be given, and refuses anything larger outright (413).
constexpr size_t kMaxBody = 1024 * 1024;
constexpr size_t kMaxHead = 16 * 1024;
constexpr auto kIdleTimeout = std::chrono::seconds(75);
constexpr auto kWriteTimeout = std::chrono::seconds(30);

registry::ApiResponse error_answer(int status, const std::string& message) {
  registry::ApiResponse answer;
  answer.status = status;
  answer.body = nlohmann::json{{"error", message}}.dump();
  return answer;
}

http::response<http::string_body> make_response(unsigned version, bool keep_alive,
                                                const registry::ApiResponse& answer) {
  http::response<http::string_body> response{static_cast<http::status>(answer.status), version};
  response.set(http::field::server, "switchboard");
  const bool json = answer.content_type.empty();
  response.set(http::field::content_type, json ? "application/json" : answer.content_type);
  response.set(http::field::cache_control, "no-store");
  if (answer.index != 0) response.set("X-Switchboard-Index", std::to_string(answer.index));
  if (!answer.allow.empty()) response.set(http::field::allow, answer.allow);
  if (answer.ask_for_token)
    response.set(http::field::www_authenticate, "Bearer realm=\"switchboard\"");
  response.body() = json ? answer.body + "\n" : answer.body;
  response.keep_alive(keep_alive);
  response.prepare_payload();
  return response;
}

// "Bearer abc" -> "abc"; anything else -> "".
std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {  // the scheme is case-insensitive (RFC 9110)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return {};
    }
  }
  return authorization.substr(kScheme.size());
}

}  // namespace

AdminServer::AdminServer(asio::io_context& context, registry::RegistryApi& api,
                         BlockingQueries& queries, std::function<void()> after_call)
    : context_(context), api_(api), queries_(queries), after_call_(std::move(after_call)) {}

void AdminServer::listen(const asio::ip::tcp::endpoint& endpoint) {
  acceptor_.emplace(context_);
  acceptor_->open(endpoint.protocol());
  acceptor_->set_option(asio::socket_base::reuse_address(true));
  acceptor_->bind(endpoint);
  acceptor_->listen(asio::socket_base::max_listen_connections);
}

void AdminServer::start() {
  asio::co_spawn(context_, accept_loop(), asio::detached);
}

void AdminServer::stop() {
  stopping_ = true;
  ErrorCode ignored;
  if (acceptor_) acceptor_->close(ignored);
  queries_.wake_all();
  for (Socket* socket : reading_) socket->close(ignored);
}

Task<void> AdminServer::accept_loop() {
  while (!stopping_) {
    auto accepted = co_await acceptor_->async_accept(use_task);
    if (std::get<0>(accepted)) {
      if (stopping_ || std::get<0>(accepted) == asio::error::operation_aborted) co_return;
      spdlog::warn("admin accept failed: {}", std::get<0>(accepted).message());
      continue;
    }
    asio::co_spawn(context_, session(std::move(std::get<1>(accepted))), asio::detached);
  }
}

std::chrono::milliseconds AdminServer::jitter(std::chrono::milliseconds wait) {
  // Consul's: up to wait/16, so clients parked together do not all come back together.
  const auto span = wait.count() / 16;
  if (span <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, span)(random_));
}

Task<registry::ApiResponse> AdminServer::call_api(const registry::ApiRequest& request) {
  registry::ApiResponse response = api_.handle(request);
  if (response.write) {
    registry::RegistryWrite write = std::move(*response.write);
    registry::WriteOutcome outcome{registry::Result::kOk, "no store takes writes"};
    if (writer_) outcome = co_await writer_(write);
    response = api_.complete(write, outcome);
  }
  after_call_();
  if (!response.wait) co_return response;

  const auto deadline =
      std::chrono::steady_clock::now() + response.wait->wait + jitter(response.wait->wait);
  Timer timer(context_);
  parked_.fetch_add(1, std::memory_order_acq_rel);
  for (;;) {
    timer.expires_at(deadline);
    {
      // Wakes on any change of the watched service; handle() below decides whether the index
      // moved past the client's (a change to another instance field may not have).
      BlockingQueries::Parked parked(queries_, response.wait->service, timer);
      co_await timer.async_wait(use_task);
    }
    if (stopping_ || std::chrono::steady_clock::now() >= deadline) break;
    response = api_.handle(request);
    if (!response.wait) break;
  }
  parked_.fetch_sub(1, std::memory_order_acq_rel);
  if (response.wait) response = api_.handle(request, registry::WaitMode::kAnswerNow);
  co_return response;
}

Task<void> AdminServer::session(Socket socket) {
  Stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHead);
    parser.body_limit(kMaxBody);
    if (stopping_) break;
    stream.expires_after(kIdleTimeout);
    reading_.insert(&stream.socket());
    auto read = co_await http::async_read(stream, buffer, parser, use_task);
    reading_.erase(&stream.socket());
    const ErrorCode read_error = std::get<0>(read);
    registry::ApiResponse answer;
    bool keep_alive = false;
    unsigned version = 11;
    if (stopping_ || read_error == http::error::end_of_stream ||
        read_error == beast::error::timeout || read_error == asio::error::connection_reset ||
        read_error == asio::error::eof) {
      break;
    } else if (read_error == http::error::body_limit) {
      answer = error_answer(413, "request body larger than 1 MiB");
    } else if (read_error == http::error::header_limit) {
      answer = error_answer(431, "request head larger than 16 KiB");
    } else if (read_error) {
      answer = error_answer(400, "bad request: " + read_error.message());
    } else {
      const auto& request = parser.get();
      version = request.version();
      keep_alive = request.keep_alive() && !stopping_;
      const std::string_view target = request.target();
      const size_t question = target.find('?');
      const registry::ApiRequest api_request{
          request.method_string(), target.substr(0, question),
          question == std::string_view::npos ? std::string_view() : target.substr(question + 1),
          request.body()};
      const bool reading =
          request.method() == http::verb::get || request.method() == http::verb::head;
      const auto public_page = pages_.find(api_request.path);
      const bool open =
          reading &&
          (open_reads_ || (public_page != pages_.end() && public_page->second.public_page));
      if (!token_.empty() && !open &&
          !constant_time_equal(bearer_token(request[http::field::authorization]), token_)) {
        answer = error_answer(401, "missing or wrong bearer token (Authorization: Bearer ...)");
        answer.ask_for_token = true;
      } else if (api_request.path == "/v1/admin/reload" && reload_) {
        if (request.method() != http::verb::post) {
          answer = error_answer(405, "method not allowed");
          answer.allow = "POST";
        } else {
          const auto [applied, message] = reload_();
          if (applied) {
            answer.status = 200;
            answer.body = nlohmann::json{{"reloaded", true}, {"message", message}}.dump();
          } else {
            answer = error_answer(400, message);
          }
        }
      } else if (const auto page = pages_.find(api_request.path); page != pages_.end()) {
        if (request.method() == http::verb::get) {
          answer.status = 200;
          answer.body = page->second.body();
          answer.content_type = page->second.content_type;
        } else {
          answer = error_answer(405, "method not allowed");
          answer.allow = "GET";
        }
      } else {
        answer = co_await call_api(api_request);
      }
    }
    auto response = make_response(version, keep_alive, answer);
    stream.expires_after(kWriteTimeout);
    auto written = co_await http::async_write(stream, response, use_task);
    if (std::get<0>(written) || !keep_alive) break;
  }
  ErrorCode ignored;
  stream.socket().shutdown(asio::socket_base::shutdown_both, ignored);
}

}  // namespace sb::admin
