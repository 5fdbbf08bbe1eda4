// GET /v1/dashboard: the services and instances in the status view /lb-status and /metrics share
// (proxy/instance_status.hpp), and the recent events.
#include "admin/dashboard.hpp"

#include <nlohmann/json.hpp>

#include "core/coarse_clock.hpp"
#include "proxy/instance_status.hpp"

namespace sb::admin {

std::string dashboard_json(const proxy::Snapshot& snapshot, const EventLog& events) {
  nlohmann::json services = nlohmann::json::array();
  for (const proxy::ServiceStatus& service : proxy::collect_status(snapshot, CoarseClock::now())) {
    services.push_back(proxy::to_json(service));
  }
  nlohmann::json feed = nlohmann::json::array();
  for (const Event& event : events.recent(50)) {
    nlohmann::json one = {{"unix_ms", event.unix_ms}, {"level", event.level}, {"text", event.text}};
    for (const auto& [key, value] :
         {std::pair{"event", &event.event}, std::pair{"service", &event.service},
          std::pair{"instance", &event.instance}, std::pair{"id", &event.id}}) {
      if (!value->empty()) one[key] = *value;
    }
    feed.push_back(std::move(one));
  }
  return nlohmann::json{{"services", std::move(services)}, {"events", std::move(feed)}}.dump();
}

}  // namespace sb::admin
