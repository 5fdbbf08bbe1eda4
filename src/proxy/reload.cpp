#include "proxy/reload.hpp"

namespace sb::proxy {

namespace {

std::string shown(const config::Endpoint& endpoint) {
  return endpoint.host + ":" + std::to_string(endpoint.port);
}

}  // namespace

std::string restart_only_change(const config::Config& running, const config::Config& fresh) {
  const auto changed = [](const std::string& key, const std::string& from, const std::string& to) {
    return key + ": changed from " + from + " to " + to + "; that takes a restart";
  };
  if (shown(running.listen) != shown(fresh.listen)) {
    return changed("listen", shown(running.listen), shown(fresh.listen));
  }
  if (running.threads != fresh.threads) {
    return changed("threads", std::to_string(running.threads), std::to_string(fresh.threads));
  }
  if (running.accept_balance != fresh.accept_balance) {
    return changed("accept_balance", running.accept_balance, fresh.accept_balance);
  }
  if (running.admin.enabled != fresh.admin.enabled ||
      shown(running.admin.listen) != shown(fresh.admin.listen)) {
    return changed("admin.listen",
                   running.admin.enabled ? shown(running.admin.listen) : std::string("off"),
                   fresh.admin.enabled ? shown(fresh.admin.listen) : std::string("off"));
  }
  if (running.admin.token != fresh.admin.token ||
      running.admin.open_reads != fresh.admin.open_reads) {
    return "admin.token: changed; that takes a restart";
  }
  if (running.registry.data_dir != fresh.registry.data_dir) {
    return changed("registry.data_dir", running.registry.data_dir, fresh.registry.data_dir);
  }
  if (running.registry.store != fresh.registry.store) {
    return changed("registry.store", running.registry.store, fresh.registry.store);
  }
  if (running.registry.etcd_prefix != fresh.registry.etcd_prefix) {
    return changed("registry.etcd_prefix", running.registry.etcd_prefix,
                   fresh.registry.etcd_prefix);
  }
  if (running.access_log.enabled != fresh.access_log.enabled ||
      running.access_log.path != fresh.access_log.path ||
      running.access_log.format != fresh.access_log.format) {
    return "access_log: changed; that takes a restart";
  }
  return {};
}

}  // namespace sb::proxy
