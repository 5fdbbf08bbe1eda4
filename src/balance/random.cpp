// Weighted random selection (see random.hpp).
#include "balance/random.hpp"

namespace sb::balance {

RandomPick::RandomPick(InstanceList instances, const Options& options)
    : sampler_(instances), random_(options.random) {}

size_t RandomPick::pick(const PickContext& context) {
  return sampler_.sample(random_.get(), context);
}

}  // namespace sb::balance
