// InstancePicker (see picker.hpp): resolved instances in, the proxy's balancer over them.
#include "client/picker.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <utility>

namespace switchboard::detail {
namespace {

// What the balancer's state depends on; state, tags and heartbeat age may change without a rebuild.
bool same_target(const InstanceInfo& a, const InstanceInfo& b) {
  return a.id == b.id && a.address == b.address && a.port == b.port && a.weight == b.weight;
}

}  // namespace

InstancePicker::InstancePicker(std::string algorithm, size_t rotation)
    : algorithm_(std::move(algorithm)), rotation_(rotation) {
  if (!sb::balance::is_known_algorithm(algorithm_)) {
    throw ClientError(0, "unknown balancing algorithm \"" + algorithm_ + "\"", "algorithm");
  }
}

bool InstancePicker::update(std::vector<InstanceInfo> instances) {
  // A canonical order, so the same set always lands on the same balancer positions.
  std::sort(instances.begin(), instances.end(),
            [](const InstanceInfo& a, const InstanceInfo& b) { return a.id < b.id; });
  if (!instances.empty()) {
    const auto first = static_cast<std::ptrdiff_t>(rotation_ % instances.size());
    std::rotate(instances.begin(), instances.begin() + first, instances.end());
  }
  const bool unchanged =
      balancer_ != nullptr && std::equal(instances.begin(), instances.end(), instances_.begin(),
                                         instances_.end(), same_target);
  instances_ = std::move(instances);
  if (unchanged) return false;

  upstreams_.clear();
  for (size_t i = 0; i < instances_.size(); ++i) {
    const InstanceInfo& info = instances_[i];
    boost::system::error_code not_numeric;
    const auto address = boost::asio::ip::make_address(info.address, not_numeric);
    // A host name stays unresolved: balancers look at weights and positions only, and whoever
    // connects resolves the name itself.
    const boost::asio::ip::tcp::endpoint endpoint =
        not_numeric ? boost::asio::ip::tcp::endpoint{}
                    : boost::asio::ip::tcp::endpoint(address, info.port);
    upstreams_.push_back(std::make_shared<sb::upstream::Instance>(i, info.address, info.port,
                                                                  endpoint, info.weight, 1));
  }
  balancer_ = sb::balance::make_balancer(algorithm_, upstreams_);
  return true;
}

size_t InstancePicker::pick(std::span<const bool> excluded) {
  if (balancer_ == nullptr || instances_.empty()) return kNone;
  sb::balance::PickContext context;
  context.excluded = excluded;
  return balancer_->pick(context);
}

}  // namespace switchboard::detail
