#include "upstream/instance.hpp"

namespace sb::upstream {

Instance::Instance(uint64_t id, std::string host, uint16_t port,
                   boost::asio::ip::tcp::endpoint endpoint, uint32_t weight, unsigned workers)
    : id_(id),
      host_(std::move(host)),
      port_(port),
      label_((endpoint.address().is_v6() ? "[" + host_ + "]" : host_) + ":" + std::to_string(port)),
      endpoint_(endpoint),
      weight_(weight),
      workers_(workers),
      counters_(std::make_unique<InstanceCounters[]>(workers)) {}

uint64_t Instance::sum(SingleWriterCounter InstanceCounters::*counter) const {
  uint64_t total = 0;
  for (unsigned w = 0; w < workers_; ++w) total += (counters_[w].*counter).get();
  return total;
}

uint64_t Instance::responses(int status_class) const {
  uint64_t sum = 0;
  for (unsigned w = 0; w < workers_; ++w) sum += counters_[w].responses[status_class - 1].get();
  return sum;
}

metrics::LatencyTotals Instance::upstream_latency() const {
  metrics::LatencyTotals totals;
  for (unsigned w = 0; w < workers_; ++w) totals.add(counters_[w].upstream_latency);
  return totals;
}

metrics::LatencyTotals Instance::request_latency() const {
  metrics::LatencyTotals totals;
  for (unsigned w = 0; w < workers_; ++w) totals.add(counters_[w].request_latency);
  return totals;
}

}  // namespace sb::upstream
