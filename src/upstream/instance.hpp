// One upstream instance (address, port, weight) and its counters. Instances are shared between
// snapshots, so counters survive a change of routes or of the instance list.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "core/counter.hpp"
#include "health/outlier.hpp"
#include "health/passive_health.hpp"
#include "metrics/latency_histogram.hpp"

namespace sb::upstream {

// What one worker counted for one instance; one cache line of its own, written by that worker only.
struct alignas(64) InstanceCounters {
  SingleWriterCounter requests;
  std::array<SingleWriterCounter, 5> responses;  // 1xx..5xx
  SingleWriterCounter failures;                  // connect errors, resets, timeouts, garbage
  SingleWriterCounter retries;         // of `requests`: attempts that retried one failed elsewhere
  SingleWriterCounter sent_bytes;      // written to the instance: request heads, bodies, tunnels
  SingleWriterCounter received_bytes;  // read from it: responses (interim and dropped ones too)
  // Gauges: up and down on this worker only, so each worker's value is its own count and the
  // sum over workers is the instance's.
  SingleWriterCounter in_flight;               // requests and tunnels at the instance (InFlight)
  SingleWriterCounter connections;             // upstream connections open: in use and idle
  SingleWriterCounter idle_connections;        // of `connections`: idle in the worker's pool
  metrics::LatencyHistogram upstream_latency;  // request sent -> final response head
  metrics::LatencyHistogram request_latency;   // request head read -> response relayed
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
  // Shared by every worker; relaxed atomics (see passive_health.hpp).
  health::PassiveHealth& passive() { return passive_; }
  const health::PassiveHealth& passive() const { return passive_; }

  // Requests in flight to this instance from every worker (WebSocket tunnels count while open),
  // for the load-aware algorithms: least_conn, p2c, ewma, hash with a balance factor. Counted
  // only for services using one of them (balance::Needs), through ActiveRequest. A read-modify-
  // write on a line of its own that every worker touches: relaxed, since it orders nothing else
  // and a pick tolerates a count that is a request or two off.
  int64_t active_requests() const { return active_.value.load(std::memory_order_relaxed); }
  void add_active() { active_.value.fetch_add(1, std::memory_order_relaxed); }
  void remove_active() { active_.value.fetch_sub(1, std::memory_order_relaxed); }
  bool try_add_active(int64_t limit) {
    int64_t current = active_.value.load(std::memory_order_relaxed);
    do {
      if (current >= limit) return false;
    } while (!active_.value.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    return true;
  }
  // The peak-EWMA latency estimate, packed in one word so it updates with one CAS (see
  // balance/ewma.hpp); 0 until the first measurement.
  std::atomic<uint64_t>& latency_estimate() { return latency_.value; }
  const std::atomic<uint64_t>& latency_estimate() const { return latency_.value; }
  // Down by active checks (health/active_checker.hpp), which run on their own thread and write
  // it; workers read it on every pick of a checked service. Relaxed: it orders nothing else.
  bool check_down() const { return check_down_.load(std::memory_order_relaxed); }
  void set_check_down(bool down) {
    if (!down) came_back();
    check_down_.store(down, std::memory_order_relaxed);
  }
  // Outlier detection (Envoy's ejections), shared by every worker; see health/outlier.hpp.
  health::OutlierState& outlier() { return outlier_; }
  const health::OutlierState& outlier() const { return outlier_; }
  // Slow start: when the instance last joined or came back up (CoarseClock ticks), as far as the
  // instance knows it: a join (set by the snapshot builder) or an active check's rise. The ends
  // of passive-down and ejection periods count too (ramp_start below).
  void came_back(CoarseClock::time_point now = CoarseClock::now()) {
    came_back_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  }
  CoarseClock::rep ramp_start() const {
    return std::max({came_back_.load(std::memory_order_relaxed), passive_.down_until(),
                     outlier_.ejected_until()});
  }
  // The workers' counters summed (any thread).
  uint64_t requests() const { return sum(&InstanceCounters::requests); }
  uint64_t responses(int status_class) const;  // 1..5
  uint64_t failures() const { return sum(&InstanceCounters::failures); }
  uint64_t retries() const { return sum(&InstanceCounters::retries); }
  uint64_t sent_bytes() const { return sum(&InstanceCounters::sent_bytes); }
  uint64_t received_bytes() const { return sum(&InstanceCounters::received_bytes); }
  // Requests and tunnels in flight to the instance from every worker, whatever the algorithm
  // (active_requests() above is counted only where a pick needs it).
  uint64_t in_flight() const { return sum(&InstanceCounters::in_flight); }
  uint64_t connections() const { return sum(&InstanceCounters::connections); }
  uint64_t idle_connections() const { return sum(&InstanceCounters::idle_connections); }
  metrics::LatencyTotals upstream_latency() const;
  metrics::LatencyTotals request_latency() const;

 private:
  uint64_t sum(SingleWriterCounter InstanceCounters::*counter) const;

  uint64_t id_;
  std::string host_;
  uint16_t port_;
  std::string label_;
  boost::asio::ip::tcp::endpoint endpoint_;
  uint32_t weight_;
  unsigned workers_;
  std::unique_ptr<InstanceCounters[]> counters_;
  // Written by every worker, so each on a cache line of its own (no false sharing with the
  // read-mostly fields above, nor with each other).
  struct alignas(64) ActiveCount {
    std::atomic<int64_t> value{0};
  };
  struct alignas(64) LatencyWord {
    std::atomic<uint64_t> value{0};
  };
  ActiveCount active_;
  LatencyWord latency_;
  // Written by workers on failures only, on a cache line of its own.
  alignas(64) health::PassiveHealth passive_;
  std::atomic<bool> check_down_{false};
  std::atomic<CoarseClock::rep> came_back_{0};
  health::OutlierState outlier_;
};

// One request (or tunnel) in flight to an instance, counted in its active_requests() for as long
// as this object holds it: every way a request ends (response relayed, error, client gone,
// coroutine destroyed) releases it, and a retry on another instance moves it. The instance must
// outlive the holder (the request's snapshot keeps it). Single thread: the session's worker.
class ActiveRequest {
 public:
  ActiveRequest() = default;
  ~ActiveRequest() { release(); }
  ActiveRequest(const ActiveRequest&) = delete;
  ActiveRequest& operator=(const ActiveRequest&) = delete;

  void assign(Instance& instance) {
    release();
    instance.add_active();
    instance_ = &instance;
  }
  // Assigns only while fewer than `limit` requests are in flight to the instance (max_conns):
  // the check and the count are one compare-and-swap, so workers never overshoot together.
  bool try_assign(Instance& instance, int64_t limit) {
    release();
    if (!instance.try_add_active(limit)) return false;
    instance_ = &instance;
    return true;
  }
  void release() {
    if (instance_ == nullptr) return;
    instance_->remove_active();
    instance_ = nullptr;
  }

 private:
  Instance* instance_ = nullptr;
};

// One request (or tunnel) in flight to an instance, counted in the worker's
// InstanceCounters::in_flight while this object holds it; for every service, unlike
// ActiveRequest. Every way a request ends releases it; a retry on another instance moves it. The
// counters' instance must outlive the holder. Single thread: the session's worker.
class InFlight {
 public:
  InFlight() = default;
  ~InFlight() { release(); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

  void assign(InstanceCounters& counters) {
    release();
    counters.in_flight.add();
    counters_ = &counters;
  }
  void release() {
    if (counters_ == nullptr) return;
    counters_->in_flight.sub();
    counters_ = nullptr;
  }

 private:
  InstanceCounters* counters_ = nullptr;
};

}  // namespace sb::upstream
