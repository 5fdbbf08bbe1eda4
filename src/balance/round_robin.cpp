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
  // Slow start's per-pick weights make them unequal for a while, and a pick that excludes some
  // (a retry, instances down) must not take the turn of the next in the rotation: nginx's
  // weighted path then, which credits only the instances that may be picked.
  if (!equal_weights_ || !context.weights.empty() || !context.excluded.empty()) {
    return pick_weighted(context);
  }
  const size_t n = weight_.size();
  if (n == 0) return kNoInstance;
  const size_t index = cursor_;
  cursor_ = cursor_ + 1 == n ? 0 : cursor_ + 1;
  return index;
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
  if (best == kNoInstance) return best;
  current_[best] -= total;
  // The rotation (equal weights) goes on after the instance picked here: instances down do not
  // shift who is next, and a retry leaves the rotation where it was.
  if (!context.retry) cursor_ = best + 1 == weight_.size() ? 0 : best + 1;
  return best;
}

}  // namespace sb::balance
