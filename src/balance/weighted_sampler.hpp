// Draws an instance at random in proportion to its weight, skipping excluded ones: the shared
// first step of random, p2c and ewma. O(1) for equal weights, O(log n) otherwise; exclusions cost
// only when a draw hits one.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "balance/balancer.hpp"
#include "core/random.hpp"

namespace sb::balance {

// The random source of one balancer: the injected one (tests), or a generator of its own seeded
// from the OS, so no two workers share generator state.
class OwnedRandom {
 public:
  explicit OwnedRandom(Random* injected)
      : own_(injected ? nullptr : std::make_unique<FastRandom>(FastRandom::os_seed())),
        random_(injected ? injected : own_.get()) {}
  Random& get() { return *random_; }

 private:
  std::unique_ptr<FastRandom> own_;
  Random* random_;
};

class WeightedSampler {
 public:
  explicit WeightedSampler(InstanceList instances);
  // A weighted draw among the instances the context does not exclude, nor `also_excluded` (P2C's
  // first choice, when drawing the second), or kNoInstance.
  size_t sample(Random& random, const PickContext& context,
                size_t also_excluded = kNoInstance) const;
  size_t size() const { return weights_.size(); }
  uint32_t weight(size_t index) const { return weights_[index]; }

 private:
  size_t draw(Random& random) const;

  std::vector<uint32_t> weights_;
  std::vector<uint64_t> cumulative_;  // running sums; empty when all weights are equal
  uint64_t total_ = 0;
};

}  // namespace sb::balance
