// The admin listener (default 127.0.0.1:8091): a small HTTP/1.1 server for the control plane. It
// serves the registry API under /v1 and parks its blocking queries. Beast parses here: the admin
// path carries registrations and heartbeats, not proxied traffic, so clarity beats the proxy's
// hand-tuned parser.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <unordered_set>

#include "admin/blocking_queries.hpp"
#include "core/io.hpp"
#include "registry/api.hpp"

namespace sb::admin {

// Runs on the registry's thread: the io_context given is that thread's loop.
class AdminServer {
 public:
  // `after_call` runs after every registry API call, before its answer is written: the control
  // plane publishes the proxy's new snapshot there, so a 2xx means the proxy already routes by it.
  AdminServer(asio::io_context& context, registry::RegistryApi& api, BlockingQueries& queries,
              std::function<void()> after_call);

  // GET `path` answers what `body` returns, as `content_type` (an empty type: JSON): /metrics,
  // the dashboard page and its data. Other methods get 405. A `public_page` is read without the
  // token: the dashboard's page, which holds no state (its data comes from /v1/dashboard, which
  // the page asks for with the token typed into it) and which a browser could not open at all
  // otherwise, since it sends no bearer token when it navigates.
  void serve_page(std::string path, std::string content_type, std::function<std::string()> body,
                  bool public_page = false) {
    pages_[std::move(path)] = {std::move(content_type), std::move(body), public_page};
  }
  // POST /v1/admin/reload: re-reads the configuration; (applied, one line saying what or why not).
  using Reload = std::function<std::pair<bool, std::string>()>;
  void serve_reload(Reload reload) { reload_ = std::move(reload); }

  // Cluster mode (RegistryApi with WriteMode::kDeferred): carries out the writes the API hands
  // back, asynchronously (registry/etcd_registry.hpp).
  using Writer = std::function<Task<registry::WriteOutcome>(registry::RegistryWrite)>;
  void serve_writes(Writer writer) { writer_ = std::move(writer); }

  // Every request must carry `Authorization: Bearer <token>` (401 otherwise, nothing changed);
  // with `open_reads`, GET and HEAD need not. An empty token: no check.
  void require_token(std::string token, bool open_reads) {
    token_ = std::move(token);
    open_reads_ = open_reads;
  }

  // Binds and listens; throws std::system_error.
  void listen(const asio::ip::tcp::endpoint& endpoint);
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_->local_endpoint(); }
  void start();
  // Registry thread: stop accepting, answer parked queries now, and close idle connections, so
  // that every coroutine of this server ends and the io_context runs out of work. (Asio on
  // io_uring must not destroy a socket with an operation pending after its service is gone.)
  void stop();
  // Any thread: blocking queries still parked (the shutdown waits for them to answer).
  size_t parked() const { return parked_.load(std::memory_order_acquire); }

 private:
  Task<void> accept_loop();
  Task<void> session(Socket socket);
  Task<registry::ApiResponse> call_api(const registry::ApiRequest& request);
  std::chrono::milliseconds jitter(std::chrono::milliseconds wait);

  asio::io_context& context_;
  registry::RegistryApi& api_;
  BlockingQueries& queries_;
  std::function<void()> after_call_;
  struct Page {
    std::string content_type;
    std::function<std::string()> body;
    bool public_page = false;
  };
  std::map<std::string, Page, std::less<>> pages_;
  Reload reload_;
  Writer writer_;
  std::string token_;
  bool open_reads_ = false;
  std::optional<Acceptor> acceptor_;
  std::minstd_rand random_{std::random_device{}()};
  std::atomic<size_t> parked_{0};
  // Connections waiting for their next request; stop() closes them.
  std::unordered_set<Socket*> reading_;
  bool stopping_ = false;
};

}  // namespace sb::admin
