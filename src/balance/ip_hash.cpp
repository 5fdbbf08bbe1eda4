// Client-address affinity on a consistent hash ring (see ip_hash.hpp).
#include "balance/ip_hash.hpp"

#include <algorithm>
#include <utility>

#include "core/hash.hpp"

namespace sb::balance {

namespace {

// Ring points walked before checking whether any instance is eligible at all.
constexpr size_t kWalkBeforeCheck = 64;

// 32-bit points, as ketama's: half the memory of 64-bit ones, and the rare equal points are
// ordered by instance index, so the ring stays deterministic.
uint32_t point_of(uint64_t hash) {
  return static_cast<uint32_t>(hash >> 32);
}

}  // namespace

HashRing::HashRing(InstanceList instances) {
  std::vector<std::pair<uint32_t, uint32_t>> points;
  size_t total = 0;
  for (const auto& instance : instances) total += size_t{kPointsPerWeight} * instance->weight();
  points.reserve(total);
  for (size_t i = 0; i < instances.size(); ++i) {
    // The label (address:port) names the points, so an instance keeps them across rebuilds.
    const std::string& label = instances[i]->label();
    const size_t count = size_t{kPointsPerWeight} * instances[i]->weight();
    for (size_t p = 0; p < count; ++p) {
      points.emplace_back(point_of(xxhash64(label, p)), static_cast<uint32_t>(i));
    }
  }
  std::sort(points.begin(), points.end());
  points_.reserve(points.size());
  instances_.reserve(points.size());
  for (const auto& [point, index] : points) {
    points_.push_back(point);
    instances_.push_back(index);
  }
}

size_t HashRing::find(uint64_t key) const {
  const auto it = std::lower_bound(points_.begin(), points_.end(), point_of(key));
  return it == points_.end() ? 0 : static_cast<size_t>(it - points_.begin());
}

IpHash::IpHash(InstanceList instances, const Options& options)
    : count_(instances.size()), fallback_(instances, options) {
  if (options.shared != nullptr && options.shared->ring) {
    ring_ = options.shared->ring;
  } else {
    ring_ = std::make_shared<const HashRing>(instances);
    if (options.shared != nullptr) options.shared->ring = ring_;
  }
}

size_t IpHash::pick(const PickContext& context) {
  if (!context.key) return fallback_.pick(context);
  const size_t size = ring_->size();
  size_t position = size == 0 ? 0 : ring_->find(*context.key);
  for (size_t step = 0; step < size; ++step) {
    const size_t index = ring_->instance_at(position);
    if (!is_excluded(context, index)) return index;
    if (++position == size) position = 0;
    if (step == kWalkBeforeCheck && context.excluded.size() >= count_ &&
        std::all_of(context.excluded.begin(), context.excluded.begin() + count_,
                    [](bool excluded) { return excluded; })) {
      return kNoInstance;
    }
  }
  return kNoInstance;
}

}  // namespace sb::balance
