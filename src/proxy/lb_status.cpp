#include "proxy/lb_status.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

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
  for (const auto& service_ptr : snapshot->services) {
    const Service& service = *service_ptr;
    nlohmann::json instances = nlohmann::json::array();
    for (const auto& instance : service.instances) {
      instances.push_back({{"address", instance->label()},
                           {"weight", instance->weight()},
                           {"requests", instance->requests()},
                           {"failures", instance->failures()},
                           {"responses",
                            {{"1xx", instance->responses(1)},
                             {"2xx", instance->responses(2)},
                             {"3xx", instance->responses(3)},
                             {"4xx", instance->responses(4)},
                             {"5xx", instance->responses(5)}}}});
      if (service.outlier) {
        instances.back()["ejected"] = instance->outlier().ejected(CoarseClock::now());
        instances.back()["ejections"] = instance->outlier().ejections();
      }
      if (service.health.check) {
        instances.back()["check"] = instance->check_down() ? "down" : "up";
      }
      // Only where the algorithm counts requests in flight; elsewhere a 0 would be a lie.
      if (service.needs.active_requests) instances.back()["active"] = instance->active_requests();
    }
    services.push_back({{"name", service.name},
                        {"balance", service.balance},
                        {"panic", service.panic.load(std::memory_order_relaxed)},
                        {"instances", std::move(instances)}});
    if (service.limits.max_conns != 0) {
      services.back()["max_conns"] = service.limits.max_conns;
      services.back()["queued"] = service.queue.waiting();
    }
  }
  doc["services"] = std::move(services);
  return doc.dump() + "\n";
}

}  // namespace sb::proxy
