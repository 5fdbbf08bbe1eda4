#include "http/request_target.hpp"

#include <strings.h>

#include <array>
#include <cstdint>

namespace sb::http {

namespace {

enum : uint8_t {
  kUnreserved = 1,  // ALPHA DIGIT "-" "." "_" "~" (RFC 3986 2.3)
  kSubDelim = 2,    // "!" "$" "&" "'" "(" ")" "*" "+" "," ";" "="
  kHex = 4,
  kDigit = 8,
};

constexpr std::array<uint8_t, 256> kClasses = [] {
  std::array<uint8_t, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] |= kUnreserved | kHex | kDigit;
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= kUnreserved;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kUnreserved;
  for (int c = 'a'; c <= 'f'; ++c) t[c] |= kHex;
  for (int c = 'A'; c <= 'F'; ++c) t[c] |= kHex;
  for (const char c : std::string_view("-._~")) t[static_cast<unsigned char>(c)] |= kUnreserved;
  for (const char c : std::string_view("!$&'()*+,;=")) {
    t[static_cast<unsigned char>(c)] |= kSubDelim;
  }
  return t;
}();

bool is(char c, uint8_t cls) {
  return (kClasses[static_cast<unsigned char>(c)] & cls) != 0;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return (c | 0x20) - 'a' + 10;
}

char upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

// A "." or ".." segment, with or without parameters (";..."), starts at path[i] (just after a
// '/').
bool dot_segment_at(std::string_view path, size_t i) {
  const auto ends_at = [&path](size_t j) {
    return j == path.size() || path[j] == '/' || path[j] == ';';
  };
  return path[i] == '.' && (ends_at(i + 1) || (path[i + 1] == '.' && ends_at(i + 2)));
}

bool is_dot_segment(std::string_view segment) {
  return segment == "." || segment == "..";
}

// Appends one segment with its escapes normalized; false for a malformed escape.
bool append_segment(std::string_view segment, std::string& out) {
  for (size_t i = 0; i < segment.size(); ++i) {
    const char c = segment[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= segment.size() || !is(segment[i + 1], kHex) || !is(segment[i + 2], kHex)) {
      return false;
    }
    const char decoded =
        static_cast<char>(hex_value(segment[i + 1]) * 16 + hex_value(segment[i + 2]));
    if (is(decoded, kUnreserved)) {
      out.push_back(decoded);
    } else {
      out.push_back('%');
      out.push_back(upper(segment[i + 1]));
      out.push_back(upper(segment[i + 2]));
    }
    i += 2;
  }
  return true;
}

}  // namespace

bool is_absolute_form(std::string_view target) {
  return target.size() >= 7 &&
         (strncasecmp(target.data(), "http://", 7) == 0 ||
          (target.size() >= 8 && strncasecmp(target.data(), "https://", 8) == 0));
}

std::string_view origin_form(std::string_view target) {
  if (!is_absolute_form(target)) return target;
  const size_t path = target.find_first_of("/?", target.find("//") + 2);
  return path == std::string_view::npos ? std::string_view("/") : target.substr(path);
}

std::string_view target_path(std::string_view target) {
  return target.substr(0, target.find('?'));
}

std::string_view target_authority(std::string_view target) {
  if (!is_absolute_form(target)) return {};
  const size_t start = target.find("//") + 2;
  const size_t end = target.find_first_of("/?", start);
  return target.substr(start, (end == std::string_view::npos ? target.size() : end) - start);
}

bool valid_host(std::string_view value) {
  size_t i = 0;
  if (!value.empty() && value.front() == '[') {
    // IP-literal: an IPv6 address or IPvFuture, whose characters all come from this set.
    for (i = 1; i < value.size() && value[i] != ']'; ++i) {
      if (!is(value[i], kUnreserved | kSubDelim) && value[i] != ':') return false;
    }
    if (i == value.size() || i == 1) return false;
    ++i;
  } else {
    // reg-name, which an IPv4 address also matches.
    for (; i < value.size() && value[i] != ':'; ++i) {
      if (value[i] == '%') {
        if (i + 2 >= value.size() || !is(value[i + 1], kHex) || !is(value[i + 2], kHex)) {
          return false;
        }
        i += 2;
      } else if (!is(value[i], kUnreserved | kSubDelim)) {
        return false;
      }
    }
  }
  if (i == value.size()) return true;
  if (value[i] != ':' || i == 0) return false;  // a port needs a host before it
  // port = *DIGIT; more than five digits is no port.
  const std::string_view port = value.substr(i + 1);
  if (port.size() > 5) return false;
  for (const char c : port) {
    if (!is(c, kDigit)) return false;
  }
  return true;
}

bool valid_route_host(std::string_view name) {
  return !name.empty() && valid_host(name) &&
         (name.front() == '[' ? name.back() == ']' : name.find(':') == std::string_view::npos);
}

PathCheck normalize_path(std::string_view path, std::string& out) {
  if (path.empty() || path.front() != '/') return PathCheck::kUnchanged;
  bool needed = false;
  for (size_t i = 0; i < path.size() && !needed; ++i) {
    needed = path[i] == '%' || path[i] == '\\' ||
             (path[i] == '/' && i + 1 < path.size() && dot_segment_at(path, i + 1));
  }
  if (!needed) return PathCheck::kUnchanged;
  // Windows servers and WHATWG URL parsers (Node's among them) read a backslash as a slash.
  if (path.find('\\') != std::string_view::npos) return PathCheck::kAmbiguous;

  // One segment at a time: each is appended with its escapes normalized, so an escaped dot is
  // a dot by the time the segment is judged, and then dropped if it is "." or "..".
  out.clear();
  size_t i = 0;
  while (i < path.size()) {
    size_t next = path.find('/', i + 1);
    if (next == std::string_view::npos) next = path.size();
    const size_t mark = out.size();
    out.push_back('/');
    if (!append_segment(path.substr(i + 1, next - i - 1), out)) return PathCheck::kMalformed;
    const std::string_view segment(out.data() + mark + 1, out.size() - mark - 1);
    const bool last = next == path.size();
    // RFC 3986 gives ';' no meaning, but servlet containers drop a segment's ";parameters"
    // before they resolve dot segments: "/public/..;/admin" is "/admin" to them.
    if (!is_dot_segment(segment) && is_dot_segment(segment.substr(0, segment.find(';')))) {
      return PathCheck::kAmbiguous;
    }
    if (is_dot_segment(segment)) {
      const bool up = segment.size() == 2;
      out.resize(mark);
      if (up) out.resize(out.empty() ? 0 : out.rfind('/'));
      if (last) out.push_back('/');
    }
    i = next;
  }
  if (out.empty()) out.push_back('/');
  return PathCheck::kNormalized;
}

const char* path_problem(PathCheck check) {
  switch (check) {
    case PathCheck::kMalformed:
      return "malformed percent-encoding in the path";
    case PathCheck::kAmbiguous:
      return "ambiguous path (a backslash, or a dot segment with ';' parameters)";
    default:
      return "";
  }
}

}  // namespace sb::http
