// The table of balancing algorithms by name, with what each needs from the session: adding an
// algorithm means one line here.
#include <array>

#include "balance/balancer.hpp"
#include "balance/ewma.hpp"
#include "balance/hash.hpp"
#include "balance/ip_hash.hpp"
#include "balance/least_conn.hpp"
#include "balance/p2c.hpp"
#include "balance/random.hpp"
#include "balance/round_robin.hpp"
#include "core/hash.hpp"

namespace sb::balance {

namespace {

using Constructor = std::unique_ptr<Balancer> (*)(InstanceList, const Options&);

template <typename T>
std::unique_ptr<Balancer> construct(InstanceList instances, const Options& options) {
  return std::make_unique<T>(instances, options);
}

struct Algorithm {
  std::string_view name;
  Constructor constructor;
  Needs needs;
};

constexpr Needs kNothing{};
constexpr Needs kActive{.active_requests = true};
constexpr Needs kActiveAndLatency{.active_requests = true, .latency = true};
constexpr Needs kClientAddress{.client_address = true};
// Plus the active counts when a balance factor bounds the load (needs_of below).
constexpr Needs kRequestKey{.request_key = true};

constexpr std::array<Algorithm, 7> kAlgorithms{{
    {"round_robin", &construct<RoundRobin>, kNothing},
    {"least_conn", &construct<LeastConn>, kActive},
    {"ip_hash", &construct<IpHash>, kClientAddress},
    {"hash", &construct<Hash>, kRequestKey},
    {"random", &construct<RandomPick>, kNothing},
    {"p2c", &construct<PowerOfTwo>, kActive},
    {"ewma", &construct<Ewma>, kActiveAndLatency},
}};

constexpr std::array<std::string_view, kAlgorithms.size()> kNames = [] {
  std::array<std::string_view, kAlgorithms.size()> names{};
  for (size_t i = 0; i < kAlgorithms.size(); ++i) names[i] = kAlgorithms[i].name;
  return names;
}();

const Algorithm* find(std::string_view name) {
  for (const Algorithm& algorithm : kAlgorithms) {
    if (algorithm.name == name) return &algorithm;
  }
  return nullptr;
}

}  // namespace

std::unique_ptr<Balancer> make_balancer(std::string_view algorithm, InstanceList instances,
                                        const Options& options) {
  const Algorithm* found = find(algorithm);
  return found ? found->constructor(instances, options) : nullptr;
}

bool is_known_algorithm(std::string_view algorithm) {
  return find(algorithm) != nullptr;
}

std::span<const std::string_view> algorithm_names() {
  return kNames;
}

Needs needs_of(std::string_view algorithm, const Options& options) {
  const Algorithm* found = find(algorithm);
  if (found == nullptr) return {};
  Needs needs = found->needs;
  if (found->name == "hash" && options.balance_factor > 0) needs.active_requests = true;
  return needs;
}

uint64_t hash_key(std::string_view key) {
  return xxhash64(key);
}

}  // namespace sb::balance
