// The balancer interface: "which instance next" for one service, on one worker thread. Whether an
// instance may be used at all (health, drain) is decided by the caller's eligibility mask, not
// here.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "upstream/instance.hpp"

namespace sb::balance {

using InstanceList = std::span<const std::shared_ptr<upstream::Instance>>;

struct PickContext {
  // Instances the caller excludes for this pick (tried already, down, draining); may be empty.
  std::span<const bool> excluded;
};

inline constexpr size_t kNoInstance = static_cast<size_t>(-1);

class Balancer {
 public:
  virtual ~Balancer() = default;
  // Index into the instance list given at construction, or kNoInstance.
  virtual size_t pick(const PickContext& context) = 0;
};

// Known algorithm names, and a constructor by name; nullptr for an unknown name.
std::unique_ptr<Balancer> make_balancer(std::string_view algorithm, InstanceList instances);
bool is_known_algorithm(std::string_view algorithm);

}  // namespace sb::balance
