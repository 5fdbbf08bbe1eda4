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
    s.ejections = instance->outlier().ejections();
    s.requests = instance->requests();
    s.failures = instance->failures();
    s.retries = instance->retries();
    for (int c = 1; c <= 5; ++c) s.responses[c - 1] = instance->responses(c);
    s.active = instance->active_requests();
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
      one["responses"] = {{"1xx", i.responses[0]},
                          {"2xx", i.responses[1]},
                          {"3xx", i.responses[2]},
                          {"4xx", i.responses[3]},
                          {"5xx", i.responses[4]}};
      one["p50_ms"] = optional_number(i.latency_ms(0.5));
      one["p99_ms"] = optional_number(i.latency_ms(0.99));
      // Only where the algorithm (or max_conns) counts requests in flight; elsewhere a 0 would
      // be a lie.
      if (service.needs.active_requests) one["active"] = i.active;
      if (service.health.check) one["check"] = i.check_down ? "down" : "up";
      if (service.outlier) {
        one["ejected"] = i.ejected;
        one["ejections"] = i.ejections;
      }
    } else {
      for (const char* key :
           {"requests", "failures", "errors", "error_rate", "responses", "p50_ms", "p99_ms"}) {
        one[key] = nullptr;
      }
    }
    instances.push_back(std::move(one));
  }
  nlohmann::json out = {{"name", service.name},
                        {"balance", service.balance},
                        {"panic", status.panic},
                        {"instances", std::move(instances)}};
  if (service.limits.max_conns != 0) {
    out["max_conns"] = service.limits.max_conns;
    out["queued"] = service.queue.waiting();
  }
  return out;
}

}  // namespace sb::proxy
