// Which request methods the parser takes. RFC 9110 9.1 makes a method any token and lets new ones
// be registered (QUERY, a service's own), and a proxy forwards them: nginx and HAProxy do. llhttp
// 8.1 knows a fixed list and refuses the rest, so a method it does not know is read past it
// (message_parser.cpp) when it is an extension method in nginx's alphabet: upper-case letters, '-'
// and '_'. Lower case stays refused: "head" is not HEAD to the proxy, which would then wait for a
// body that a lenient server, reading it as HEAD, never sends.
#pragma once

#include <cstddef>
#include <string_view>

namespace sb::http {

// The longest extension method taken; a longer run of method characters is llhttp's to refuse.
inline constexpr size_t kMaxExtensionMethod = 32;

inline bool is_extension_method_char(char c) {
  return (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

// Whether llhttp reads `method` as one of its own (RTSP's and PRI included: what it does with
// them stays its own call, as before extension methods were read).
bool llhttp_knows_method(std::string_view method);

}  // namespace sb::http
