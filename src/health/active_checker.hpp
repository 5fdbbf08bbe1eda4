// Active health checks: a GET of each checked service's `health.check.path` on every instance
// every `interval` (with jitter, so a thousand instances are not checked in one burst), on a
// thread of its own — the workers do no check I/O. `rise` passes / `fall` failures in a row flip
// the instance's check_down(), which every worker's pick reads from the Instance the snapshot
// holds: a result reaches the workers at once, with no snapshot rebuild. The targets are re-read
// from the current snapshot every round, so registered instances are checked as they come and
// forgotten as they go.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "core/io.hpp"
#include "health/rise_fall.hpp"
#include "upstream/instance.hpp"

namespace sb::health {

struct CheckTarget {
  std::shared_ptr<upstream::Instance> instance;
  std::string service;
  config::CheckConfig check;
};

class ActiveChecker {
 public:
  // Called on the checker's thread every round: what to check now.
  using TargetSource = std::function<std::vector<CheckTarget>()>;

  explicit ActiveChecker(TargetSource targets);
  ~ActiveChecker();
  ActiveChecker(const ActiveChecker&) = delete;
  ActiveChecker& operator=(const ActiveChecker&) = delete;

  void start();
  // Cancels the checks in flight and joins the thread.
  void stop();

 private:
  struct Entry;
  Task<void> run();
  Task<void> check(std::shared_ptr<Entry> entry);
  void refresh(std::chrono::steady_clock::time_point now);

  TargetSource targets_;
  asio::io_context context_{1};
  std::thread thread_;
  std::map<const upstream::Instance*, std::shared_ptr<Entry>> entries_;
  std::mt19937_64 random_{std::random_device{}()};
  bool stopping_ = false;
  struct Sleep;
  std::unique_ptr<Sleep> sleep_;
};

}  // namespace sb::health
