// Writing Prometheus's text exposition format (version 0.0.4): a family's HELP and TYPE lines
// once, then its samples, label values escaped. Small on purpose: the format is a few lines of
// text, and the client libraries for C++ bring a registry and threads we do not want on the
// admin thread (the numbers are read from the proxy's own per-worker counters at scrape time).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "metrics/latency_histogram.hpp"

namespace sb::metrics {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class Exposition {
 public:
  // Starts a family: `type` is counter or gauge.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, Labels labels, double value);
  void sample(std::string_view name, Labels labels, uint64_t value);
  void sample(std::string_view name, uint64_t value) { sample(name, {}, value); }
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  // A histogram's samples for one service and instance: cumulative `_bucket{le=...}` lines (the
  // bounds in seconds), `_sum` in seconds and `_count`.
  void histogram(std::string_view name, std::string_view service, std::string_view instance,
                 const LatencyTotals& totals);
  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void labels(Labels labels);
  std::string out_;
};

}  // namespace sb::metrics
