// Helpers for the balancer unit tests: instances with given weights, scripted randomness and
// time (DESIGN rule 5), and picks written as letters ("abca", '-' for kNoInstance).
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "balance/balancer.hpp"
#include "core/clock.hpp"
#include "core/random.hpp"
#include "upstream/instance.hpp"

namespace sb::balance_test {

using Instances = std::vector<std::shared_ptr<upstream::Instance>>;

// Instance i listens on 127.0.0.1:(first_port + i); its label names it in the hash tables.
inline Instances make_instances(const std::vector<uint32_t>& weights, uint16_t first_port = 9101) {
  Instances out;
  for (size_t i = 0; i < weights.size(); ++i) {
    const auto port = static_cast<uint16_t>(first_port + i);
    out.push_back(std::make_shared<upstream::Instance>(
        i + 1, "127.0.0.1", port,
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port),
        weights[i], 1));
  }
  return out;
}

inline Instances equal_instances(size_t count, uint16_t first_port = 9101) {
  return make_instances(std::vector<uint32_t>(count, 1), first_port);
}

// Draws from a script: each below(bound) takes the next value, modulo the bound. Running out is
// a test failure (the algorithm drew more than the test expected).
class ScriptedRandom final : public Random {
 public:
  ScriptedRandom(std::initializer_list<uint64_t> values) : values_(values) {}
  void push(std::initializer_list<uint64_t> values) { values_.insert(values_.end(), values); }
  uint64_t below(uint64_t bound) override {
    if (values_.empty()) {
      ADD_FAILURE() << "ScriptedRandom ran out of draws";
      return 0;
    }
    const uint64_t value = values_.front();
    values_.pop_front();
    return value % bound;
  }
  size_t left() const { return values_.size(); }

 private:
  std::deque<uint64_t> values_;
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ns = 1'000'000'000'000) : now_(start_ns) {}
  int64_t now_ns() const override { return now_; }
  void advance(std::chrono::nanoseconds by) { now_ += by.count(); }

 private:
  int64_t now_;
};

inline std::string picks(balance::Balancer& balancer, int n, std::span<const bool> excluded = {}) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    const size_t index = balancer.pick({excluded, std::nullopt});
    out.push_back(index == balance::kNoInstance ? '-' : static_cast<char>('a' + index));
  }
  return out;
}

inline std::map<char, int> count_letters(const std::string& sequence) {
  std::map<char, int> counts;
  for (const char c : sequence) ++counts[c];
  return counts;
}

inline void set_active(upstream::Instance& instance, int64_t count) {
  while (instance.active_requests() < count) instance.add_active();
  while (instance.active_requests() > count) instance.remove_active();
}

inline balance::PickContext keyed(uint64_t key, std::span<const bool> excluded = {}) {
  return {excluded, key};
}

}  // namespace sb::balance_test
