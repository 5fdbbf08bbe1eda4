// Sticky by client address: consistent hashing of the client's address (the peer's, or from
// X-Forwarded-For when the peer is a trusted proxy; the session decides) on a hash ring, as nginx's
// `hash $remote_addr consistent` (ketama: 160 points per unit of weight, Karger et al., "Consistent
// Hashing and Random Trees", STOC 1997). A ring rather than Maglev because removing an instance
// must move only that instance's clients, exactly: its points leave the ring and every other point
// stays. nginx's own ip_hash hashes an IPv4 client's /24 and rebalances everyone on a change; this
// hashes the whole address. An excluded instance's clients go to the next point's instance; a
// request without an address (none the session could use) is balanced by smooth round robin.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "balance/balancer.hpp"
#include "balance/round_robin.hpp"

namespace sb::balance {

// Immutable once built; shared by a service's balancers on every worker (SharedTables).
class HashRing {
 public:
  static constexpr uint32_t kPointsPerWeight = 160;

  explicit HashRing(InstanceList instances);
  size_t size() const { return points_.size(); }
  // The first point at or after `key` (wrapping), as a position to walk from.
  size_t find(uint64_t key) const;
  uint32_t instance_at(size_t position) const { return instances_[position]; }

 private:
  std::vector<uint32_t> points_;     // sorted point hashes
  std::vector<uint32_t> instances_;  // the instance index of each point
};

class IpHash final : public Balancer {
 public:
  explicit IpHash(InstanceList instances, const Options& options = {});
  size_t pick(const PickContext& context) override;

 private:
  size_t count_;
  std::shared_ptr<const HashRing> ring_;
  RoundRobin fallback_;
};

}  // namespace sb::balance
