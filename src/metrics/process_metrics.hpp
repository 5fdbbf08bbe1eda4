// The standard process_* metrics every Prometheus exporter offers (CPU seconds, resident memory,
// open and maximum file descriptors, start time), read from /proc and getrusage at scrape time.
#pragma once

#include "metrics/exposition.hpp"

namespace sb::metrics {

void write_process_metrics(Exposition& out);

}  // namespace sb::metrics
