// Client address and request key extraction for ip_hash and hash (see balance_key.hpp).
#include "proxy/balance_key.hpp"

#include "http/request_target.hpp"
#include "http/text.hpp"

namespace sb::proxy {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && http::is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && http::is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Finds `name`=value in a list of `separator`-separated pairs ("a=1; b=2", "a=1&b=2").
std::optional<std::string_view> find_pair(std::string_view list, char separator,
                                          std::string_view name) {
  while (!list.empty()) {
    const size_t end = list.find(separator);
    const std::string_view pair = trim(list.substr(0, end));
    const size_t equals = pair.find('=');
    if (equals != std::string_view::npos && trim(pair.substr(0, equals)) == name) {
      return trim(pair.substr(equals + 1));
    }
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
  return std::nullopt;
}

}  // namespace

bool is_trusted(const IpAddress& address, std::span<const Cidr> trusted_proxies) {
  for (const Cidr& cidr : trusted_proxies) {
    if (cidr.contains(address)) return true;
  }
  return false;
}

IpAddress client_address(const IpAddress& peer, const http::MessageParser& request,
                         std::span<const Cidr> trusted_proxies) {
  if (trusted_proxies.empty() || !is_trusted(peer, trusted_proxies)) return peer;
  IpAddress client = peer;
  // Walk the hops from the nearest: the last field line's last entry first.
  for (uint32_t i = request.header_count(); i-- > 0;) {
    if (!http::iequals(request.header_name(i), "x-forwarded-for")) continue;
    std::string_view list = request.header_value(i);
    while (!list.empty()) {
      const size_t comma = list.rfind(',');
      const std::string_view entry =
          trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(0, comma);
      if (entry.empty()) continue;
      const auto address = IpAddress::parse(entry);
      if (!address) return client;
      client = *address;
      if (!is_trusted(client, trusted_proxies)) return client;
    }
  }
  return client;
}

std::optional<std::string_view> request_key(const config::HashKey& key,
                                            const http::MessageParser& request,
                                            std::string_view target) {
  using Source = config::HashKey::Source;
  if (target.empty()) target = http::origin_form(request.target());
  switch (key.source) {
    case Source::kHeader:
      for (uint32_t i = 0; i < request.header_count(); ++i) {
        if (http::iequals(request.header_name(i), key.name)) return request.header_value(i);
      }
      return std::nullopt;
    case Source::kCookie:
      for (uint32_t i = 0; i < request.header_count(); ++i) {
        if (!http::iequals(request.header_name(i), "cookie")) continue;
        const auto value = find_pair(request.header_value(i), ';', key.name);
        if (value) return value;
      }
      return std::nullopt;
    case Source::kQuery: {
      const size_t question = target.find('?');
      if (question == std::string_view::npos) return std::nullopt;
      std::string_view query = target.substr(question + 1);
      query = query.substr(0, query.find('#'));
      return find_pair(query, '&', key.name);
    }
    case Source::kPath: {
      const std::string_view path = http::target_path(target);
      return path.empty() ? std::string_view("/") : path;
    }
    case Source::kNone:
      break;
  }
  return std::nullopt;
}

}  // namespace sb::proxy
