// The proxy process: builds the snapshot from the config, starts the control plane (registry and
// admin listener) unless the admin listener is off, opens one listening socket per worker, runs
// the workers, and on SIGTERM/SIGINT stops the control plane and drains the workers (stop
// accepting, close idle connections, let requests in flight finish up to the drain timeout).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/snapshot_publisher.hpp"
#include "proxy/access_log.hpp"
#include "proxy/snapshot.hpp"
#include "proxy/snapshot_builder.hpp"
#include "proxy/worker.hpp"

namespace sb::admin {
class ControlPlane;
}
namespace sb::health {
class ActiveChecker;
}

namespace sb::proxy {

class Server {
 public:
  // Reads the configuration again for a hot reload (the file plus the command line's overrides);
  // throws config::ConfigError. Empty: reloading is refused.
  using ConfigSource = std::function<config::Config()>;

  explicit Server(config::Config config, ConfigSource reload_source = {});
  ~Server();

  // Binds, serves until a stop signal, drains; returns the process exit code.
  int run();

  unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }
  const Worker& worker(unsigned i) const { return *workers_[i]; }
  Worker& worker(unsigned i) { return *workers_[i]; }
  std::shared_ptr<const Snapshot> snapshot() const { return snapshots_.current(); }
  const AccessLog& access_log() const { return *access_log_; }
  // Any thread: a stop signal came (the shutdown delay runs, or the workers drain); the health
  // endpoint fails.
  bool shutting_down() const { return shutting_down_.load(std::memory_order_relaxed); }

 private:
  void drain();
  // Reads the configuration again and applies it; on the thread that owns the snapshot builder
  // (the control plane's, or the main one without it). The answer is one line for the log and
  // the API: what was applied, or why nothing was.
  struct ReloadResult {
    bool ok = false;
    std::string message;
  };
  ReloadResult reload();

  config::Config config_;
  ConfigSource reload_source_;
  SnapshotPublisher<Snapshot> snapshots_;
  std::unique_ptr<SnapshotBuilder> builder_;
  std::unique_ptr<admin::ControlPlane> control_plane_;
  std::unique_ptr<health::ActiveChecker> checker_;  // when a service has health.check
  std::unique_ptr<AccessLog> access_log_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace sb::proxy
