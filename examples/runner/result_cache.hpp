// Optional Redis cache of patch results (SET runner:result:<target> <json>), fail-open: when Redis
// is down a request goes on without it, and the outage is logged once, not once per request.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

struct redisContext;

namespace runner {

class ResultCache {
 public:
  // `timeout` bounds the connect and every command, so a dead or black-holed Redis costs a
  // request at most about that much. Connects lazily; nothing is logged until a request fails.
  ResultCache(std::string host, uint16_t port, std::chrono::milliseconds timeout);
  ~ResultCache();
  ResultCache(const ResultCache&) = delete;
  ResultCache& operator=(const ResultCache&) = delete;

  // SET runner:result:<target> <value>. True if Redis acknowledged it. Thread-safe.
  bool store(const std::string& target, const std::string& value);

  std::string address() const { return host_ + ":" + std::to_string(port_); }

 private:
  redisContext* take_connection();
  void give_back(redisContext* c);
  void note_failure(const std::string& why);
  void note_success();

  std::string host_;
  uint16_t port_;
  std::chrono::milliseconds timeout_;

  std::mutex mutex_;
  std::vector<redisContext*> idle_;  // one connection per concurrent caller, reused
  // While Redis is down, one caller at a time retries, and no more than once per retry interval,
  // so a black-holed address does not add the connect timeout to every request.
  std::chrono::steady_clock::time_point next_attempt_{};
  std::atomic<bool> down_{false};
};

}  // namespace runner
