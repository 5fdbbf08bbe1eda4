// Power of two choices (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing",
// 2001), weighted as HAProxy's `balance random(2)` does it (get_server_rnd in backend.c): two
// weighted random draws of distinct instances (HAProxy may draw one twice; then there is no
// choice), and the one with fewer active requests per unit of weight wins
// (served_a * weight_b > served_b * weight_a keeps b; a tie goes to the second draw). Envoy's
// least_request with choice_count 2 is the same idea. Counts are global across workers.
#pragma once

#include <vector>

#include "balance/balancer.hpp"
#include "balance/weighted_sampler.hpp"

namespace sb::balance {

// Two weighted draws of distinct instances (the second among the eligible others), so even a
// service of two always compares both; `second` is kNoInstance when only one is eligible, `first`
// too when none is. Shared with ewma.
struct TwoChoices {
  size_t first = kNoInstance;
  size_t second = kNoInstance;
};
TwoChoices draw_two(const WeightedSampler& sampler, Random& random, const PickContext& context);

class PowerOfTwo final : public Balancer {
 public:
  explicit PowerOfTwo(InstanceList instances, const Options& options = {});
  size_t pick(const PickContext& context) override;

 private:
  std::vector<const upstream::Instance*> instances_;
  WeightedSampler sampler_;
  OwnedRandom random_;
};

}  // namespace sb::balance
