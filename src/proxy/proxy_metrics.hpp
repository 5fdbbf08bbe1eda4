// The proxy's figures for GET /metrics: connections and requests of the listener, retries, and
// per service and instance (the status view /lb-status and the dashboard share) the state,
// requests, responses by status class, failures, requests in flight, health and ejection. Read at
// scrape time from the workers' single-writer counters (summed here) and from the current snapshot:
// counting costs the request path no lock.
#pragma once

#include "metrics/exposition.hpp"

namespace sb::proxy {

class Server;

// Any thread.
void write_proxy_metrics(metrics::Exposition& out, const Server& server);

}  // namespace sb::proxy
