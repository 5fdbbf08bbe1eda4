#include "proxy/worker.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "core/thread_name.hpp"
#include "proxy/server.hpp"
#include "proxy/session.hpp"

namespace sb::proxy {

namespace {
constexpr std::chrono::milliseconds kSweepPeriod{100};
constexpr std::chrono::seconds kHousekeepingPeriod{1};
// After a failed accept (out of descriptors or memory) the connection stays in the backlog.
constexpr std::chrono::milliseconds kAcceptPause{50};
// While accepts keep failing, one warning per this period says how many failed, not one per try.
constexpr std::chrono::seconds kAcceptWarningPeriod{5};
}  // namespace

Worker::Worker(unsigned index, Server& server, const SnapshotPublisher<Snapshot>& snapshots,
               AccessLog& access_log)
    : index_(index),
      server_(server),
      access_log_(access_log),
      loop_(std::make_unique<loop::EventLoop>()),
      listener_(*loop_),
      snapshot_(snapshots),
      pool_(snapshot_.get().limits.upstream_keepalive, snapshot_.get().timeouts.upstream_idle),
      // The client buffer holds a whole request head, so it is as large as the head limit allows.
      client_buffers_(snapshot_.get().limits.header_block + 1024),
      upstream_buffers_(32 * 1024),
      deadlines_(*loop_, kSweepPeriod),
      housekeeping_timer_(*loop_) {}

Worker::~Worker() {
  // The loop's run() ended every connection's coroutine before returning; what is left holds no
  // operation in the kernel.
  join();
  pool_.clear();
  listener_.close();
}

void Worker::listen(const boost::asio::ip::tcp::endpoint& endpoint, bool reuse_port) {
  listener_.listen(endpoint, reuse_port);
}

void Worker::start(bool balance_exactly) {
  max_connections_ =
      std::max<uint64_t>(1, snapshot_.get().limits.max_connections / server_.worker_count());
  accepting_ = listener_.is_open();
  thread_ = std::thread([this, balance_exactly] {
    name_this_thread("sb-worker-" + std::to_string(index_));
    try {
      loop_->run([this, balance_exactly] {
        deadlines_.start();
        loop_->spawn(housekeeping());
        if (listener_.is_open()) loop_->spawn(accept_loop(balance_exactly));
      });
    } catch (const std::exception& e) {
      // The ring refused to start (or a start-up allocation failed): nothing can be served.
      spdlog::critical("worker {}: {}", index_, e.what());
      std::_Exit(1);
    }
  });
}

void Worker::adopt(int fd) {
  handed_.fetch_add(1, std::memory_order_relaxed);
  loop_->post([this, fd] {
    handed_.fetch_sub(1, std::memory_order_relaxed);
    start_session(fd);
  });
}

void Worker::start_session(int fd) {
  loop::Socket socket(*loop_, fd);
  stats_.accepted.add();
  if (draining_ || stats_.active.get() >= max_connections_) return;  // closed as `socket` goes
  stats_.handled.add();
  socket.set_no_delay();
  loop_->spawn(Session::serve(*this, std::move(socket)));
}

void Worker::begin_drain() {
  loop_->post([this] {
    draining_ = true;
    listener_.close();
    deadlines_.expire_idle();
  });
}

void Worker::force_stop() {
  loop_->stop();
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

const Snapshot& Worker::snapshot() {
  snapshot_.refresh();
  return snapshot_.get();
}

loop::Task<void> Worker::housekeeping() {
  for (;;) {
    const bool due = co_await housekeeping_timer_.wait_for(kHousekeepingPeriod);
    if (!due) co_return;
    snapshot_.refresh();
    // Pooled connections of instances no longer routed (draining, critical, gone) are closed;
    // the snapshot's members are those whose connection counts are still shown.
    std::unordered_set<uint64_t> live;
    std::unordered_set<uint64_t> shown;
    for (const auto& service : snapshot_.get().services) {
      for (const auto& instance : service->instances) live.insert(instance->id());
      for (const Member& member : service->members) {
        if (member.instance) shown.insert(member.instance->id());
      }
    }
    pool_.evict(&live, &shown);
  }
}

loop::Task<void> Worker::accept_loop(bool balance_exactly) {
  loop::Timer pause(*loop_);
  uint64_t failed = 0;  // accepts failed since the last warning
  std::chrono::steady_clock::time_point warned{};
  for (;;) {
    const int fd = co_await listener_.accept();
    if (fd < 0) {
      if (draining_ || fd == -ECANCELED || !listener_.is_open()) {
        accepting_.store(false, std::memory_order_release);
        co_return;
      }
      ++failed;
      const auto now = std::chrono::steady_clock::now();
      if (now - warned >= kAcceptWarningPeriod) {
        spdlog::warn(
            "accept failed: {} ({} time(s) since the last warning; new connections wait "
            "in the backlog, retried every {} ms)",
            std::strerror(-fd), failed, kAcceptPause.count());
        failed = 0;
        warned = now;
      }
      co_await pause.wait_for(kAcceptPause);
      continue;
    }
    Worker* target = this;
    if (balance_exactly) {
      // The fewest connections, counting those handed over and not yet started. Ties go round
      // the workers, so one-request connections that come and go one at a time spread too.
      const unsigned workers = server_.worker_count();
      next_ = (next_ + 1) % workers;
      target = &server_.worker(next_);
      for (unsigned k = 1; k < workers; ++k) {
        Worker& other = server_.worker((next_ + k) % workers);
        if (other.load() < target->load()) target = &other;
      }
    }
    if (target == this) {
      start_session(fd);
    } else {
      target->adopt(fd);
    }
  }
}

}  // namespace sb::proxy
