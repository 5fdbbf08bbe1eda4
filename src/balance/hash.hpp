// Consistent hashing on a request key (a header, cookie, query parameter or the path, configured
// per service) with Maglev's lookup table: Eisenbud et al., "Maglev: A Fast and Reliable Software
// Network Load Balancer", NSDI 2016, section 3.4, with weights and the 65537-entry table as in
// Envoy's maglev_lb.cc. A pick is one table read; removing one of N instances moves about 1/N of
// the keys. An excluded instance's keys go to the next entries of the table (spread over the
// others, everyone else's keys stay). Optional bounded load, HAProxy's hash-balance-factor
// (chash_server_is_eligible in lb_chash.c): an instance already serving more than factor % of its
// weighted share of the requests in flight is skipped to the next entry. A request without the
// key is balanced by smooth weighted round robin (nginx and HAProxy do the same).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "balance/balancer.hpp"
#include "balance/round_robin.hpp"

namespace sb::balance {

// Immutable once built; shared by a service's balancers on every worker (SharedTables).
class MaglevTable {
 public:
  static constexpr uint32_t kSize = 65537;  // prime, as the permutations require

  // Instances are identified by their label (address:port), so the same instance keeps its
  // permutation, and its keys, whatever else joins or leaves.
  explicit MaglevTable(InstanceList instances);
  bool empty() const { return entries_.empty(); }
  uint32_t at(size_t slot) const { return entries_[slot]; }

 private:
  std::vector<uint32_t> entries_;  // instance index per slot; empty without instances
};

class Hash final : public Balancer {
 public:
  explicit Hash(InstanceList instances, const Options& options = {});
  size_t pick(const PickContext& context) override;

 private:
  struct Load;
  bool over_bound(size_t index, const PickContext& context, Load& load) const;

  std::vector<const upstream::Instance*> instances_;
  std::shared_ptr<const MaglevTable> table_;
  uint32_t balance_factor_;
  RoundRobin fallback_;
};

}  // namespace sb::balance
