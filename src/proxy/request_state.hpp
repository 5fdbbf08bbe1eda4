// The working memory of one request in flight: parsers, the heads being written, the access-log
// record. A session borrows it from its worker's pool for a request and returns it when idle.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "http/message_parser.hpp"
#include "proxy/access_log.hpp"

namespace sb::proxy {

struct RequestState {
  http::MessageParser request{http::MessageKind::kRequest};
  http::MessageParser response{http::MessageKind::kResponse};
  std::string head;    // the rewritten head being sent (capacity kept across requests)
  std::string target;  // the rewritten request-target when a prefix is stripped
  AccessRecord log;

  // Instances a request has tried, for the balancer's next pick.
  std::span<bool> excluded(size_t instances) { return flags(excluded_, instances); }
  // Instances found at max_conns during one pick (left out of that pick only).
  std::span<bool> full(size_t instances) { return flags(full_, instances); }
  // Slow start's weights for one pick, one per instance.
  std::span<uint32_t> weights(size_t instances) {
    if (weights_.size() < instances) weights_.resize(instances);
    return {weights_.data(), instances};
  }

 private:
  struct Flags {
    std::unique_ptr<bool[]> data;
    size_t capacity = 0;
  };
  // All false, one per instance; the memory is kept for the next request.
  static std::span<bool> flags(Flags& flags, size_t instances) {
    if (flags.capacity < instances) {
      flags.data = std::make_unique<bool[]>(instances);
      flags.capacity = instances;
    }
    std::fill_n(flags.data.get(), instances, false);
    return {flags.data.get(), instances};
  }
  Flags excluded_;
  Flags full_;
  std::vector<uint32_t> weights_;
};

}  // namespace sb::proxy
