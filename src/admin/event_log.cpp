// The dashboard's in-memory feed of recent log events (see event_log.hpp).
#include "admin/event_log.hpp"

#include <chrono>

#include "core/log_event.hpp"

namespace sb::admin {

void EventLog::sink_it_(const spdlog::details::log_msg& message) {
  if (message.level < spdlog::level::info) return;
  Event event;
  event.unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(message.time.time_since_epoch())
          .count();
  const auto level = spdlog::level::to_string_view(message.level);
  event.level.assign(level.data(), level.size());
  event.text.assign(message.payload.data(), message.payload.size());
  // Sinks run on the logging thread, inside log_event's scope: its fields are still set.
  if (const LogFields* fields = current_log_fields()) {
    event.event = fields->event;
    event.service = fields->service;
    event.instance = fields->instance;
    event.id = fields->id;
  }
  std::lock_guard lock(events_mutex_);
  if (events_.size() == kKept) events_.pop_front();
  events_.push_back(std::move(event));
}

std::vector<Event> EventLog::recent(size_t n) const {
  std::lock_guard lock(events_mutex_);
  const size_t from = events_.size() > n ? events_.size() - n : 0;
  return {events_.begin() + static_cast<std::ptrdiff_t>(from), events_.end()};
}

std::shared_ptr<EventLog> event_log() {
  static const auto log = std::make_shared<EventLog>();
  return log;
}

}  // namespace sb::admin
