// The working memory of one request in flight: parsers, the heads being written, the access-log
// record. A session borrows it from its worker's pool for a request and returns it when idle.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

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
  std::span<bool> excluded(size_t instances) {
    if (excluded_capacity_ < instances) {
      excluded_ = std::make_unique<bool[]>(instances);
      excluded_capacity_ = instances;
    }
    std::fill_n(excluded_.get(), instances, false);
    return {excluded_.get(), instances};
  }

 private:
  std::unique_ptr<bool[]> excluded_;
  size_t excluded_capacity_ = 0;
};

}  // namespace sb::proxy
