// Weighted least connections with a smooth round-robin tie-break (see least_conn.hpp).
#include "balance/least_conn.hpp"

namespace sb::balance {

LeastConn::LeastConn(InstanceList instances, const Options& /*options*/)
    : current_(instances.size(), 0), conns_(instances.size(), 0) {
  instances_.reserve(instances.size());
  weight_.reserve(instances.size());
  for (const auto& instance : instances) {
    instances_.push_back(instance.get());
    weight_.push_back(instance->weight());
  }
}

size_t LeastConn::pick(const PickContext& context) {
  size_t best = kNoInstance;
  bool many = false;
  const auto weight = [&](size_t i) -> int64_t { return weight_of(context, weight_, i); };
  for (size_t i = 0; i < instances_.size(); ++i) {
    if (is_excluded(context, i)) continue;
    // Read once: other workers change the counts while we compare.
    conns_[i] = instances_[i]->active_requests();
    if (best == kNoInstance || conns_[i] * weight(best) < conns_[best] * weight(i)) {
      best = i;
      many = false;
    } else if (conns_[i] * weight(best) == conns_[best] * weight(i)) {
      many = true;
    }
  }
  if (!many) return best;
  // Several share the lowest ratio: smooth weighted round robin among them (nginx does the same,
  // so equal idle instances take turns instead of the first always winning).
  const size_t first = best;
  int64_t total = 0;
  for (size_t i = first; i < instances_.size(); ++i) {
    if (is_excluded(context, i)) continue;
    if (conns_[i] * weight(first) != conns_[first] * weight(i)) continue;
    current_[i] += weight(i);
    total += weight(i);
    if (i == first || current_[i] > current_[best]) best = i;
  }
  current_[best] -= total;
  return best;
}

}  // namespace sb::balance
