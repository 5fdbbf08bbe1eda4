// The balancer interface: "which instance next" for one service, on one worker thread. Whether an
// instance may be used at all (health, drain, tried already) is decided by the caller's exclusion
// mask, not here; every algorithm honours it and never returns an excluded instance.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "upstream/instance.hpp"

namespace sb {
class Clock;
class Random;
}  // namespace sb

namespace sb::balance {

using InstanceList = std::span<const std::shared_ptr<upstream::Instance>>;

struct PickContext {
  // Instances the caller excludes for this pick (tried already, down, draining); may be shorter
  // than the instance list (missing entries are not excluded) or empty.
  std::span<const bool> excluded;
  // hash_key() of what the request is hashed by: the configured request key (hash) or the client
  // address (ip_hash). Filled by the session only for an algorithm whose Needs ask for it; absent
  // when the request does not carry the key (then hash and ip_hash fall back to round robin).
  std::optional<uint64_t> key;
  // Weights for this pick instead of the instances' own (slow start ramps some of them), one per
  // instance, or empty. Only round_robin and least_conn weigh by them, as in Envoy: the hashing
  // algorithms would move sticky keys, and random, p2c and ewma sample by static tables.
  std::span<const uint32_t> weights{};
  // A pick after a failed attempt of the same request: round robin does not count it as the
  // next instance's turn in its rotation.
  bool retry = false;
};

inline int64_t weight_of(const PickContext& context, const std::vector<int64_t>& own,
                         size_t index) {
  return context.weights.empty() ? own[index] : int64_t{context.weights[index]};
}

inline bool is_excluded(const PickContext& context, size_t index) {
  return index < context.excluded.size() && context.excluded[index];
}

// What an algorithm needs the session to do per request, so an algorithm that needs nothing (round
// robin) costs nothing: no shared counter, no clock read, no header scan.
struct Needs {
  bool active_requests = false;  // count requests in flight per instance (upstream::ActiveRequest)
  bool latency = false;          // report response-head latency (balance::record_latency)
  bool client_address = false;   // PickContext::key = hash of the client's address
  bool request_key = false;      // PickContext::key = hash of the service's configured key
};

class MaglevTable;
class HashRing;

// Lookup structures a service's balancers share across workers because they are immutable once
// built: the first balancer of the service builds one, the others reuse it (a 65537-entry Maglev
// table per worker would multiply memory by the worker count for nothing).
struct SharedTables {
  std::shared_ptr<const MaglevTable> maglev;
  std::shared_ptr<const HashRing> ring;
};

struct Options {
  // hash: bounded load (HAProxy's hash-balance-factor), in % of the average load; 0 = unbounded.
  uint32_t balance_factor = 0;
  // Tests script these (DESIGN rule 5); null: the balancer owns a FastRandom seeded from the OS,
  // and reads the monotonic clock.
  Random* random = nullptr;
  const Clock* clock = nullptr;
  // The service's shared tables; null: the balancer builds its own.
  SharedTables* shared = nullptr;
};

inline constexpr size_t kNoInstance = static_cast<size_t>(-1);

class Balancer {
 public:
  virtual ~Balancer() = default;
  // Index into the instance list given at construction, or kNoInstance when every instance is
  // excluded (or there is none). Runs on the balancer's worker thread only.
  virtual size_t pick(const PickContext& context) = 0;
};

// The algorithms by name, and a constructor by name: nullptr for an unknown name.
std::unique_ptr<Balancer> make_balancer(std::string_view algorithm, InstanceList instances,
                                        const Options& options = {});
bool is_known_algorithm(std::string_view algorithm);
std::span<const std::string_view> algorithm_names();
// Needs of a known algorithm with these options (hash counts active requests only when a balance
// factor bounds the load); none for an unknown one.
Needs needs_of(std::string_view algorithm, const Options& options = {});

// What PickContext::key holds for a key's bytes (the session and tests hash the same way).
uint64_t hash_key(std::string_view key);

}  // namespace sb::balance
