// One log line about a state change, with structured fields (event, service, instance, id) next
// to its message: the JSON log format writes them as keys and the dashboard's event feed keeps
// them. The fields reach the formatter and the sinks through a thread-local set for the duration
// of the call, so this relies on the logger being synchronous (a sink formats on the thread that
// logs); state changes are rare, so that costs nothing that matters.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>
#include <utility>

namespace sb {

struct LogFields {
  std::string_view event = {};     // what happened: registered, marked_down, ejected, ...
  std::string_view service = {};   // the service's name
  std::string_view instance = {};  // "host:port"
  std::string_view id = {};        // the registry's instance id, for registered instances
};

// The fields of the line being logged on this thread, or null outside log_event.
const LogFields* current_log_fields();

namespace detail {
class ScopedLogFields {
 public:
  explicit ScopedLogFields(const LogFields& fields);
  ~ScopedLogFields();
  ScopedLogFields(const ScopedLogFields&) = delete;
  ScopedLogFields& operator=(const ScopedLogFields&) = delete;

 private:
  const LogFields* previous_;
};
}  // namespace detail

// Any thread: spdlog::log(level, format, args...) with `fields` attached to the line.
template <typename... Args>
void log_event(spdlog::level::level_enum level, const LogFields& fields,
               spdlog::format_string_t<Args...> format, Args&&... args) {
  if (!spdlog::should_log(level)) return;
  const detail::ScopedLogFields scope(fields);
  spdlog::log(level, format, std::forward<Args>(args)...);
}

}  // namespace sb
