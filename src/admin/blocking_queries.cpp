#include "admin/blocking_queries.hpp"

namespace sb::admin {

BlockingQueries::Parked::Parked(BlockingQueries& queries, std::string service, Timer& timer)
    : queries_(queries), entry_(queries.timers_.emplace(std::move(service), &timer)) {}

BlockingQueries::Parked::~Parked() {
  queries_.timers_.erase(entry_);
}

void BlockingQueries::wake(std::string_view service) {
  const auto [begin, end] = timers_.equal_range(service);
  for (auto it = begin; it != end; ++it) cancel(*it->second);
  if (!service.empty()) {
    const auto [all_begin, all_end] = timers_.equal_range(std::string_view());
    for (auto it = all_begin; it != all_end; ++it) cancel(*it->second);
  }
}

void BlockingQueries::wake_all() {
  for (auto& [service, timer] : timers_) cancel(*timer);
}

}  // namespace sb::admin
