// Shared by the registry unit tests: a fresh temporary data directory per test, a store wrapper
// whose calls can be made to fail (as a full disk would), and a minimal instance record.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "registry/model.hpp"
#include "registry/store.hpp"

namespace sb::registry::testing {

// A directory created empty for one test and removed with everything in it afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sb_registry_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Forwards to another store; while `fail` is set, every call throws.
class FailingStore final : public Store {
 public:
  explicit FailingStore(Store& inner) : inner_(inner) {}
  void put(const InstanceRecord& record) override {
    check();
    inner_.put(record);
  }
  bool erase(std::string_view service, std::string_view id) override {
    check();
    return inner_.erase(service, id);
  }
  bool set_draining(std::string_view service, std::string_view id, bool draining) override {
    check();
    return inner_.set_draining(service, id, draining);
  }
  std::vector<InstanceRecord> load_all() override {
    check();
    return inner_.load_all();
  }

  bool fail = false;
  int calls = 0;

 private:
  void check() {
    ++calls;
    if (fail) throw std::runtime_error("disk full");
  }
  Store& inner_;
};

inline InstanceRecord make_record(const std::string& service, const std::string& id,
                                  uint16_t port = 8080) {
  InstanceRecord record;
  record.service = service;
  record.id = id;
  record.address = "127.0.0.1";
  record.port = port;
  return record;
}

}  // namespace sb::registry::testing
