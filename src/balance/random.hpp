// Weighted random: each pick draws an instance in proportion to its weight (nginx's `random`
// without `two`, HAProxy's `balance random`), skipping excluded ones.
#pragma once

#include "balance/balancer.hpp"
#include "balance/weighted_sampler.hpp"

namespace sb::balance {

class RandomPick final : public Balancer {
 public:
  explicit RandomPick(InstanceList instances, const Options& options = {});
  size_t pick(const PickContext& context) override;

 private:
  WeightedSampler sampler_;
  OwnedRandom random_;
};

}  // namespace sb::balance
