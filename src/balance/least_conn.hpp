// Least connections, weighted, as nginx's ngx_http_upstream_least_conn_module.c: the instance with
// the fewest active requests per unit of weight (conns_a * weight_b < conns_b * weight_a); ties
// are broken by smooth weighted round robin among the tied ones. The counts are global
// (upstream::Instance::active_requests(), shared by every worker), so the choice is what nginx
// gets only with a `zone`; the round-robin scores are per worker.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/balancer.hpp"

namespace sb::balance {

class LeastConn final : public Balancer {
 public:
  explicit LeastConn(InstanceList instances, const Options& options = {});
  size_t pick(const PickContext& context) override;

 private:
  std::vector<const upstream::Instance*> instances_;
  std::vector<int64_t> weight_;
  std::vector<int64_t> current_;  // smooth round-robin scores, for ties
  std::vector<int64_t> conns_;    // this pick's reading of each count (they move meanwhile)
};

}  // namespace sb::balance
