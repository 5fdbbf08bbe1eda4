// Smooth weighted round robin (see round_robin.hpp).
#include "balance/round_robin.hpp"

namespace sb::balance {

RoundRobin::RoundRobin(InstanceList instances, const Options& /*options*/)
    : current_(instances.size(), 0) {
  weight_.reserve(instances.size());
  for (const auto& instance : instances) weight_.push_back(instance->weight());
}

size_t RoundRobin::pick(const PickContext& context) {
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
