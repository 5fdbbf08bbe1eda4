// One proxy worker: a thread with its own event loop, its own accept socket (SO_REUSEPORT, so the
// kernel spreads connections), its own upstream keepalive pool, buffers and balancer state. A
// connection lives on one worker for life; nothing here is shared with other workers except the
// published snapshot and counters that are written by this worker only.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "core/buffer_pool.hpp"
#include "core/counter.hpp"
#include "core/deadline.hpp"
#include "core/object_pool.hpp"
#include "core/snapshot_publisher.hpp"
#include "loop/event_loop.hpp"
#include "loop/socket.hpp"
#include "proxy/request_state.hpp"
#include "proxy/snapshot.hpp"
#include "upstream/connection_pool.hpp"

namespace sb::proxy {

class AccessLog;
class Server;

// Connection and request counts of one worker, in nginx stub_status terms.
struct WorkerStats {
  SingleWriterCounter accepted;
  SingleWriterCounter handled;
  SingleWriterCounter requests;
  SingleWriterCounter active;
  SingleWriterCounter reading;
  SingleWriterCounter writing;
  SingleWriterCounter tunnels;
  SingleWriterCounter retries;              // attempts after a request's first
  SingleWriterCounter retries_over_budget;  // retries the retry budget refused
  // Responses the proxy made itself (errors, built-in endpoints), 1xx..5xx.
  std::array<SingleWriterCounter, 5> local_responses;
};

class Worker {
 public:
  Worker(unsigned index, Server& server, const SnapshotPublisher<Snapshot>& snapshots,
         AccessLog& access_log);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Main thread, before start(): opens this worker's listening socket (SO_REUSEPORT when other
  // workers listen on the same address). Without one the worker serves connections handed to it.
  void listen(const boost::asio::ip::tcp::endpoint& endpoint, bool reuse_port);
  boost::asio::ip::tcp::endpoint local_endpoint() const { return listener_.local_endpoint(); }
  // Main thread: starts the worker's thread, which runs its event loop. `balance_exactly`: each
  // connection this worker accepts goes to the worker with the fewest (accept_balance: exact).
  void start(bool balance_exactly = false);
  // Any thread: stop accepting, close idle connections, let requests in flight finish.
  void begin_drain();
  // Any thread: stop the event loop now (after the drain timeout).
  void force_stop();
  // Any thread: whether the accept loop still runs (its pending accept must end before teardown).
  bool accepting() const { return accepting_.load(std::memory_order_acquire); }
  // Any thread: a connection accepted by another worker (accept_balance: exact) is to be served
  // here; the descriptor is this worker's from now on.
  void adopt(int fd);
  // Any thread: the connections this worker serves or has been handed and not yet started.
  uint64_t load() const { return stats_.active.get() + handed_.load(std::memory_order_relaxed); }
  void join();

  // The methods below run on this worker's thread.
  unsigned index() const { return index_; }
  Server& server() { return server_; }
  loop::EventLoop& loop() { return *loop_; }
  bool draining() const { return draining_; }
  // The snapshot in force; call once per request (cheap when nothing changed).
  const Snapshot& snapshot();
  const std::shared_ptr<const Snapshot>& snapshot_ptr() {
    snapshot();
    return snapshot_.shared();
  }
  upstream::ConnectionPool& pool() { return pool_; }
  BufferPool& client_buffers() { return client_buffers_; }
  BufferPool& upstream_buffers() { return upstream_buffers_; }
  ObjectPool<RequestState>& request_states() { return request_states_; }
  DeadlineSweeper& deadlines() { return deadlines_; }
  WorkerStats& stats() { return stats_; }
  const WorkerStats& stats() const { return stats_; }
  AccessLog& access_log() { return access_log_; }
  const AccessLog& access_log() const { return access_log_; }

 private:
  loop::Task<void> accept_loop(bool balance_exactly);
  loop::Task<void> housekeeping();
  // The worker's thread: counts a new connection and serves it, unless the worker is full.
  void start_session(int fd);

  unsigned index_;
  Server& server_;
  AccessLog& access_log_;
  std::unique_ptr<loop::EventLoop> loop_;
  loop::Listener listener_;
  SnapshotReader<Snapshot> snapshot_;
  upstream::ConnectionPool pool_;
  BufferPool client_buffers_;
  BufferPool upstream_buffers_;
  ObjectPool<RequestState> request_states_;
  DeadlineSweeper deadlines_;
  loop::Timer housekeeping_timer_;
  WorkerStats stats_;
  bool draining_ = false;
  std::atomic<bool> accepting_{false};
  std::atomic<uint64_t> handed_{0};  // adopted, not yet started on this worker's thread
  uint64_t max_connections_ = 1;
  unsigned next_ = 0;  // where the exact balance's scan starts (accepting worker only)
  std::thread thread_;
};

}  // namespace sb::proxy
