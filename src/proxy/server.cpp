#include "proxy/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <csignal>
#include <thread>

#include "admin/control_plane.hpp"
#include "core/log_event.hpp"
#include "core/log_format.hpp"
#include "core/process_signals.hpp"
#include "health/active_checker.hpp"
#include "proxy/proxy_metrics.hpp"
#include "proxy/reload.hpp"

namespace sb::proxy {

namespace {

asio::ip::tcp::endpoint listen_endpoint(const config::Endpoint& listen) {
  ErrorCode ec;
  const std::string host = listen.host == "localhost" ? "127.0.0.1" : listen.host;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) throw config::ConfigError("listen", "'" + listen.host + "' is not an IP address");
  return {address, listen.port};
}

std::string shown(const asio::ip::address& address) {
  return address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
}

uint64_t active_connections(const std::vector<std::unique_ptr<Worker>>& workers) {
  uint64_t n = 0;
  for (const auto& w : workers) n += w->stats().active.get() + (w->accepting() ? 1 : 0);
  return n;
}

}  // namespace

Server::Server(config::Config config, ConfigSource reload_source)
    : config_(std::move(config)), reload_source_(std::move(reload_source)) {
  const unsigned threads =
      config_.threads != 0 ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
  builder_ = std::make_unique<SnapshotBuilder>(config_, threads);
  if (config_.admin.enabled) {
    control_plane_ = std::make_unique<admin::ControlPlane>(
        config_, *builder_, snapshots_,
        [this](metrics::Exposition& out) { write_proxy_metrics(out, *this); },
        [this] {
          const ReloadResult result = reload();
          return std::pair{result.ok, result.message};
        });
  } else {
    snapshots_.publish(builder_->build());
  }
  access_log_ = std::make_unique<AccessLog>(config_.access_log.enabled, config_.access_log.path,
                                            config_.access_log.format == "json", threads);
  for (unsigned i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, *this, snapshots_, *access_log_));
  }
  // Always there, since a reload may add checks; without any it only looks at the snapshot now
  // and then.
  {
    checker_ = std::make_unique<health::ActiveChecker>([this] {
      std::vector<health::CheckTarget> targets;
      for (const auto& service : snapshots_.current()->services) {
        if (!service->health.check) continue;
        for (const auto& instance : service->instances) {
          targets.push_back({instance, service->name, *service->health.check});
        }
      }
      return targets;
    });
  }
}

Server::~Server() {
  if (checker_) checker_->stop();
  if (control_plane_) control_plane_->stop();
  for (auto& w : workers_) w->force_stop();
  workers_.clear();
}

int Server::run() {
  std::signal(SIGPIPE, SIG_IGN);
  // With accept_balance kernel, every worker listens on the same address with SO_REUSEPORT (with
  // port 0 the first worker's ephemeral port is shared by the rest); with exact, the first worker
  // alone listens and hands connections out.
  const bool exact = config_.accept_balance == "exact";
  asio::ip::tcp::endpoint endpoint = listen_endpoint(config_.listen);
  for (auto& w : workers_) {
    if (exact && w != workers_.front()) break;
    try {
      w->listen(endpoint, !exact);
    } catch (const std::system_error& e) {
      throw config::ConfigError("listen", "cannot listen on " + config_.listen.host + ":" +
                                              std::to_string(endpoint.port()) + ": " +
                                              e.code().message());
    }
    endpoint = w->local_endpoint();
  }
  // The admin line comes first: once the proxy line is out, both listeners take connections.
  if (control_plane_) {
    const asio::ip::tcp::endpoint admin = control_plane_->start();
    spdlog::info(
        "admin listening on http://{}:{} (registry in {})", shown(admin.address()), admin.port(),
        config_.registry.etcd.empty() ? config_.registry.data_dir : config_.registry.store);
  }
  for (auto& w : workers_) w->start(exact);
  if (checker_) checker_->start();
  const std::string shown_host = shown(endpoint.address());
  spdlog::info("proxy listening on http://{}:{} ({} worker{})", shown_host, endpoint.port(),
               workers_.size(), workers_.size() == 1 ? "" : "s");

  // SIGHUP reloads the configuration (on the thread that owns the snapshot builder) and waits
  // on; SIGTERM and SIGINT end the wait. (main blocked all three before any thread started.)
  int signal_number = 0;
  while ((signal_number = wait_for_process_signal()) == SIGHUP) {
    spdlog::info("received SIGHUP, reloading the configuration");
    if (control_plane_) {
      control_plane_->post([this] { reload(); });
    } else {
      reload();
    }
  }
  const char* signal_name = signal_number == SIGINT ? "SIGINT" : "SIGTERM";
  // From the signal on the health endpoint fails, whether or not a delay comes first: a request
  // for it that reaches a connection still open while the process drains gets 503 too.
  shutting_down_.store(true, std::memory_order_relaxed);
  if (config_.timeouts.shutdown_delay.count() > 0) {
    // Deploys: the outer balancer sees the health endpoint fail and stops sending while we still
    // serve what it sends meanwhile. A second signal cuts the wait short.
    spdlog::info("received {}, failing {} for {} ms before draining", signal_name,
                 config_.endpoints.health_path, config_.timeouts.shutdown_delay.count());
    const auto delay_ends = std::chrono::steady_clock::now() + config_.timeouts.shutdown_delay;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          delay_ends - std::chrono::steady_clock::now());
      const int next = left.count() > 0 ? wait_for_process_signal(left) : 0;
      if (next != SIGHUP) break;  // the delay is over, or a second stop signal cut it short
    }
  }
  spdlog::info("received {}, draining (up to {} ms)", signal_name, config_.timeouts.drain.count());
  if (checker_) checker_->stop();
  if (control_plane_) control_plane_->stop();
  drain();
  access_log_->stop();
  spdlog::info("stopped");
  return 0;
}

Server::ReloadResult Server::reload() {
  if (!reload_source_) return {false, "reload: no configuration file to read again"};
  try {
    config::Config fresh = reload_source_();
    if (const std::string why = restart_only_change(config_, fresh); !why.empty()) {
      log_event(spdlog::level::err, {.event = "config_rejected"},
                "config reload rejected, the running config stays: {}", why);
      return {false, why};
    }
    builder_->reconfigure(fresh);
    snapshots_.publish(builder_->build());
    apply_log_settings(fresh.log_format, fresh.log_level);
    config_ = std::move(fresh);
    const std::string done = "config reloaded: " + std::to_string(config_.services.size()) +
                             " service(s), " + std::to_string(config_.routes.size()) + " route(s)";
    log_event(spdlog::level::info, {.event = "config_reloaded"}, "{}", done);
    return {true, done};
  } catch (const config::ConfigError& e) {
    log_event(spdlog::level::err, {.event = "config_rejected"},
              "config reload rejected, the running config stays: {}", e.what());
    return {false, e.what()};
  }
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
