#include "admin/control_plane.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "admin/dashboard.hpp"
#include "core/thread_name.hpp"
#include "metrics/process_metrics.hpp"
#include "registry/sqlite_store.hpp"

namespace sb::admin {

namespace {

// Often enough that an expired TTL stops traffic within a fraction of a second.
constexpr auto kTickPeriod = std::chrono::milliseconds(100);
constexpr auto kStopGrace = std::chrono::milliseconds(500);

// Two switchboards writing one SQLite file would each believe they own the registry; the second
// one is refused up front instead.
int lock_data_dir(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    throw config::ConfigError("registry.data_dir",
                              "cannot create '" + data_dir + "': " + ec.message());
  }
  const std::string path = data_dir + "/LOCK";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw config::ConfigError("registry.data_dir",
                              "cannot open '" + path + "': " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    throw config::ConfigError("registry.data_dir",
                              "'" + data_dir + "' is in use by another switchboard");
  }
  return fd;
}

asio::ip::tcp::endpoint admin_endpoint(const config::Endpoint& listen) {
  ErrorCode ec;
  const std::string host = listen.host == "localhost" ? "127.0.0.1" : listen.host;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) throw config::ConfigError("admin.listen", "'" + listen.host + "' is not an IP address");
  return {address, listen.port};
}

}  // namespace

ControlPlane::ControlPlane(const config::Config& config, proxy::SnapshotBuilder& builder,
                           SnapshotPublisher<proxy::Snapshot>& snapshots,
                           std::function<void(metrics::Exposition&)> proxy_metrics,
                           AdminServer::Reload reload)
    : config_(config),
      builder_(builder),
      snapshots_(snapshots),
      proxy_metrics_(std::move(proxy_metrics)) {
  const bool cluster = !config_.registry.etcd.empty();
  if (cluster) {
    registry_ =
        std::make_unique<registry::Registry>(registry::Registry::MirrorOfSharedStore{}, clock_);
    registry::etcd::EtcdOptions options;
    for (const config::Endpoint& member : config_.registry.etcd) {
      options.members.push_back({member.host, member.port});
    }
    options.prefix = config_.registry.etcd_prefix;
    options.timeout = config_.registry.etcd_timeout;
    options.deregister_after = config_.registry.deregister_after;
    etcd_ = std::make_unique<registry::etcd::EtcdRegistry>(context_, *registry_, std::move(options),
                                                           [this] { publish_if_changed(); });
  } else {
    lock_fd_ = lock_data_dir(config_.registry.data_dir);
    store_ = std::make_unique<registry::SqliteStore>(config_.registry.data_dir);
    registry_ =
        std::make_unique<registry::Registry>(*store_, clock_, config_.registry.deregister_after);
  }
  registry_->set_on_change([this](std::string_view service) {
    const std::vector<registry::InstanceView> instances = registry_->instances(service);
    builder_.set_registered(service, instances);
    changed_ = true;
    queries_.wake(service);
  });
  api_ = std::make_unique<registry::RegistryApi>(
      *registry_, clock_, cluster ? registry::WriteMode::kDeferred : registry::WriteMode::kDirect);
  if (!cluster) {
    registry_->load();
    size_t loaded = 0;
    for (const registry::ServiceSummary& s : registry_->services()) loaded += s.total;
    spdlog::info("registry: {} instance(s) loaded from {}/registry.db", loaded,
                 config_.registry.data_dir);
  }
  snapshots_.publish(builder_.build());
  changed_ = false;
  admin_ =
      std::make_unique<AdminServer>(context_, *api_, queries_, [this] { publish_if_changed(); });
  admin_->serve_page("/metrics", "text/plain; version=0.0.4; charset=utf-8",
                     [this] { return metrics_text(); });
  admin_->serve_page(
      "/", "text/html; charset=utf-8", [] { return std::string(dashboard_page()); }, true);
  admin_->serve_page("/v1/dashboard", "",
                     [this] { return dashboard_json(*snapshots_.current(), *event_log()); });
  admin_->require_token(config_.admin.token, config_.admin.open_reads);
  admin_->serve_reload(std::move(reload));
  if (etcd_) {
    admin_->serve_writes(
        [this](registry::RegistryWrite write) { return etcd_->write(std::move(write)); });
  }
}

void ControlPlane::post(std::function<void()> work) {
  asio::post(context_, std::move(work));
}

