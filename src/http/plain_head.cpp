#include "http/plain_head.hpp"

#include <llhttp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "http/text.hpp"

namespace sb::http {

namespace {

// Character classes of the plain subset (narrower than the grammar: what is left out goes to
// llhttp, never to an error here).
enum : uint8_t {
  kToken = 1,   // tchar (RFC 9110 5.6.2)
  kTarget = 2,  // an origin-form path and query: unreserved, sub-delims, ":@/?%" (no '#', no
                // quotes, nothing servers read differently)
  kText = 4,    // a field value or reason phrase: visible ASCII, space, tab
};

constexpr std::array<uint8_t, 256> kClasses = [] {
  std::array<uint8_t, 256> t{};
  const auto add = [&t](std::string_view chars, uint8_t cls) {
    for (const char c : chars) t[static_cast<unsigned char>(c)] |= cls;
  };
  for (int c = 0x20; c < 0x7f; ++c) t[c] |= kText;
  t['\t'] |= kText;
  for (int c = '0'; c <= '9'; ++c) t[c] |= kToken | kTarget;
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= kToken | kTarget;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kToken | kTarget;
  add("!#$%&'*+-.^_`|~", kToken);
  add("-._~!$&'()*+,;=:@/?%", kTarget);
  return t;
}();

bool is(char c, uint8_t cls) {
  return (kClasses[static_cast<unsigned char>(c)] & cls) != 0;
}

bool crlf_at(const char* p, const char* end) {
  return end - p >= 2 && p[0] == '\r' && p[1] == '\n';
}

// The methods taken here, with llhttp's numbers for them.
int method_of(std::string_view name) {
  switch (name.size()) {
    case 3:
      if (name == "GET") return HTTP_GET;
      if (name == "PUT") return HTTP_PUT;
      return -1;
    case 4:
      if (name == "POST") return HTTP_POST;
      if (name == "HEAD") return HTTP_HEAD;
      return -1;
    case 5:
      return name == "PATCH" ? HTTP_PATCH : -1;
    case 6:
      return name == "DELETE" ? HTTP_DELETE : -1;
    case 7:
      return name == "OPTIONS" ? HTTP_OPTIONS : -1;
    default:
      return -1;
  }
}

// "HTTP/1.0" or "HTTP/1.1" at `p`: returns the minor version, or -1.
int version_at(const char* p, const char* end) {
  constexpr std::string_view kPrefix = "HTTP/1.";
  if (static_cast<size_t>(end - p) < kPrefix.size() + 1) return -1;
  if (std::memcmp(p, kPrefix.data(), kPrefix.size()) != 0) return -1;
  const char minor = p[kPrefix.size()];
  return minor == '0' || minor == '1' ? minor - '0' : -1;
}

// "METHOD /target HTTP/1.x\r\n"; returns the position after it, or nullptr.
const char* request_line(const char* data, const char* end, const ParseLimits& limits,
                         PlainHead& head) {
  const char* p = data;
  while (p < end && p - data < 8 && *p >= 'A' && *p <= 'Z') ++p;
  if (p == end || *p != ' ') return nullptr;
  head.method = method_of({data, static_cast<size_t>(p - data)});
  if (head.method < 0) return nullptr;
  const char* target = ++p;
  if (p == end || *p != '/') return nullptr;
  while (p < end && is(*p, kTarget)) ++p;
  const auto target_length = static_cast<uint32_t>(p - target);
  if (limits.request_line != 0 && target_length > limits.request_line) return nullptr;
  head.target = {static_cast<uint32_t>(target - data), target_length};
  if (p == end || *p != ' ') return nullptr;
  head.version_minor = version_at(++p, end);
  if (head.version_minor < 0) return nullptr;
  p += 8;
  return crlf_at(p, end) ? p + 2 : nullptr;
}

// "HTTP/1.x DDD Reason\r\n" with a status from 200 to 599 and a reason that neither starts nor
// ends with whitespace; returns the position after it, or nullptr.
const char* status_line(const char* data, const char* end, PlainHead& head) {
  head.version_minor = version_at(data, end);
  if (head.version_minor < 0) return nullptr;
  const char* p = data + 8;
  if (end - p < 6 || p[0] != ' ' || p[1] < '2' || p[1] > '5' || p[2] < '0' || p[2] > '9' ||
      p[3] < '0' || p[3] > '9' || p[4] != ' ' || is_ows(p[5])) {
    return nullptr;
  }
  head.status_code = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
  const char* reason = p += 5;
  while (p < end && is(*p, kText)) ++p;
  if (p == reason || is_ows(p[-1]) || !crlf_at(p, end)) return nullptr;
  head.target = {static_cast<uint32_t>(reason - data), static_cast<uint32_t>(p - reason)};
  return p + 2;
}

std::string_view trim_trailing(std::string_view text, bool tabs) {
  while (!text.empty() && (text.back() == ' ' || (tabs && text.back() == '\t'))) {
    text.remove_suffix(1);
  }
  return text;
}

// Reads what a field that llhttp gives a meaning to says; false for what the subset leaves out.
// `value` is as received after the leading whitespace: llhttp reads spaces after a Content-Length
// or a Connection token as the end of it, but a tab as part of it (400, or another token).
bool note_special_field(std::string_view name, std::string_view value, PlainHead& head) {
  switch (name.size()) {
    case 7:   // upgrade
    case 16:  // proxy-connection
    case 17:  // transfer-encoding
      return !iequals(name, "upgrade") && !iequals(name, "proxy-connection") &&
             !iequals(name, "transfer-encoding");
    case 10:
      if (!iequals(name, "connection")) return true;
      value = trim_trailing(value, /*tabs=*/false);
      if (iequals(value, "close")) {
        head.connection_close = true;
      } else if (iequals(value, "keep-alive")) {
        head.connection_keep_alive = true;
      } else {
        return false;
      }
      return true;
    case 14: {
      if (!iequals(name, "content-length")) return true;
      // One, of 1 to 18 digits (no overflow to think about), then nothing but spaces.
      if (head.has_content_length) return false;
      size_t digits = 0;
      uint64_t n = 0;
      while (digits < value.size() && value[digits] >= '0' && value[digits] <= '9') {
        n = n * 10 + static_cast<uint64_t>(value[digits++] - '0');
      }
      if (digits == 0 || digits > 18) return false;
      for (size_t i = digits; i < value.size(); ++i) {
        if (value[i] != ' ') return false;
      }
      head.has_content_length = true;
      head.content_length = n;
      return true;
    }
    default:
      return true;
  }
}

}  // namespace

bool parse_plain_head(MessageKind kind, const char* data, size_t length, const ParseLimits& limits,
                      HeaderField* headers, PlainHead& head) {
  const size_t limit = std::min<size_t>(length, limits.header_block);
  const char* end = data + limit;
  const char* p = kind == MessageKind::kRequest ? request_line(data, end, limits, head)
                                                : status_line(data, end, head);
  if (p == nullptr) return false;
  for (;;) {
    if (crlf_at(p, end)) {
      head.head_length = static_cast<uint32_t>(p + 2 - data);
      return true;
    }
    const char* name = p;
    while (p < end && is(*p, kToken)) ++p;
    if (p == name || p == end || *p != ':') return false;
    const std::string_view name_text{name, static_cast<size_t>(p - name)};
    ++p;
    while (p < end && is_ows(*p)) ++p;
    const char* value = p;
    while (p < end && is(*p, kText)) ++p;
    if (!crlf_at(p, end)) return false;
    const std::string_view received{value, static_cast<size_t>(p - value)};
    if (!note_special_field(name_text, received, head)) return false;
    const std::string_view value_text = trim_trailing(received, /*tabs=*/true);
    if (head.header_count == limits.header_count) return false;
    HeaderField& field = headers[head.header_count++];
    field.name = {static_cast<uint32_t>(name - data), static_cast<uint32_t>(name_text.size())};
    // An empty value is the empty span llhttp's path leaves.
    field.value = value_text.empty() ? Span{}
                                     : Span{static_cast<uint32_t>(value - data),
                                            static_cast<uint32_t>(value_text.size())};
    p += 2;
  }
}

}  // namespace sb::http
