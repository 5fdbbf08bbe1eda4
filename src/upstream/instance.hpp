// One upstream instance (address, port, weight) and its counters. Instances are shared between
// snapshots, so counters survive a change of routes or of the instance list.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "core/counter.hpp"

namespace sb::upstream {

// What one worker counted for one instance; one cache line of its own, written by that worker only.
struct alignas(64) InstanceCounters {
  SingleWriterCounter requests;
  std::array<SingleWriterCounter, 5> responses;  // 1xx..5xx
  SingleWriterCounter failures;                  // connect errors, resets, timeouts, garbage
};

class Instance {
 public:
  Instance(uint64_t id, std::string host, uint16_t port, boost::asio::ip::tcp::endpoint endpoint,
           uint32_t weight, unsigned workers);

  uint64_t id() const { return id_; }
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  const std::string& label() const { return label_; }  // "127.0.0.1:9101"
  const boost::asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }
  uint32_t weight() const { return weight_; }

  InstanceCounters& counters(unsigned worker) { return counters_[worker]; }
  uint64_t requests() const;
  uint64_t responses(int status_class) const;  // 1..5
  uint64_t failures() const;

 private:
  uint64_t id_;
  std::string host_;
  uint16_t port_;
  std::string label_;
  boost::asio::ip::tcp::endpoint endpoint_;
  uint32_t weight_;
  unsigned workers_;
  std::unique_ptr<InstanceCounters[]> counters_;
};

}  // namespace sb::upstream
