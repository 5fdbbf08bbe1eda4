// The table of balancing algorithms by name: adding an algorithm means one line here.
#include <array>
#include <utility>

#include "balance/balancer.hpp"
#include "balance/round_robin.hpp"

namespace sb::balance {

namespace {

using Constructor = std::unique_ptr<Balancer> (*)(InstanceList);

template <typename T>
std::unique_ptr<Balancer> construct(InstanceList instances) {
  return std::make_unique<T>(instances);
}

constexpr std::array<std::pair<std::string_view, Constructor>, 1> kAlgorithms{{
    {"round_robin", &construct<RoundRobin>},
}};

}  // namespace

std::unique_ptr<Balancer> make_balancer(std::string_view algorithm, InstanceList instances) {
  for (const auto& [name, constructor] : kAlgorithms) {
    if (name == algorithm) return constructor(instances);
  }
  return nullptr;
}

bool is_known_algorithm(std::string_view algorithm) {
  for (const auto& entry : kAlgorithms) {
    if (entry.first == algorithm) return true;
  }
  return false;
}

}  // namespace sb::balance
