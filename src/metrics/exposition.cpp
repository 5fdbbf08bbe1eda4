#include "metrics/exposition.hpp"

#include <fmt/format.h>

namespace sb::metrics {

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void Exposition::labels(Labels labels) {
  if (labels.size() == 0) return;
  out_.push_back('{');
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out_.push_back(',');
    first = false;
    out_.append(key);
    out_.append("=\"");
    for (const char c : value) {  // the format's three escapes
      if (c == '\\') {
        out_.append("\\\\");
      } else if (c == '"') {
        out_.append("\\\"");
      } else if (c == '\n') {
        out_.append("\\n");
      } else {
        out_.push_back(c);
      }
    }
    out_.push_back('"');
  }
  out_.push_back('}');
}

void Exposition::sample(std::string_view name, Labels l, uint64_t value) {
  out_.append(name);
  labels(l);
  fmt::format_to(std::back_inserter(out_), " {}\n", value);
}

void Exposition::sample(std::string_view name, Labels l, double value) {
  out_.append(name);
  labels(l);
  fmt::format_to(std::back_inserter(out_), " {}\n", value);
}

void Exposition::histogram(std::string_view name, std::string_view service,
                           std::string_view instance, const LatencyTotals& totals) {
  const std::string bucket = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < totals.counts.size(); ++i) {
    cumulative += totals.counts[i];
    const std::string le =
        i < LatencyHistogram::kBoundsUs.size()
            ? fmt::format("{}", static_cast<double>(LatencyHistogram::kBoundsUs[i]) / 1e6)
            : "+Inf";
    sample(bucket, {{"service", service}, {"instance", instance}, {"le", le}}, cumulative);
  }
  sample(std::string(name) + "_sum", {{"service", service}, {"instance", instance}},
         static_cast<double>(totals.sum_us) / 1e6);
  sample(std::string(name) + "_count", {{"service", service}, {"instance", instance}}, cumulative);
}

}  // namespace sb::metrics