std::string ControlPlane::metrics_text() {
  metrics::Exposition out;
  if (proxy_metrics_) proxy_metrics_(out);
  out.family("switchboard_registry_instances", "gauge",
             "Registered instances by service and state (passing, critical, draining).");
  for (const registry::ServiceSummary& service : registry_->services()) {
    uint64_t counts[3] = {0, 0, 0};
    for (const registry::InstanceView& view : registry_->instances(service.name)) {
      ++counts[static_cast<int>(view.state)];
    }
    for (const auto state : {registry::InstanceState::kPassing, registry::InstanceState::kCritical,
                             registry::InstanceState::kDraining}) {
      out.sample("switchboard_registry_instances",
                 {{"service", service.name}, {"state", registry::to_string(state)}},
                 counts[static_cast<int>(state)]);
    }
  }
  out.family("switchboard_registry_heartbeats_total", "counter", "Heartbeats accepted.");
  out.sample("switchboard_registry_heartbeats_total", registry_->heartbeats());
  out.family("switchboard_registry_index", "gauge",
             "The registry's global index: it moves on every change.");
  out.sample("switchboard_registry_index", registry_->global_index());
  if (etcd_) {
    out.family("switchboard_registry_etcd_up", "gauge",
               "1 while this node follows etcd's watch, 0 while etcd is unreachable.");
    out.sample("switchboard_registry_etcd_up", uint64_t{etcd_->up() ? 1u : 0u});
    out.family("switchboard_registry_etcd_revision", "gauge",
               "The etcd revision this node's registry cache has applied.");
    out.sample("switchboard_registry_etcd_revision", static_cast<uint64_t>(etcd_->revision()));
    out.family("switchboard_registry_etcd_full_resyncs_total", "counter",
               "Full reads of the registry from etcd (start-up, compaction, another cluster).");
    out.sample("switchboard_registry_etcd_full_resyncs_total", etcd_->full_resyncs());
    out.family("switchboard_registry_etcd_watch_restarts_total", "counter",
               "Times the etcd watch broke and was reopened.");
    out.sample("switchboard_registry_etcd_watch_restarts_total", etcd_->watch_restarts());
    out.family(
        "switchboard_registry_etcd_keepalive_batches_total", "counter",
        "Lease keep-alive calls to etcd (each renews every lease of the heartbeats batched).");
    out.sample("switchboard_registry_etcd_keepalive_batches_total", etcd_->keepalive_batches());
    out.family("switchboard_registry_etcd_keepalives_total", "counter", "Leases renewed in etcd.");
    out.sample("switchboard_registry_etcd_keepalives_total", etcd_->keepalives());
  }
  metrics::write_process_metrics(out);
  return out.take();
}

ControlPlane::~ControlPlane() {
  if (thread_.joinable()) stop();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

asio::ip::tcp::endpoint ControlPlane::start() {
  try {
    admin_->listen(admin_endpoint(config_.admin.listen));
  } catch (const std::system_error& e) {
    throw config::ConfigError("admin.listen", "cannot listen on " + config_.admin.listen.host +
                                                  ":" + std::to_string(config_.admin.listen.port) +
                                                  ": " + e.code().message());
  }
  admin_->start();
  tick_timer_.emplace(context_);
  tick();
  if (etcd_) etcd_->start();
  thread_ = std::thread([this] {
    name_this_thread("sb-control");
    context_.run();
    ran_out_.set_value();
  });
  if (etcd_ && !etcd_->wait_first_sync(2 * config_.registry.etcd_timeout)) {
    spdlog::warn(
        "registry: no answer from etcd yet ({}); serving the static config until it answers",
        config_.registry.store);
  }
  return admin_->local_endpoint();
}

void ControlPlane::stop() {
  if (!thread_.joinable()) return;
  asio::post(context_, [this] {
    admin_->stop();
    tick_timer_->cancel();
    if (etcd_) etcd_->stop();
  });
  // Parked blocking queries answer at once when woken, idle connections close, and the loop runs
  // out of work; only a client too slow to take its answer makes us stop the loop under it.
  if (ran_out_.get_future().wait_for(kStopGrace) == std::future_status::timeout) {
    spdlog::warn("admin: closing {} connection(s) still answering", admin_->parked());
    context_.stop();
  }
  thread_.join();
}

void ControlPlane::tick() {
  tick_timer_->expires_after(kTickPeriod);
  tick_timer_->async_wait([this](const ErrorCode& ec) {
    if (ec) return;
    try {
      registry_->tick();
    } catch (const std::exception& e) {
      spdlog::error("registry: {}", e.what());
    }
    publish_if_changed();
    tick();
  });
}

void ControlPlane::publish_if_changed() {
  if (!changed_) return;
  changed_ = false;
  snapshots_.publish(builder_.build());
}

}  // namespace sb::admin
