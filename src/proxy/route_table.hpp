// Which service a request goes to: routes by host (exact, case-insensitive, port and a final dot
// ignored) and path prefix (longest wins). Host routes win over any-host routes. Built once per
// snapshot, then only read; a lookup is a few hash probes (one per distinct prefix length), not a
// scan of every route, so a registry with a thousand services routes as fast as a config with
// three.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sb::proxy {

struct Route {
  std::string host;  // lower case; empty matches any host
  std::string path_prefix;
  size_t service = 0;  // index into Snapshot::services
  bool strip_prefix = false;
};

// Lets the maps below be probed with a string_view (C++20 heterogeneous lookup): no std::string
// is built, so no allocation, on the request path.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename T>
using StringMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;

class RouteTable {
 public:
  // Adds a route unless one with the same host and prefix exists (the first added wins); returns
  // whether it was added. The host is lower-cased here.
  bool add(Route route);

  // `host` is the request's host (a port and a final dot are ignored), `path` its normalized path.
  const Route* match(std::string_view host, std::string_view path) const;

  size_t size() const { return size_; }

 private:
  // Exact prefixes of one host (or of any host), looked up by every distinct prefix length,
  // longest first. Routes are stored by value: the table is immutable once built.
  struct Prefixes {
    StringMap<Route> by_prefix;
    std::vector<size_t> lengths;  // distinct prefix lengths, descending

    const Route* longest(std::string_view path) const;
  };

  StringMap<Prefixes> by_host_;  // lower-case host
  Prefixes any_host_;
  size_t size_ = 0;
};

}  // namespace sb::proxy
