// Client-side balancing over a resolved instance list with the proxy's own balancers
// (src/balance), so `switchboard call` and the Resolver pick exactly as the proxy would.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "balance/balancer.hpp"
#include "switchboard/client.hpp"
#include "upstream/instance.hpp"

namespace switchboard::detail {

// Not thread-safe: the Resolver holds it under its mutex.
class InstancePicker {
 public:
  static constexpr size_t kNone = sb::balance::kNoInstance;

  // Throws ClientError (field "algorithm") for an algorithm the proxy does not know. The list is
  // rotated by `rotation` places before balancing: many short-lived clients that each start at a
  // random place spread their first picks instead of all choosing the same instance first.
  explicit InstancePicker(std::string algorithm, size_t rotation = 0);

  // Takes a new instance list. The balancer (and its round-robin position) is rebuilt only when
  // the set of (id, address, port, weight) changed; returns whether it was.
  bool update(std::vector<InstanceInfo> instances);

  // An index into instances(), or kNone if every instance is excluded or there are none.
  size_t pick(std::span<const bool> excluded = {});

  const std::vector<InstanceInfo>& instances() const { return instances_; }

 private:
  std::string algorithm_;
  size_t rotation_;
  std::vector<InstanceInfo> instances_;
  std::vector<std::shared_ptr<sb::upstream::Instance>> upstreams_;
  std::unique_ptr<sb::balance::Balancer> balancer_;
};

}  // namespace switchboard::detail
