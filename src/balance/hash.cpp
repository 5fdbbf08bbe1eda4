// Maglev consistent hashing with optional bounded load (see hash.hpp).
#include "balance/hash.hpp"

#include <algorithm>

#include "core/hash.hpp"

namespace sb::balance {

namespace {

constexpr uint32_t kEmpty = UINT32_MAX;
// Table entries walked before checking whether any instance is eligible at all, so a pick with
// every instance excluded ends without walking all 65537.
constexpr size_t kWalkBeforeCheck = 64;

bool none_eligible(const PickContext& context, size_t count) {
  if (context.excluded.size() < count) return false;
  return std::all_of(context.excluded.begin(), context.excluded.begin() + count,
                     [](bool excluded) { return excluded; });
}

}  // namespace

MaglevTable::MaglevTable(InstanceList instances) {
  if (instances.empty()) return;
  struct Entry {
    uint64_t position;  // offset + skip * next, mod kSize
    uint64_t skip;
    uint64_t weight;
    uint64_t target;
  };
  std::vector<Entry> build;
  build.reserve(instances.size());
  uint64_t max_weight = 0;
  for (const auto& instance : instances) {
    const std::string& key = instance->label();
    const uint64_t offset = xxhash64(key, 0) % kSize;
    const uint64_t skip = xxhash64(key, 1) % (kSize - 1) + 1;
    build.push_back({offset, skip, instance->weight(), 0});
    max_weight = std::max<uint64_t>(max_weight, instance->weight());
  }
  entries_.assign(kSize, kEmpty);
  size_t filled = 0;
  // Each round, every instance whose weight has earned a turn claims the next free slot of its
  // permutation. An instance of the highest weight takes a turn every round, one of a third of it
  // every third round (Envoy's weighted variant of the paper's Algorithm 1).
  for (uint64_t round = 1; filled < kSize; ++round) {
    for (size_t i = 0; i < build.size() && filled < kSize; ++i) {
      Entry& e = build[i];
      if (round * e.weight < e.target) continue;
      e.target += max_weight;
      while (entries_[e.position] != kEmpty) e.position = (e.position + e.skip) % kSize;
      entries_[e.position] = static_cast<uint32_t>(i);
      e.position = (e.position + e.skip) % kSize;
      ++filled;
    }
  }
}

struct Hash::Load {
  bool known = false;
  uint64_t active = 0;  // requests in flight to the eligible instances
  uint64_t weight = 0;  // their total weight
};

Hash::Hash(InstanceList instances, const Options& options)
    : balance_factor_(options.balance_factor), fallback_(instances, options) {
  instances_.reserve(instances.size());
  for (const auto& instance : instances) instances_.push_back(instance.get());
  if (options.shared != nullptr && options.shared->maglev) {
    table_ = options.shared->maglev;
  } else {
    table_ = std::make_shared<const MaglevTable>(instances);
    if (options.shared != nullptr) options.shared->maglev = table_;
  }
}

// HAProxy's rule: the slots for all requests in flight, this one included, are (total + 1) x
// factor %, shared out by weight, at least one each; an instance is over its bound once it fills
// its slots. An idle instance never is, which keeps the common case free of the O(n) sum.
bool Hash::over_bound(size_t index, const PickContext& context, Load& load) const {
  if (balance_factor_ == 0) return false;
  const int64_t active = instances_[index]->active_requests();
  if (active <= 0) return false;
  if (!load.known) {
    for (size_t i = 0; i < instances_.size(); ++i) {
      if (is_excluded(context, i)) continue;
      load.active += static_cast<uint64_t>(std::max<int64_t>(instances_[i]->active_requests(), 0));
      load.weight += instances_[i]->weight();
    }
    load.known = true;
  }
  const uint64_t all_slots = ((load.active + 1) * balance_factor_ + 99) / 100;
  const uint64_t weight = instances_[index]->weight();
  const uint64_t slots =
      std::max<uint64_t>(1, (all_slots * weight + load.weight - 1) / load.weight);
  return static_cast<uint64_t>(active) >= slots;
}

size_t Hash::pick(const PickContext& context) {
  if (!context.key) return fallback_.pick(context);
  if (table_->empty()) return kNoInstance;
  size_t slot = *context.key % MaglevTable::kSize;
  Load load;
  for (size_t step = 0; step < MaglevTable::kSize; ++step) {
    const size_t index = table_->at(slot);
    if (!is_excluded(context, index) && !over_bound(index, context, load)) return index;
    if (++slot == MaglevTable::kSize) slot = 0;
    if (step == kWalkBeforeCheck && none_eligible(context, instances_.size())) return kNoInstance;
  }
  // Only with more instances than table entries can an eligible one own no slot.
  return fallback_.pick(context);
}

}  // namespace sb::balance
