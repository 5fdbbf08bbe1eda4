#include "proxy/proxy_metrics.hpp"

#include <array>
#include <string>
#include <vector>

#include "core/coarse_clock.hpp"
#include "proxy/instance_status.hpp"
#include "proxy/server.hpp"
#include "proxy/worker_totals.hpp"

namespace sb::proxy {

namespace {

constexpr std::array<std::string_view, 5> kClasses{"1xx", "2xx", "3xx", "4xx", "5xx"};

}  // namespace

void write_proxy_metrics(metrics::Exposition& out, const Server& server) {
  const WorkerTotals t = sum_workers(server);
  out.family("switchboard_connections_accepted_total", "counter",
             "Client connections accepted by the proxy listener.");
  out.sample("switchboard_connections_accepted_total", t.accepted);
  out.family("switchboard_connections_active", "gauge", "Client connections open now.");
  out.sample("switchboard_connections_active", t.active);
  out.family("switchboard_websocket_tunnels_active", "gauge", "WebSocket tunnels open now.");
  out.sample("switchboard_websocket_tunnels_active", t.tunnels);
  out.family("switchboard_requests_total", "counter",
             "Requests read from clients, built-in endpoints included.");
  out.sample("switchboard_requests_total", t.requests);
  out.family("switchboard_retries_total", "counter",
             "Attempts sent to another instance after a failed one.");
  out.sample("switchboard_retries_total", t.retries);
  out.family("switchboard_retries_over_budget_total", "counter",
             "Retries the retry budget refused.");
  out.sample("switchboard_retries_over_budget_total", t.retries_over_budget);
  out.family("switchboard_local_responses_total", "counter",
             "Responses the proxy made itself rather than relayed from an instance (malformed or "
             "too large requests, no route, no instance, failed or timed-out upstreams, built-in "
             "endpoints), by status class.");
  for (size_t c = 0; c < kClasses.size(); ++c) {
    out.sample("switchboard_local_responses_total", {{"code", kClasses[c]}}, t.local_responses[c]);
  }

  // Per instance: the status view /lb-status and the dashboard show (proxy/instance_status.hpp),
  // so the three agree on which instances there are, their state and their figures.
  const auto snapshot = server.snapshot();
  const std::vector<ServiceStatus> status = collect_status(*snapshot, CoarseClock::now());
  // Instances the proxy holds figures for (all but registered addresses that did not resolve).
  const auto each_instance = [&](auto&& write) {
    for (const ServiceStatus& service : status) {
      for (const InstanceStatus& instance : service.instances) {
        if (instance.has_figures()) write(*service.service, instance);
      }
    }
  };
  // A family with one sample per instance: the field `value` of its status.
  const auto instance_family = [&](std::string_view name, std::string_view type,
                                   std::string_view help, uint64_t InstanceStatus::*value) {
    out.family(name, type, help);
    each_instance([&](const Service& s, const InstanceStatus& i) {
      out.sample(name, {{"service", s.name}, {"instance", i.member->address}}, i.*value);
    });
  };
  out.family("switchboard_service_panic", "gauge",
             "1 while the service balances over every instance because too few are healthy.");
  for (const ServiceStatus& service : status) {
    out.sample("switchboard_service_panic", {{"service", service.service->name}},
               uint64_t{service.panic});
  }
  out.family("switchboard_service_requests_total", "counter",
             "Client requests routed to the service (each once, however many attempts).");
  for (const ServiceStatus& service : status) {
    out.sample("switchboard_service_requests_total", {{"service", service.service->name}},
               service.requests);
  }
  out.family("switchboard_service_local_responses_total", "counter",
             "Requests routed to the service that the proxy answered itself (no instance "
             "available, every attempt failed, timeouts, a bad request body), by status class.");
  for (const ServiceStatus& service : status) {
    for (size_t c = 0; c < kClasses.size(); ++c) {
      out.sample("switchboard_service_local_responses_total",
                 {{"service", service.service->name}, {"code", kClasses[c]}},
                 service.local_responses[c]);
    }
  }
  out.family("switchboard_upstream_state", "gauge",
             "1 for the instance's state (passing, critical, draining, ejected, down), 0 for the "
             "others; as /lb-status and the dashboard show it.");
  for (const ServiceStatus& service : status) {
    for (const InstanceStatus& i : service.instances) {
      for (const std::string_view state : kInstanceStates) {
        out.sample(
            "switchboard_upstream_state",
            {{"service", service.service->name}, {"instance", i.member->address}, {"state", state}},
            uint64_t{state == i.state});
      }
    }
  }
  instance_family("switchboard_upstream_requests_total", "counter",
                  "Attempts sent to the instance (retries included).", &InstanceStatus::requests);
  instance_family("switchboard_upstream_retries_total", "counter",
                  "Attempts sent to the instance that retried a request failed on another one (of "
                  "switchboard_upstream_requests_total).",
                  &InstanceStatus::retries);
  out.family("switchboard_upstream_responses_total", "counter",
             "Response heads received from the instance, by status class.");
  each_instance([&](const Service& s, const InstanceStatus& i) {
    for (size_t c = 0; c < kClasses.size(); ++c) {
      out.sample("switchboard_upstream_responses_total",
                 {{"service", s.name}, {"instance", i.member->address}, {"code", kClasses[c]}},
                 i.responses[c]);
    }
  });
  out.family("switchboard_upstream_response_seconds", "histogram",
             "Time from sending a request to the instance to its final response head.");
  each_instance([&](const Service& s, const InstanceStatus& i) {
    out.histogram("switchboard_upstream_response_seconds", s.name, i.member->address,
                  i.upstream_latency);
  });
  out.family("switchboard_request_duration_seconds", "histogram",
             "Time from a request's head arriving to its response relayed in full, by the "
             "instance that answered.");
  each_instance([&](const Service& s, const InstanceStatus& i) {
    out.histogram("switchboard_request_duration_seconds", s.name, i.member->address,
                  i.request_latency);
  });
  instance_family("switchboard_upstream_failures_total", "counter",
                  "Attempts that failed: refused, reset, timed out or a malformed answer.",
                  &InstanceStatus::failures);
  instance_family("switchboard_upstream_sent_bytes_total", "counter",
                  "Bytes written to the instance: request heads as forwarded, bodies, WebSocket "
                  "frames.",
                  &InstanceStatus::sent_bytes);
  instance_family("switchboard_upstream_received_bytes_total", "counter",
                  "Bytes read from the instance: response heads (interim ones too), bodies, "
                  "WebSocket frames.",
                  &InstanceStatus::received_bytes);
  instance_family("switchboard_upstream_active_requests", "gauge",
                  "Requests and WebSocket tunnels in flight to the instance.",
                  &InstanceStatus::active);
  instance_family(
      "switchboard_upstream_connections_open", "gauge",
      "Connections to the instance open now: in use by a request or tunnel, or idle in a "
      "keep-alive pool.",
      &InstanceStatus::connections_open);
  instance_family(
      "switchboard_upstream_connections_idle", "gauge",
      "Of switchboard_upstream_connections_open: idle in the workers' keep-alive pools.",
      &InstanceStatus::connections_idle);
  out.family("switchboard_upstream_healthy", "gauge",
             "1 when no health rule has the instance out: passive health, active checks, "
             "outlier ejection.");
  each_instance([&](const Service& s, const InstanceStatus& i) {
    out.sample("switchboard_upstream_healthy",
               {{"service", s.name}, {"instance", i.member->address}}, uint64_t{i.healthy()});
  });
  out.family("switchboard_upstream_ejections_total", "counter",
             "Outlier ejections of the instance (services with outlier detection).");
  each_instance([&](const Service& s, const InstanceStatus& i) {
    if (!s.outlier) return;
    out.sample("switchboard_upstream_ejections_total",
               {{"service", s.name}, {"instance", i.member->address}}, i.ejections);
  });
  out.family("switchboard_upstream_ejection_multiplier", "gauge",
             "What the instance's next ejection time is multiplied by: its ejections, less one "
             "per base_ejection_time it stayed back (services with outlier detection).");
  each_instance([&](const Service& s, const InstanceStatus& i) {
    if (!s.outlier) return;
    out.sample("switchboard_upstream_ejection_multiplier",
               {{"service", s.name}, {"instance", i.member->address}},
               uint64_t{i.ejection_multiplier});
  });
}

}  // namespace sb::proxy
