// The text and JSON log formats (see log_format.hpp).
#include "core/log_format.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/log_event.hpp"

namespace sb {

namespace {

// RFC 3339 in UTC with milliseconds: sortable and unambiguous across hosts and time zones.
std::string utc_time(std::chrono::system_clock::time_point time) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms.count() % 1000);
}

}  // namespace

void JsonLogFormatter::format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& dest) {
  nlohmann::ordered_json line;  // keys in this order: time, level and message lead every line
  line["time"] = utc_time(message.time);
  const auto level = spdlog::level::to_string_view(message.level);
  line["level"] = std::string_view(level.data(), level.size());
  line["message"] = std::string_view(message.payload.data(), message.payload.size());
  if (const LogFields* fields = current_log_fields()) {
    if (!fields->event.empty()) line["event"] = fields->event;
    if (!fields->service.empty()) line["service"] = fields->service;
    if (!fields->instance.empty()) line["instance"] = fields->instance;
    if (!fields->id.empty()) line["id"] = fields->id;
  }
  // Bytes that are not UTF-8 (a name from the network) become U+FFFD rather than an exception.
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  dest.append(text.data(), text.data() + text.size());
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
  return std::make_unique<JsonLogFormatter>();
}

void apply_log_settings(const std::string& format, const std::string& level) {
  if (format == "json") {
    spdlog::set_formatter(std::make_unique<JsonLogFormatter>());
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace sb
