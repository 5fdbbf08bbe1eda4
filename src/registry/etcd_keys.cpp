// The etcd key layout (see etcd_keys.hpp).
#include "registry/etcd_keys.hpp"

namespace sb::registry::etcd {
namespace {

constexpr std::string_view kInstances = "instances/";
constexpr std::string_view kAlive = "alive/";

}  // namespace

std::string KeyLayout::instance_key(std::string_view service, std::string_view id) const {
  std::string key = prefix_;
  key += kInstances;
  key += service;
  key += '/';
  key += id;
  return key;
}

std::string KeyLayout::alive_key(std::string_view service, std::string_view id) const {
  std::string key = prefix_;
  key += kAlive;
  key += service;
  key += '/';
  key += id;
  return key;
}

KeyLayout::Parsed KeyLayout::parse(std::string_view key) const {
  Parsed parsed;
  if (!key.starts_with(prefix_)) return parsed;
  key.remove_prefix(prefix_.size());
  Kind kind = Kind::kOther;
  if (key.starts_with(kInstances)) {
    kind = Kind::kInstance;
    key.remove_prefix(kInstances.size());
  } else if (key.starts_with(kAlive)) {
    kind = Kind::kAlive;
    key.remove_prefix(kAlive.size());
  } else {
    return parsed;
  }
  const size_t slash = key.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == key.size()) return parsed;
  parsed.kind = kind;
  parsed.service = std::string(key.substr(0, slash));
  parsed.id = std::string(key.substr(slash + 1));
  return parsed;
}

std::string KeyLayout::range_end() const {
  std::string end = prefix_;
  // The prefix ends with '/', so its last byte is never 0xff and the increment cannot carry.
  end.back() = static_cast<char>(end.back() + 1);
  return end;
}

}  // namespace sb::registry::etcd
