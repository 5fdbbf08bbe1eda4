// Services (a name, its instances and one balancer per worker) and the snapshot that holds them.
#include "proxy/snapshot.hpp"

#include <stdexcept>

namespace sb::proxy {

Service::Service(std::string name_, std::string balance_,
                 std::vector<std::shared_ptr<upstream::Instance>> instances_, unsigned workers,
                 const std::optional<config::HashConfig>& hash, const config::HealthConfig& health_,
                 const config::RetryConfig& retry_, const config::ConnLimitConfig& limits_,
                 const std::optional<config::OutlierConfig>& outlier_, config::Duration slow_start_)
    : name(std::move(name_)),
      balance(std::move(balance_)),
      instances(std::move(instances_)),
      health(health_),
      retry(retry_),
      retry_budget(workers),
      limits(limits_),
      queue(workers),
      outlier(outlier_),
      slow_start(balance == "round_robin" || balance == "least_conn" ? slow_start_
                                                                     : config::Duration::zero()),
      counters(std::make_shared<ServiceCounters>(workers)) {
  members.reserve(instances.size());
  for (const auto& instance : instances) {
    members.push_back({instance, instance->label(), instance->weight(), {}, {}, true});
  }
  balance::Options options;
  options.shared = &shared_;
  if (hash) {
    hash_key = hash->key;
    options.balance_factor = hash->balance_factor;
  }
  needs = balance::needs_of(balance, options);
  // Without a configured key, hash has nothing to hash: every request would fall back to round
  // robin, so skip the per-request key lookup too (config validation rules this out).
  if (hash_key.source == config::HashKey::Source::kNone) needs.request_key = false;
  if (limits.max_conns != 0) needs.active_requests = true;  // max_conns counts what is in flight
  balancers_.reserve(workers);
  for (unsigned w = 0; w < workers; ++w) {
    balancers_.push_back(balance::make_balancer(balance, instances, options));
    // Names come from validated config or the registry's checked meta; this is a programming
    // error, not a user's.
    if (!balancers_.back()) throw std::logic_error("unknown balancing algorithm '" + balance + "'");
  }
}

std::string_view strip_prefix(std::string_view path, std::string_view prefix) {
  if (prefix.size() <= 1 || path.substr(0, prefix.size()) != prefix) return path;
  std::string_view rest = path.substr(prefix.size());
  if (prefix.back() == '/') return path.substr(prefix.size() - 1);
  return rest;
}

}  // namespace sb::proxy
