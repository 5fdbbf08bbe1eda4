// Unit tests of src/core/log_format and src/core/log_event: a JSON log line is one object with
// time (UTC), level and message first, the structured fields of log_event where the line has
// them, escaping that keeps it one line, and the fields gone again once the call returns.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/log_event.hpp"
#include "core/log_format.hpp"

namespace sb {
namespace {

// Routes the default logger into a string for one test, then puts the old one back.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
    apply_log_settings("json", "info");
  }
  ~CapturedLog() {
    spdlog::set_default_logger(previous_);
    apply_log_settings("text", "info");  // the other tests' lines stay readable
  }

  std::vector<nlohmann::ordered_json> lines() const {
    std::vector<nlohmann::ordered_json> out;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) {
      out.push_back(nlohmann::ordered_json::parse(line));
    }
    return out;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(JsonLogFormat, OneObjectPerLineWithFields) {
  CapturedLog log;
  log_event(spdlog::level::warn, {"ejected", "web", "127.0.0.1:9101"}, "instance {} ejected",
            "127.0.0.1:9101");
  spdlog::info("plain \"quoted\"\nsecond line \xff");
  spdlog::debug("below the level");
  const auto lines = log.lines();
  ASSERT_EQ(lines.size(), 2u);

  const auto& first = lines[0];
  std::vector<std::string> keys;
  for (const auto& item : first.items()) keys.push_back(item.key());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"time", "level", "message", "event", "service", "instance"}));
  const std::string time = first["time"];
  ASSERT_EQ(time.size(), 24u);  // 2026-11-24T10:00:00.123Z
  EXPECT_EQ(time[10], 'T');
  EXPECT_EQ(time.back(), 'Z');
  EXPECT_EQ(first["level"], "warning");
  EXPECT_EQ(first["message"], "instance 127.0.0.1:9101 ejected");
  EXPECT_EQ(first["event"], "ejected");
  EXPECT_EQ(first["service"], "web");

  // A line logged after log_event returned carries no fields; a newline and bytes that are not
  // UTF-8 stay inside the one line.
  const auto& second = lines[1];
  EXPECT_FALSE(second.contains("event"));
  EXPECT_EQ(second["message"], "plain \"quoted\"\nsecond line \xEF\xBF\xBD");
  EXPECT_EQ(current_log_fields(), nullptr);
}

TEST(JsonLogFormat, FieldsOnlyWhileTheCallRuns) {
  EXPECT_EQ(current_log_fields(), nullptr);
  CapturedLog log;
  log_event(spdlog::level::debug, {"hidden"}, "below the level: not formatted");
  EXPECT_TRUE(log.lines().empty());
  EXPECT_EQ(current_log_fields(), nullptr);
}

}  // namespace
}  // namespace sb
