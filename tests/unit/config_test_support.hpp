// Helpers for the config unit tests: a one-service document with extra settings, and the
// ConfigError a document raises.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"

namespace sb::config {

// A document with service "web" (one instance) and `settings` appended at the service's
// indentation ("    balance: p2c\n").
inline std::string service(const std::string& settings) {
  return "services:\n  - name: web\n    instances: [\"127.0.0.1:9101\"]\n" + settings;
}

inline ConfigError error_of(const std::string& yaml) {
  try {
    parse_yaml(yaml);
  } catch (const ConfigError& error) {
    return error;
  }
  ADD_FAILURE() << "no error for:\n" << yaml;
  return ConfigError("", "");
}

}  // namespace sb::config
