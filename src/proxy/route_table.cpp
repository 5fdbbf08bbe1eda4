#include "proxy/route_table.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "http/request_target.hpp"

namespace sb::proxy {

namespace {

// "example.com:8080" -> "example.com", "[::1]:80" -> "[::1]".
std::string_view without_port(std::string_view host) {
  if (const size_t bracket = host.find("]:"); bracket != std::string_view::npos) {
    return host.substr(0, bracket + 1);
  }
  if (const size_t colon = host.rfind(':');
      colon != std::string_view::npos && host.find(']') == std::string_view::npos) {
    return host.substr(0, colon);
  }
  return host;
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

bool RouteTable::add(Route route) {
  std::transform(route.host.begin(), route.host.end(), route.host.begin(), lower);
  if (!route.host.empty() && route.host.back() == '.') route.host.pop_back();  // as match() does
  // Requests are matched by their normalized path, so the prefix is normalized the same way. A
  // config's prefixes are normal already (config.cpp refuses others); a registration's may not be.
  std::string normal;
  if (http::normalize_path(route.path_prefix, normal) == http::PathCheck::kNormalized) {
    route.path_prefix = std::move(normal);
  }
  Prefixes& prefixes = route.host.empty() ? any_host_ : by_host_[route.host];
  const size_t length = route.path_prefix.size();
  const std::string key = route.path_prefix;
  if (!prefixes.by_prefix.emplace(key, std::move(route)).second) return false;
  const auto at =
      std::lower_bound(prefixes.lengths.begin(), prefixes.lengths.end(), length, std::greater<>());
  if (at == prefixes.lengths.end() || *at != length) prefixes.lengths.insert(at, length);
  ++size_;
  return true;
}

const Route* RouteTable::Prefixes::longest(std::string_view path) const {
  for (const size_t length : lengths) {
    if (length > path.size()) continue;
    const auto it = by_prefix.find(path.substr(0, length));
    if (it != by_prefix.end()) return &it->second;
  }
  return nullptr;
}

const Route* RouteTable::match(std::string_view host, std::string_view path) const {
  if (!by_host_.empty()) {
    host = without_port(host);
    // "example.com." is the same name as "example.com" (fully qualified), as nginx matches it.
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    // Host names are at most 255 bytes (RFC 1035); a longer Host cannot match a route.
    std::array<char, 256> buffer;
    if (host.size() <= buffer.size()) {
      std::transform(host.begin(), host.end(), buffer.begin(), lower);
      const auto it = by_host_.find(std::string_view(buffer.data(), host.size()));
      if (it != by_host_.end()) {
        if (const Route* route = it->second.longest(path)) return route;
      }
    }
  }
  return any_host_.longest(path);
}

}  // namespace sb::proxy
