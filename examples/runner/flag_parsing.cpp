// parse_endpoint and parse_duration, strict: trailing junk or out-of-range numbers are errors.
#include "flag_parsing.hpp"

#include <charconv>

namespace runner {

namespace {

bool parse_number(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

Endpoint parse_endpoint(const std::string& flag, const std::string& text, bool allow_zero) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw FlagError(flag, "expected host:port, got '" + text + "'");
  }
  Endpoint out;
  out.host = text.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  uint64_t port = 0;
  if (!parse_number(std::string_view(text).substr(colon + 1), port) || port > 65535 ||
      (port == 0 && !allow_zero)) {
    throw FlagError(flag, "bad port in '" + text + "'");
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

std::chrono::milliseconds parse_duration(const std::string& flag, const std::string& text) {
  std::string_view digits = text;
  uint64_t scale_ms = 1000;
  if (digits.ends_with("ms")) {
    digits.remove_suffix(2);
    scale_ms = 1;
  } else if (digits.ends_with("s")) {
    digits.remove_suffix(1);
  } else if (digits.ends_with("m")) {
    digits.remove_suffix(1);
    scale_ms = 60'000;
  }
  uint64_t value = 0;
  if (!parse_number(digits, value) || value == 0 || value > 86'400'000) {
    throw FlagError(flag, "expected a positive duration like 10s or 500ms, got '" + text + "'");
  }
  return std::chrono::milliseconds(value * scale_ms);
}

}  // namespace runner
