// How the process's log lines look: `text` (time, level, message: one line for people) or
// `json` (one object per line for collectors: time in UTC, level, message, and the structured
// fields of core/log_event.hpp where the line has them), and the level below which nothing is
// written. Set at start and again by a hot reload.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

namespace sb {

// {"time":"2026-11-24T10:00:00.123Z","level":"warning","message":"...","event":"ejected",
//  "service":"web","instance":"127.0.0.1:9101"}
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// Any thread. `format` is "text" or "json", `level` one of config's log levels (both validated).
void apply_log_settings(const std::string& format, const std::string& level);

}  // namespace sb
