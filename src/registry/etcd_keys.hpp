// Where the registry keeps its instances in etcd, under a prefix (default "/switchboard/"):
//   <prefix>instances/<service>/<id>  the instance (to_stored_json, draining flag included);
//                                     leased for ttl + deregister_after when it has a ttl
//   <prefix>alive/<service>/<id>      empty; leased for ttl: present = passing, gone = critical
// Service names cannot contain '/', so the first '/' after the service ends it; ids may.
#pragma once

#include <string>
#include <string_view>

namespace sb::registry::etcd {

class KeyLayout {
 public:
  explicit KeyLayout(std::string prefix) : prefix_(std::move(prefix)) {}

  enum class Kind { kInstance, kAlive, kOther };
  struct Parsed {
    Kind kind = Kind::kOther;
    std::string service;
    std::string id;
  };

  std::string instance_key(std::string_view service, std::string_view id) const;
  std::string alive_key(std::string_view service, std::string_view id) const;
  // kOther for a key outside the layout (another tool's, or an empty service or id).
  Parsed parse(std::string_view key) const;

  const std::string& prefix() const { return prefix_; }
  // The range end that covers every key with the prefix (the prefix, last byte plus one).
  std::string range_end() const;

 private:
  std::string prefix_;
};

}  // namespace sb::registry::etcd
