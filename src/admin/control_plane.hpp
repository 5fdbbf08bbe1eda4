// The control plane: the registry with its durable store, the admin listener, and the TTL clock,
// all on one thread of their own; every registry change rebuilds the proxy's snapshot (only the
// services that changed) and publishes it to the workers before the change is acknowledged.
#pragma once

#include <atomic>
#include <future>
#include <memory>
#include <thread>

#include "admin/admin_server.hpp"
#include "admin/blocking_queries.hpp"
#include "config/config.hpp"
#include "core/snapshot_publisher.hpp"
#include "metrics/exposition.hpp"
#include "proxy/snapshot.hpp"
#include "proxy/snapshot_builder.hpp"
#include "registry/api.hpp"
#include "registry/clock.hpp"
#include "registry/etcd_registry.hpp"
#include "registry/registry.hpp"
#include "registry/store.hpp"

namespace sb::admin {

class ControlPlane {
 public:
  // Opens the store in config.registry.data_dir (one process per directory: a second one gets a
  // ConfigError), loads every stored instance and publishes the first snapshot. Main thread.
  // With registry.etcd set (cluster mode), the registry is a cache of etcd instead: no data_dir,
  // and start() waits for the first full read from etcd (a while at most; see start()).
  // `proxy_metrics` writes the proxy's part of GET /metrics (called on the registry thread).
  ControlPlane(const config::Config& config, proxy::SnapshotBuilder& builder,
               SnapshotPublisher<proxy::Snapshot>& snapshots,
               std::function<void(metrics::Exposition&)> proxy_metrics = {},
               AdminServer::Reload reload = {});

  // Any thread: runs `work` on the registry thread (which owns the snapshot builder).
  void post(std::function<void()> work);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // Main thread: binds the admin listener (ConfigError "admin.listen: ..." if it cannot) and
  // starts the registry thread. Returns the bound address. In cluster mode it first waits up to
  // twice registry.etcd_timeout for the first read from etcd, so a node that says it listens
  // routes by the shared registry; without etcd it starts anyway (static config only) and
  // follows etcd once it answers.
  asio::ip::tcp::endpoint start();
  // Main thread: stops accepting, answers parked blocking queries, and joins the thread.
  void stop();

 private:
  void tick();
  void publish_if_changed();
  // GET /metrics: the proxy's figures, the registry's, the process's.
  std::string metrics_text();

  config::Config config_;
  proxy::SnapshotBuilder& builder_;
  SnapshotPublisher<proxy::Snapshot>& snapshots_;
  int lock_fd_ = -1;  // flock on <data_dir>/LOCK, held for the life of the process
  registry::SystemClock clock_;
  std::unique_ptr<registry::Store> store_;
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<registry::RegistryApi> api_;
  asio::io_context context_{1};
  BlockingQueries queries_;
  std::unique_ptr<AdminServer> admin_;
  // Cluster mode only. After context_: its sockets and timers go before their io_context does.
  std::unique_ptr<registry::etcd::EtcdRegistry> etcd_;
  std::optional<Timer> tick_timer_;
  bool changed_ = false;
  std::function<void(metrics::Exposition&)> proxy_metrics_;
  std::promise<void> ran_out_;  // set when the registry thread's loop has no work left
  std::thread thread_;
};

}  // namespace sb::admin
