// The proxy process: builds the snapshot from the config, opens one listening socket per worker,
// runs the workers, and on SIGTERM/SIGINT drains them (stop accepting, close idle connections, let
// requests in flight finish up to the drain timeout) before returning.
#pragma once

#include <memory>
#include <vector>

#include "config/config.hpp"
#include "core/snapshot_publisher.hpp"
#include "proxy/access_log.hpp"
#include "proxy/snapshot.hpp"
#include "proxy/worker.hpp"

namespace sb::proxy {

class Server {
 public:
  explicit Server(config::Config config);
  ~Server();

  // Binds, serves until a stop signal, drains; returns the process exit code.
  int run();

  unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }
  const Worker& worker(unsigned i) const { return *workers_[i]; }
  std::shared_ptr<const Snapshot> snapshot() const { return snapshots_.current(); }
  const AccessLog& access_log() const { return *access_log_; }

 private:
  void drain();

  config::Config config_;
  InstanceIds ids_;
  SnapshotPublisher<Snapshot> snapshots_;
  std::unique_ptr<AccessLog> access_log_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace sb::proxy
