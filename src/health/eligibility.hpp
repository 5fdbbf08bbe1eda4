// Which instances of a service may take a new request: selection (the balancer) is separate from
// eligibility (this), as in Pingora and HAProxy. An instance that is down by passive health or by
// active checks, or ejected by outlier detection, is excluded, except that a service with one
// instance is never marked down, and when fewer than `panic_threshold` percent of the instances are
// healthy all of them are used (Envoy's panic mode: failing open beats sending every request to the
// few left); with the threshold at 0 and every instance down, all are tried again (nginx).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "upstream/instance.hpp"

namespace sb::health {

struct Eligibility {
  size_t healthy = 0;
  bool panic = false;  // every instance left eligible although some are down
};

// Worker thread, once per request: sets excluded[i] for the instances that are down. `excluded`
// has one entry per instance and comes in all false. An instance found back from a passive-down
// period or an ejection is logged here, once, naming `service`: the first request after the
// period notices, so the line comes when traffic does.
Eligibility exclude_unhealthy(std::span<const std::shared_ptr<upstream::Instance>> instances,
                              std::span<bool> excluded, CoarseClock::time_point now,
                              uint32_t panic_threshold_percent, std::string_view service = {});

}  // namespace sb::health
