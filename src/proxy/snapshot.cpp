#include "proxy/snapshot.hpp"

namespace sb::proxy {

Service::Service(std::string name_, std::string balance_,
                 std::vector<std::shared_ptr<upstream::Instance>> instances_, unsigned workers)
    : name(std::move(name_)), balance(std::move(balance_)), instances(std::move(instances_)) {
  balancers_.reserve(workers);
  for (unsigned w = 0; w < workers; ++w) {
    balancers_.push_back(balance::make_balancer(balance, instances));
  }
}

std::string_view strip_prefix(std::string_view path, std::string_view prefix) {
  if (prefix.size() <= 1 || path.substr(0, prefix.size()) != prefix) return path;
  std::string_view rest = path.substr(prefix.size());
  if (prefix.back() == '/') return path.substr(prefix.size() - 1);
  return rest;
}

}  // namespace sb::proxy
