// Comparing a secret (an admin token) with what a client sent, in a time that depends only on the
// secret's length: an early exit at the first differing byte would let a client find the token
// byte by byte from response times.
#pragma once

#include <cstddef>
#include <string_view>

namespace sb {

inline bool constant_time_equal(std::string_view given, std::string_view secret) {
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < secret.size(); ++i) {
    const char g = i < given.size() ? given[i] : '\0';
    diff |= static_cast<unsigned char>(g ^ secret[i]);
  }
  // Read through a volatile so the compiler cannot turn the loop back into an early exit.
  volatile unsigned char result = diff;
  return result == 0;
}

}  // namespace sb
