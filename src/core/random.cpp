// Seeding for FastRandom.
#include "core/random.hpp"

#include <random>

namespace sb {

uint64_t FastRandom::os_seed() {
  std::random_device device;
  return (uint64_t{device()} << 32) ^ device();
}

}  // namespace sb
