// /lb-status: the listener's connection figures, and per service and instance the status view
// the dashboard and /metrics share (proxy/instance_status.hpp).
#include "proxy/lb_status.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "proxy/instance_status.hpp"
#include "proxy/server.hpp"
#include "proxy/worker_totals.hpp"

namespace sb::proxy {

namespace {

uint64_t waiting(const WorkerTotals& t) {
  const uint64_t busy = t.reading + t.writing;
  return t.active > busy ? t.active - busy : 0;
}

}  // namespace

std::string status_text(const Server& server) {
  const WorkerTotals t = sum_workers(server);
  // Byte for byte nginx's layout (trailing spaces included), so stub_status scrapers work.
  return fmt::format(
      "Active connections: {} \nserver accepts handled requests\n {} {} {} \n"
      "Reading: {} Writing: {} Waiting: {} \n",
      t.active, t.accepted, t.handled, t.requests, t.reading, t.writing, waiting(t));
}

std::string status_json(const Server& server) {
  const WorkerTotals t = sum_workers(server);
  nlohmann::json doc;
  doc["connections"] = {{"active", t.active},   {"accepted", t.accepted}, {"handled", t.handled},
                        {"reading", t.reading}, {"writing", t.writing},   {"waiting", waiting(t)},
                        {"tunnels", t.tunnels}};
  doc["requests"] = t.requests;
  doc["retries"] = {{"attempts", t.retries}, {"over_budget", t.retries_over_budget}};
  doc["access_log_dropped"] = server.access_log().dropped();
  nlohmann::json workers = nlohmann::json::array();
  for (unsigned i = 0; i < server.worker_count(); ++i) {
    const WorkerStats& s = server.worker(i).stats();
    workers.push_back({{"accepted", s.accepted.get()},
                       {"active", s.active.get()},
                       {"requests", s.requests.get()}});
  }
  doc["workers"] = std::move(workers);
  nlohmann::json services = nlohmann::json::array();
  const auto snapshot = server.snapshot();
  for (const ServiceStatus& service : collect_status(*snapshot, CoarseClock::now())) {
    services.push_back(to_json(service));
  }
  doc["services"] = std::move(services);
  return doc.dump() + "\n";
}

}  // namespace sb::proxy
