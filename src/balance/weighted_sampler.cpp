// Weighted random draws with exclusions (see weighted_sampler.hpp).
#include "balance/weighted_sampler.hpp"

#include <algorithm>

namespace sb::balance {

namespace {

// Redraws before giving up on luck: with half the instances excluded, 4 draws all miss 1 time in
// 16, and then the exact (linear) draw below takes over.
constexpr int kRedraws = 4;

}  // namespace

WeightedSampler::WeightedSampler(InstanceList instances) {
  weights_.reserve(instances.size());
  bool equal = true;
  for (const auto& instance : instances) {
    weights_.push_back(instance->weight());
    equal = equal && instance->weight() == weights_.front();
    total_ += instance->weight();
  }
  if (!equal) {
    cumulative_.reserve(weights_.size());
    uint64_t sum = 0;
    for (const uint32_t w : weights_) cumulative_.push_back(sum += w);
  }
}

size_t WeightedSampler::draw(Random& random) const {
  if (cumulative_.empty()) return random.below(weights_.size());
  const uint64_t r = random.below(total_);
  return std::upper_bound(cumulative_.begin(), cumulative_.end(), r) - cumulative_.begin();
}

size_t WeightedSampler::sample(Random& random, const PickContext& context,
                               size_t also_excluded) const {
  if (weights_.empty()) return kNoInstance;
  const auto excluded = [&](size_t i) { return i == also_excluded || is_excluded(context, i); };
  for (int attempt = 0; attempt < kRedraws; ++attempt) {
    const size_t index = draw(random);
    if (!excluded(index)) return index;
  }
  // Many exclusions: one exact draw over the eligible weights.
  uint64_t eligible = 0;
  for (size_t i = 0; i < weights_.size(); ++i) {
    if (!excluded(i)) eligible += weights_[i];
  }
  if (eligible == 0) return kNoInstance;
  uint64_t r = random.below(eligible);
  for (size_t i = 0; i < weights_.size(); ++i) {
    if (excluded(i)) continue;
    if (r < weights_[i]) return i;
    r -= weights_[i];
  }
  return kNoInstance;  // not reached
}

}  // namespace sb::balance
