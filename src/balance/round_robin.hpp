// Smooth weighted round robin, as nginx's ngx_http_upstream_round_robin.c does it: every pick adds
// each eligible instance's weight to its running score, takes the highest, and subtracts the total
// from the winner. Weights 5:1:1 give a a b a c a a, never a burst of five.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/balancer.hpp"

namespace sb::balance {

class RoundRobin final : public Balancer {
 public:
  explicit RoundRobin(InstanceList instances, const Options& options = {});
  size_t pick(const PickContext& context) override;

 private:
  std::vector<int64_t> weight_;
  std::vector<int64_t> current_;
};

}  // namespace sb::balance
