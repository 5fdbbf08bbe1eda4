// Smooth weighted round robin (see round_robin.hpp).
#include "balance/round_robin.hpp"

namespace sb::balance {

RoundRobin::RoundRobin(InstanceList instances, const Options& /*options*/)
    : current_(instances.size(), 0) {
  weight_.reserve(instances.size());
  for (const auto& instance : instances) {
    weight_.push_back(instance->weight());
    equal_weights_ = equal_weights_ && instance->weight() == instances.front()->weight();
  }
}

size_t RoundRobin::pick(const PickContext& context) {
  // Slow start's per-pick weights make them unequal for a while: the weighted path then.
  if (!equal_weights_ || !context.weights.empty()) return pick_weighted(context);
  const size_t n = weight_.size();
  for (size_t tried = 0; tried < n; ++tried) {
    const size_t index = cursor_;
    cursor_ = cursor_ + 1 == n ? 0 : cursor_ + 1;
    if (!is_excluded(context, index)) return index;
  }
  return kNoInstance;
}

size_t RoundRobin::pick_weighted(const PickContext& context) {
  size_t best = kNoInstance;
  int64_t total = 0;
  for (size_t i = 0; i < weight_.size(); ++i) {
    if (is_excluded(context, i)) continue;
    const int64_t weight = weight_of(context, weight_, i);
    current_[i] += weight;
    total += weight;
    if (best == kNoInstance || current_[i] > current_[best]) best = i;
  }
  if (best != kNoInstance) current_[best] -= total;
  return best;
}

}  // namespace sb::balance
