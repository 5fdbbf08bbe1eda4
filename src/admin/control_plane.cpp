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
  lock_fd_ = lock_data_dir(config_.registry.data_dir);
  store_ = std::make_unique<registry::SqliteStore>(config_.registry.data_dir);
  registry_ =
      std::make_unique<registry::Registry>(*store_, clock_, config_.registry.deregister_after);
  registry_->set_on_change([this](std::string_view service) {
    const std::vector<registry::InstanceView> instances = registry_->instances(service);
    builder_.set_registered(service, instances);
    changed_ = true;
    queries_.wake(service);
  });
  registry_->load();
  api_ = std::make_unique<registry::RegistryApi>(*registry_, clock_);
  size_t loaded = 0;
  for (const registry::ServiceSummary& s : registry_->services()) loaded += s.total;
  spdlog::info("registry: {} instance(s) loaded from {}/registry.db", loaded,
               config_.registry.data_dir);
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
  thread_ = std::thread([this] {
    context_.run();
    ran_out_.set_value();
  });
  return admin_->local_endpoint();
}

void ControlPlane::stop() {
  if (!thread_.joinable()) return;
  asio::post(context_, [this] {
    admin_->stop();
    tick_timer_->cancel();
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
