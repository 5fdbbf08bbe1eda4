// Which instances may take a new request (see eligibility.hpp).
#include "health/eligibility.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/log_event.hpp"

namespace sb::health {

Eligibility exclude_unhealthy(std::span<const std::shared_ptr<upstream::Instance>> instances,
                              std::span<bool> excluded, CoarseClock::time_point now,
                              uint32_t panic_threshold_percent, std::string_view service) {
  Eligibility result;
  for (const auto& instance : instances) {
    if (instance->outlier().take_return(now)) {
      log_event(spdlog::level::info, {"returned", service, instance->label()},
                "instance {} back from ejection {}", instance->label(),
                instance->outlier().ejections());
    }
    if (instance->passive().take_return(now)) {
      log_event(spdlog::level::info, {"back", service, instance->label()},
                "instance {} of service {} back: its marked-down period is over", instance->label(),
                service);
    }
  }
  if (instances.size() <= 1) {
    result.healthy = instances.size();
    return result;
  }
  for (size_t i = 0; i < instances.size(); ++i) {
    excluded[i] = instances[i]->passive().down(now) || instances[i]->check_down() ||
                  instances[i]->outlier().ejected(now);
    if (!excluded[i]) ++result.healthy;
  }
  const bool below_threshold =
      result.healthy * 100 < static_cast<size_t>(panic_threshold_percent) * instances.size();
  if (below_threshold || result.healthy == 0) {
    std::fill(excluded.begin(), excluded.end(), false);
    result.panic = true;
  }
  return result;
}

}  // namespace sb::health
