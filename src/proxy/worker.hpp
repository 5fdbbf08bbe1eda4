// One proxy worker: a thread with its own event loop, its own accept socket (SO_REUSEPORT, so the
// kernel spreads connections), its own upstream keepalive pool, buffers and balancer state. A
// connection lives on one worker for life; nothing here is shared with other workers except the
// published snapshot and counters that are written by this worker only.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "core/buffer_pool.hpp"
#include "core/counter.hpp"
#include "core/deadline.hpp"
#include "core/io.hpp"
#include "core/object_pool.hpp"
#include "core/snapshot_publisher.hpp"
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
};

class Worker {
 public:
  Worker(unsigned index, Server& server, const SnapshotPublisher<Snapshot>& snapshots,
         AccessLog& access_log);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Main thread, before start(): opens this worker's listening socket.
  void listen(const asio::ip::tcp::endpoint& endpoint);
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_->local_endpoint(); }
  void start();
  // Any thread: stop accepting, close idle connections, let requests in flight finish.
  void begin_drain();
  // Any thread: stop the event loop now (after the drain timeout).
  void force_stop();
  // Any thread: whether the accept loop still runs (its pending accept must end before teardown).
  bool accepting() const { return accepting_.load(std::memory_order_acquire); }
  void join();

  // The methods below run on this worker's thread.
  unsigned index() const { return index_; }
  Server& server() { return server_; }
  asio::io_context& context() { return *context_; }
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
  Task<void> accept_loop();
  void housekeeping();

  unsigned index_;
  Server& server_;
  AccessLog& access_log_;
  std::unique_ptr<asio::io_context> context_;
  std::optional<Acceptor> acceptor_;  // destroyed before the io_context, see ~Worker
  SnapshotReader<Snapshot> snapshot_;
  upstream::ConnectionPool pool_;
  BufferPool client_buffers_;
  BufferPool upstream_buffers_;
  ObjectPool<RequestState> request_states_;
  DeadlineSweeper deadlines_;
  std::optional<asio::basic_waitable_timer<std::chrono::steady_clock,
                                           asio::wait_traits<std::chrono::steady_clock>, Executor>>
      housekeeping_timer_;
  WorkerStats stats_;
  bool draining_ = false;
  std::atomic<bool> accepting_{false};
  std::thread thread_;
};

}  // namespace sb::proxy
