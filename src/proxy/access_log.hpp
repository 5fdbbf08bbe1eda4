// The access log: one line per request, formatted and written by a background thread. Workers only
// copy a fixed-size record into their own single-producer ring (no lock, no allocation, no
// syscall); spdlog's async logger would take a mutex per line on the request path, so it carries
// only the process log. When a ring is full the record is dropped and counted, never waited for.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sb::proxy {

struct AccessRecord {
  int64_t unix_ms = 0;
  uint32_t status = 0;
  uint32_t attempts = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  int64_t connect_us = -1;  // -1: no upstream, or a pooled connection
  int64_t first_byte_us = -1;
  int64_t upstream_us = -1;
  int64_t request_us = 0;
  std::array<char, 48> client{};
  std::array<char, 16> method{};
  std::array<char, 64> upstream{};
  std::array<char, 256> path{};  // longer paths are cut: the log is for people, not replay
  uint16_t path_length = 0;

  void set_path(std::string_view p);
  static void copy(std::array<char, 16>& to, std::string_view from);
  static void copy(std::array<char, 48>& to, std::string_view from);
  static void copy(std::array<char, 64>& to, std::string_view from);
};

class AccessLog {
 public:
  static constexpr size_t kRingSize = 4096;

  // `path` "-" is stdout. Returns nullptr-equivalent disabled log when !enabled.
  AccessLog(bool enabled, const std::string& path, bool json, unsigned workers);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const { return enabled_; }
  // Worker `worker`'s thread only.
  void push(unsigned worker, const AccessRecord& record);
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  // Writes everything queued and stops the writer thread.
  void stop();

 private:
  struct alignas(64) Ring {
    std::unique_ptr<AccessRecord[]> slots{new AccessRecord[kRingSize]};
    alignas(64) std::atomic<uint64_t> head{0};  // next slot the worker writes
    alignas(64) std::atomic<uint64_t> tail{0};  // next slot the writer reads
  };
  void writer_loop();
  size_t drain();
  void format(const AccessRecord& r, std::string& line) const;

  bool enabled_;
  bool json_;
  FILE* out_ = nullptr;
  bool owns_out_ = false;
  std::vector<std::unique_ptr<Ring>> rings_;
  std::atomic<uint64_t> dropped_{0};
  std::atomic<bool> stop_{false};
  std::thread writer_;
};

}  // namespace sb::proxy
