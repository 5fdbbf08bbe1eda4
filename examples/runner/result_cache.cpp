// ResultCache over hiredis's blocking API: a small pool of contexts, each with connect and
// command timeouts, dropped on any error; up/down transitions are what gets logged.
#include "result_cache.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <sys/time.h>

namespace runner {

namespace {

constexpr std::chrono::seconds kRetryInterval{1};

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string context_error(const redisContext* c) {
  if (c == nullptr) return "cannot allocate a redis context";
  return c->errstr[0] != '\0' ? std::string(c->errstr) : "error " + std::to_string(c->err);
}

}  // namespace

ResultCache::ResultCache(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : host_(std::move(host)), port_(port), timeout_(timeout) {}

ResultCache::~ResultCache() {
  for (redisContext* c : idle_) redisFree(c);
}

redisContext* ResultCache::take_connection() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      redisContext* c = idle_.back();
      idle_.pop_back();
      return c;
    }
    if (down_.load(std::memory_order_relaxed)) {
      const auto now = std::chrono::steady_clock::now();
      if (now < next_attempt_) return nullptr;
      next_attempt_ = now + kRetryInterval;
    }
  }
  const timeval tv = to_timeval(timeout_);
  redisContext* c = redisConnectWithTimeout(host_.c_str(), port_, tv);
  if (c == nullptr || c->err != 0) {
    note_failure("connect: " + context_error(c));
    if (c != nullptr) redisFree(c);
    return nullptr;
  }
  if (redisSetTimeout(c, tv) != REDIS_OK) {
    note_failure("set timeout: " + context_error(c));
    redisFree(c);
    return nullptr;
  }
  return c;
}

void ResultCache::give_back(redisContext* c) {
  std::lock_guard lock(mutex_);
  idle_.push_back(c);
}

void ResultCache::note_failure(const std::string& why) {
  {
    std::lock_guard lock(mutex_);
    next_attempt_ = std::chrono::steady_clock::now() + kRetryInterval;
    // Connections pooled before the outage are likely dead too; dropping them now means the
    // next attempt reconnects instead of failing once per stale connection.
    for (redisContext* c : idle_) redisFree(c);
    idle_.clear();
  }
  if (!down_.exchange(true)) {
    spdlog::warn("redis {} unavailable ({}); results are not cached until it is back", address(),
                 why);
  }
}

void ResultCache::note_success() {
  if (down_.exchange(false)) spdlog::info("redis {} is back; caching results again", address());
}

bool ResultCache::store(const std::string& target, const std::string& value) {
  redisContext* c = take_connection();
  if (c == nullptr) return false;
  const std::string key = "runner:result:" + target;
  auto* reply = static_cast<redisReply*>(
      redisCommand(c, "SET %b %b", key.data(), key.size(), value.data(), value.size()));
  if (reply == nullptr) {
    note_failure("SET: " + context_error(c));
    redisFree(c);
    return false;
  }
  const bool ok = reply->type == REDIS_REPLY_STATUS;
  if (!ok) {
    // Redis answered, so it is up; an error reply (e.g. OOM, read-only replica) is per command.
    spdlog::warn("redis {} refused SET {}: {}", address(), key,
                 reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len) : "?");
  }
  freeReplyObject(reply);
  give_back(c);
  note_success();
  return ok;
}

}  // namespace runner
