// Character classes and comparisons of HTTP's grammar (RFC 9110 5.6).
#pragma once

#include <strings.h>

#include <array>
#include <string_view>

namespace sb::http {

inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// tchar: the characters of a token, such as a field name.
inline bool is_token_char(char c) {
  static constexpr auto kTable = [] {
    std::array<bool, 256> t{};
    for (int ch = '0'; ch <= '9'; ++ch) t[ch] = true;
    for (int ch = 'a'; ch <= 'z'; ++ch) t[ch] = true;
    for (int ch = 'A'; ch <= 'Z'; ++ch) t[ch] = true;
    for (const char ch : std::string_view("!#$%&'*+-.^_`|~"))
      t[static_cast<unsigned char>(ch)] = true;
    return t;
  }();
  return kTable[static_cast<unsigned char>(c)];
}

// Case-insensitive ASCII comparison of field names and tokens.
inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace sb::http
