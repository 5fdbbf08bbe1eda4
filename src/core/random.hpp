// Random draws for selection (random, P2C, EWMA): an interface so tests can script the draws
// (DESIGN rule 5), and a small fast generator for production, one per owner so no thread shares
// one.
#pragma once

#include <cstdint>

namespace sb {

class Random {
 public:
  virtual ~Random() = default;
  // Uniform in [0, bound); bound > 0.
  virtual uint64_t below(uint64_t bound) = 0;
};

// SplitMix64 (Steele, Lea, Flood: "Fast splittable pseudorandom number generators", OOPSLA 2014):
// one add and three multiply-xorshifts per draw, statistically sound for load balancing, not for
// secrets. Not thread-safe: each balancer owns its own.
class FastRandom final : public Random {
 public:
  explicit FastRandom(uint64_t seed) : state_(seed) {}
  // A seed from the OS (std::random_device), for generators built off the hot path.
  static uint64_t os_seed();

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  uint64_t below(uint64_t bound) override {
    // Lemire's multiply-shift ("Fast random integer generation in an interval", 2019) for bounds
    // that fit 32 bits, without its rejection step: the bias is under bound / 2^32, far below
    // anything a balancer could notice. Wider bounds take the (rare, slower) modulo.
    if (bound <= UINT32_MAX) return ((next() >> 32) * bound) >> 32;
    return next() % bound;
  }

 private:
  uint64_t state_;
};

}  // namespace sb
