#include "proxy/snapshot.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "http/header_rewrite.hpp"

namespace sb::proxy {

namespace {

boost::asio::ip::tcp::endpoint resolve(const std::string& key, const std::string& host,
                                       uint16_t port) {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  if (!ec) return {address, port};
  boost::asio::io_context context;
  boost::asio::ip::tcp::resolver resolver(context);
  const auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    throw config::ConfigError(key, "cannot resolve '" + host + "': " + ec.message());
  }
  return results.begin()->endpoint();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

const Route* Snapshot::match(std::string_view host, std::string_view path) const {
  if (const size_t colon = host.rfind(':');
      colon != std::string_view::npos && host.find(']') == std::string_view::npos) {
    host = host.substr(0, colon);
  } else if (const size_t bracket = host.find("]:"); bracket != std::string_view::npos) {
    host = host.substr(0, bracket + 1);
  }
  for (const Route& route : routes) {
    if (!route.host.empty() && !http::iequals(route.host, host)) continue;
    if (path.substr(0, route.path_prefix.size()) == route.path_prefix) return &route;
  }
  return nullptr;
}

std::shared_ptr<const Snapshot> build_snapshot(const config::Config& config, unsigned workers,
                                               InstanceIds& ids) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->timeouts = config.timeouts;
  snapshot->limits = config.limits;
  snapshot->endpoints = config.endpoints;
  for (size_t s = 0; s < config.services.size(); ++s) {
    const config::ServiceConfig& sc = config.services[s];
    Service service{sc.name, sc.balance, {}};
    for (size_t i = 0; i < sc.instances.size(); ++i) {
      const config::InstanceConfig& ic = sc.instances[i];
      const std::string key =
          "services[" + std::to_string(s) + "].instances[" + std::to_string(i) + "]";
      service.instances.push_back(std::make_shared<upstream::Instance>(
          ids.next(), ic.address, ic.port, resolve(key, ic.address, ic.port), ic.weight, workers));
    }
    snapshot->services.push_back(std::move(service));
  }
  for (const config::RouteConfig& rc : config.routes) {
    const auto it = std::find_if(config.services.begin(), config.services.end(),
                                 [&](const auto& sc) { return sc.name == rc.service; });
    const auto index = static_cast<size_t>(it - config.services.begin());
    snapshot->routes.push_back({lower(rc.host), rc.path_prefix, index, rc.strip_prefix});
  }
  std::stable_sort(snapshot->routes.begin(), snapshot->routes.end(),
                   [](const Route& a, const Route& b) {
                     if (a.host.empty() != b.host.empty()) return !a.host.empty();
                     return a.path_prefix.size() > b.path_prefix.size();
                   });
  return snapshot;
}

std::string_view strip_prefix(std::string_view path, std::string_view prefix) {
  if (prefix.size() <= 1 || path.substr(0, prefix.size()) != prefix) return path;
  std::string_view rest = path.substr(prefix.size());
  if (prefix.back() == '/') return path.substr(prefix.size() - 1);
  return rest;
}

}  // namespace sb::proxy
