#include "proxy/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <thread>

namespace sb::proxy {

namespace {

asio::ip::tcp::endpoint listen_endpoint(const config::Endpoint& listen) {
  ErrorCode ec;
  const std::string host = listen.host == "localhost" ? "127.0.0.1" : listen.host;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) throw config::ConfigError("listen", "'" + listen.host + "' is not an IP address");
  return {address, listen.port};
}

uint64_t active_connections(const std::vector<std::unique_ptr<Worker>>& workers) {
  uint64_t n = 0;
  for (const auto& w : workers) n += w->stats().active.get() + (w->accepting() ? 1 : 0);
  return n;
}

}  // namespace

Server::Server(config::Config config) : config_(std::move(config)) {
  const unsigned threads =
      config_.threads != 0 ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
  snapshots_.publish(build_snapshot(config_, threads, ids_));
  access_log_ = std::make_unique<AccessLog>(config_.access_log.enabled, config_.access_log.path,
                                            config_.access_log.format == "json", threads);
  for (unsigned i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, *this, snapshots_, *access_log_));
  }
}

Server::~Server() {
  for (auto& w : workers_) w->force_stop();
  workers_.clear();
}

int Server::run() {
  std::signal(SIGPIPE, SIG_IGN);
  // Every worker listens on the same address with SO_REUSEPORT; with port 0 the first worker's
  // ephemeral port is shared by the rest.
  asio::ip::tcp::endpoint endpoint = listen_endpoint(config_.listen);
  for (auto& w : workers_) {
    try {
      w->listen(endpoint);
    } catch (const std::system_error& e) {
      throw config::ConfigError("listen", "cannot listen on " + config_.listen.host + ":" +
                                              std::to_string(endpoint.port()) + ": " +
                                              e.code().message());
    }
    endpoint = w->local_endpoint();
  }
  asio::io_context signals_context(1);
  asio::signal_set signals(signals_context, SIGINT, SIGTERM);
  for (auto& w : workers_) w->start();
  const std::string shown_host = endpoint.address().is_v6()
                                     ? "[" + endpoint.address().to_string() + "]"
                                     : endpoint.address().to_string();
  spdlog::info("proxy listening on http://{}:{} ({} worker{})", shown_host, endpoint.port(),
               workers_.size(), workers_.size() == 1 ? "" : "s");

  int signal_number = 0;
  signals.async_wait([&](const ErrorCode&, int number) { signal_number = number; });
  signals_context.run();
  spdlog::info("received {}, draining (up to {} ms)",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM", config_.timeouts.drain.count());
  drain();
  access_log_->stop();
  spdlog::info("stopped");
  return 0;
}

void Server::drain() {
  for (auto& w : workers_) w->begin_drain();
  // Poll the connection count (an accept loop still waiting counts as one): requests in flight
  // finish on their own, and nothing here is on the request path.
  const auto deadline = std::chrono::steady_clock::now() + config_.timeouts.drain;
  while (active_connections(workers_) > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const uint64_t left = active_connections(workers_);
  if (left > 0) spdlog::warn("drain timeout: closing {} connection(s) still open", left);
  for (auto& w : workers_) w->force_stop();
  for (auto& w : workers_) w->join();
}

}  // namespace sb::proxy
