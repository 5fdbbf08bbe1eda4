// Weighted power of two choices over active requests (see p2c.hpp).
#include "balance/p2c.hpp"

namespace sb::balance {

TwoChoices draw_two(const WeightedSampler& sampler, Random& random, const PickContext& context) {
  TwoChoices choices;
  choices.first = sampler.sample(random, context);
  if (choices.first != kNoInstance) choices.second = sampler.sample(random, context, choices.first);
  return choices;
}

PowerOfTwo::PowerOfTwo(InstanceList instances, const Options& options)
    : sampler_(instances), random_(options.random) {
  instances_.reserve(instances.size());
  for (const auto& instance : instances) instances_.push_back(instance.get());
}

size_t PowerOfTwo::pick(const PickContext& context) {
  const TwoChoices choices = draw_two(sampler_, random_.get(), context);
  if (choices.second == kNoInstance) return choices.first;
  const size_t a = choices.first;
  const size_t b = choices.second;
  const int64_t load_a = instances_[a]->active_requests() * sampler_.weight(b);
  const int64_t load_b = instances_[b]->active_requests() * sampler_.weight(a);
  return load_a < load_b ? a : b;
}

}  // namespace sb::balance
