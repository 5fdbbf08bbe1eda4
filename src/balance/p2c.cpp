// Weighted power of two choices over active requests (see p2c.hpp).
#include "balance/p2c.hpp"

namespace sb::balance {

namespace {

constexpr int kRepeatRedraws = 3;

}  // namespace

TwoChoices draw_two(const WeightedSampler& sampler, Random& random, const PickContext& context) {
  TwoChoices choices;
  choices.first = sampler.sample(random, context);
  if (choices.first == kNoInstance) return choices;
  choices.second = sampler.sample(random, context);
  // A repeat compares an instance with itself; draw again, but not forever (one eligible
  // instance, or one that dwarfs the others by weight, repeats legitimately).
  for (int i = 0; i < kRepeatRedraws && choices.second == choices.first; ++i) {
    choices.second = sampler.sample(random, context);
  }
  return choices;
}

PowerOfTwo::PowerOfTwo(InstanceList instances, const Options& options)
    : sampler_(instances), random_(options.random) {
  instances_.reserve(instances.size());
  for (const auto& instance : instances) instances_.push_back(instance.get());
}

size_t PowerOfTwo::pick(const PickContext& context) {
  const TwoChoices choices = draw_two(sampler_, random_.get(), context);
  if (choices.first == kNoInstance || choices.second == choices.first) return choices.first;
  const size_t a = choices.first;
  const size_t b = choices.second;
  const int64_t load_a = instances_[a]->active_requests() * sampler_.weight(b);
  const int64_t load_b = instances_[b]->active_requests() * sampler_.weight(a);
  return load_a < load_b ? a : b;
}

}  // namespace sb::balance
