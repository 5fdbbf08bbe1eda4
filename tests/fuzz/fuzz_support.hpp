// Helpers shared by the libFuzzer targets: traps for broken invariants, ASan poisoning of bytes
// not yet "received", and readers of the heads the proxy writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "http/message_parser.hpp"
#include "http/text.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define SB_FUZZ_ASAN 1
#endif
#endif

namespace sb::fuzz {

using http::iequals;
using http::MessageParser;

inline void check(bool ok) {
  if (!ok) __builtin_trap();
}

inline void poison(const char* p, size_t n) {
#ifdef SB_FUZZ_ASAN
  ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}

inline void unpoison(const char* p, size_t n) {
#ifdef SB_FUZZ_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}

struct Field {
  std::string_view name;
  std::string_view value;
};

// Splits a head the proxy wrote into its fields; traps unless it is start line, "name: value"
// lines and an empty line, and nothing after it.
inline std::vector<Field> written_fields(std::string_view head) {
  check(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n");
  std::vector<Field> fields;
  size_t at = head.find("\r\n");
  check(at != std::string_view::npos && at > 0);
  at += 2;
  for (;;) {
    const size_t eol = head.find("\r\n", at);
    check(eol != std::string_view::npos);
    const std::string_view line = head.substr(at, eol - at);
    at = eol + 2;
    if (line.empty()) break;
    const size_t colon = line.find(':');
    check(colon != std::string_view::npos && colon > 0);
    fields.push_back({line.substr(0, colon), line.substr(colon + 1)});
  }
  check(at == head.size());
  return fields;
}

inline bool is_hop_by_hop(std::string_view name) {
  for (const char* hop :
       {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"}) {
    if (iequals(name, hop)) return true;
  }
  return false;
}

// The field names the message's Connection fields list, as the rewriter honours them: framing
// and Host are never dropped, and only the first 16 names count.
inline std::vector<std::string_view> connection_tokens(const MessageParser& m) {
  std::vector<std::string_view> tokens;
  for (uint32_t i = 0; i < m.header_count(); ++i) {
    if (!iequals(m.header_name(i), "connection")) continue;
    std::string_view list = m.header_value(i);
    while (!list.empty() && tokens.size() < 16) {
      const size_t comma = list.find(',');
      std::string_view token = list.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
        token.remove_prefix(1);
      }
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
        token.remove_suffix(1);
      }
      if (!token.empty() && !iequals(token, "content-length") &&
          !iequals(token, "transfer-encoding") && !iequals(token, "host")) {
        tokens.push_back(token);
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return tokens;
}

}  // namespace sb::fuzz
