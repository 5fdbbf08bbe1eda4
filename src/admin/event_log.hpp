// The dashboard's feed of recent events: every state change is already one log line (instance
// registered, expired, drained, marked down, ejected, back; config reloaded), so the feed is a
// log sink that keeps the last lines at info level and above, in memory, with the structured
// fields of core/log_event.hpp. It keeps the message, not the formatted line, so it reads the
// same whichever log format (text, json) stderr gets.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace sb::admin {

struct Event {
  int64_t unix_ms = 0;
  std::string level;  // "info", "warning", "error"
  std::string text;
  // The line's structured fields, where it has them (empty otherwise).
  std::string event;
  std::string service;
  std::string instance;
  std::string id;
};

class EventLog final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  static constexpr size_t kKept = 200;

  // Any thread: the newest `n` events, oldest first.
  std::vector<Event> recent(size_t n) const;

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override;
  void flush_() override {}

 private:
  mutable std::mutex events_mutex_;  // recent() runs on the admin thread while workers log
  std::deque<Event> events_;
};

// The process's event log, added to the logger by `switchboard serve`.
std::shared_ptr<EventLog> event_log();

}  // namespace sb::admin
