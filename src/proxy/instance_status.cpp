// The per-instance status view shared by /lb-status, the dashboard and /metrics.
#include "proxy/instance_status.hpp"

#include <nlohmann/json.hpp>

namespace sb::proxy {

namespace {

InstanceStatus status_of(const Member& member, CoarseClock::time_point now) {
  InstanceStatus s;
  s.member = &member;
  if (const upstream::Instance* instance = member.instance.get()) {
    s.passive_down = instance->passive().down(now);
    s.check_down = instance->check_down();
    s.ejected = instance->outlier().ejected(now);
    s.ejection_multiplier = instance->outlier().ejections();
    s.ejections = instance->outlier().ejections_total();
    s.requests = instance->requests();
    s.failures = instance->failures();
    s.retries = instance->retries();
    for (int c = 1; c <= 5; ++c) s.responses[c - 1] = instance->responses(c);
    s.sent_bytes = instance->sent_bytes();
    s.received_bytes = instance->received_bytes();
    s.active = instance->in_flight();
    s.connections_open = instance->connections();
    s.connections_idle = instance->idle_connections();
    s.upstream_latency = instance->upstream_latency();
    s.request_latency = instance->request_latency();
  }
  if (!member.registered_state.empty() && member.registered_state != "passing") {
    s.state = member.registered_state == "critical" ? kInstanceStates[1] : kInstanceStates[2];
  } else if (s.ejected) {
    s.state = kInstanceStates[3];
  } else if (s.passive_down || s.check_down || member.instance == nullptr) {
    // A registered address that did not resolve is down too: the proxy cannot reach it.
    s.state = kInstanceStates[4];
  } else {
    s.state = kInstanceStates[0];
  }
  return s;
}

nlohmann::json optional_number(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json by_class(const std::array<uint64_t, 5>& counts) {
  return {{"1xx", counts[0]},
          {"2xx", counts[1]},
          {"3xx", counts[2]},
          {"4xx", counts[3]},
          {"5xx", counts[4]}};
}

}  // namespace

std::optional<double> InstanceStatus::error_rate() const {
  if (requests == 0) return std::nullopt;
  return static_cast<double>(errors()) / static_cast<double>(requests);
}

std::optional<double> InstanceStatus::latency_ms(double q) const {
  if (upstream_latency.count() == 0) return std::nullopt;
  return static_cast<double>(upstream_latency.quantile_us(q)) / 1000.0;
}

std::vector<ServiceStatus> collect_status(const Snapshot& snapshot, CoarseClock::time_point now) {
  std::vector<ServiceStatus> out;
  out.reserve(snapshot.services.size());
  for (const auto& service : snapshot.services) {
    ServiceStatus& s = out.emplace_back();
    s.service = service.get();
    s.panic = service->panic.load(std::memory_order_relaxed);
    s.requests = service->counters->requests();
    for (int c = 1; c <= 5; ++c) s.local_responses[c - 1] = service->counters->local_responses(c);
    s.instances.reserve(service->members.size());
    for (const Member& member : service->members) s.instances.push_back(status_of(member, now));
  }
  return out;
}

nlohmann::json to_json(const ServiceStatus& status) {
  const Service& service = *status.service;
  nlohmann::json instances = nlohmann::json::array();
  for (const InstanceStatus& i : status.instances) {
    const Member& m = *i.member;
    nlohmann::json one = {{"address", m.address},
                          {"id", m.id.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.id)},
                          {"state", i.state},
                          {"routed", m.routed},
                          {"weight", m.weight}};
    if (i.has_figures()) {
      one["requests"] = i.requests;
      one["retries"] = i.retries;
      one["failures"] = i.failures;
      one["errors"] = i.errors();
      one["error_rate"] = optional_number(i.error_rate());
      one["responses"] = by_class(i.responses);
      one["sent_bytes"] = i.sent_bytes;
      one["received_bytes"] = i.received_bytes;
      one["active"] = i.active;
      one["connections"] = {{"open", i.connections_open}, {"idle", i.connections_idle}};
      one["p50_ms"] = optional_number(i.latency_ms(0.5));
      one["p99_ms"] = optional_number(i.latency_ms(0.99));
      if (service.health.check) one["check"] = i.check_down ? "down" : "up";
      if (service.outlier) {
        one["ejected"] = i.ejected;
        one["ejections"] = i.ejections;
        one["ejection_multiplier"] = i.ejection_multiplier;
      }
    } else {
      for (const char* key : {"requests", "failures", "errors", "error_rate", "responses",
                              "sent_bytes", "received_bytes", "p50_ms", "p99_ms"}) {
        one[key] = nullptr;
      }
    }
    instances.push_back(std::move(one));
  }
  nlohmann::json out = {{"name", service.name},
                        {"balance", service.balance},
                        {"panic", status.panic},
                        {"requests", status.requests},
                        {"local_responses", by_class(status.local_responses)},
                        {"instances", std::move(instances)}};
  if (service.limits.max_conns != 0) {
    out["max_conns"] = service.limits.max_conns;
    out["queued"] = service.queue.waiting();
  }
  return out;
}

}  // namespace sb::proxy
