// xxHash64 (Yann Collet, github.com/Cyan4973/xxHash, the hash Envoy's Maglev and ring hash use):
// a fast, well-mixed 64-bit hash of short keys for the hash-based balancers.
#pragma once

#include <cstdint>
#include <string_view>

namespace sb {

uint64_t xxhash64(std::string_view data, uint64_t seed = 0);

}  // namespace sb
