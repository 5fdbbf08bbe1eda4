#include "http/http_date.hpp"

#include <fmt/format.h>

#include <chrono>

namespace sb::http {

void format_http_date(std::time_t t, char (&out)[30]) {
  // Names spelled out rather than strftime's %a/%b, which follow the locale.
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&t, &tm);
  const auto end = fmt::format_to_n(out, sizeof out - 1, "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
                                    kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
                                    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  *end.out = '\0';
}

std::string_view http_date_now() {
  thread_local std::time_t formatted_second = -1;
  thread_local char text[30];
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  if (now != formatted_second) {
    format_http_date(now, text);
    formatted_second = now;
  }
  return {text, 29};
}

}  // namespace sb::http
