#include "proxy/worker.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "proxy/server.hpp"
#include "proxy/session.hpp"

namespace sb::proxy {

namespace {
constexpr std::chrono::milliseconds kSweepPeriod{100};
constexpr std::chrono::seconds kHousekeepingPeriod{1};
}  // namespace

Worker::Worker(unsigned index, Server& server, const SnapshotPublisher<Snapshot>& snapshots,
               AccessLog& access_log)
    : index_(index),
      server_(server),
      access_log_(access_log),
      context_(std::make_unique<asio::io_context>(1)),
      snapshot_(snapshots),
      pool_(snapshot_.get().limits.upstream_keepalive, snapshot_.get().timeouts.upstream_idle),
      // The client buffer holds a whole request head, so it is as large as the head limit allows.
      client_buffers_(snapshot_.get().limits.header_block + 1024),
      upstream_buffers_(32 * 1024),
      deadlines_(*context_, kSweepPeriod) {
  acceptor_.emplace(context_->get_executor());
  housekeeping_timer_.emplace(context_->get_executor());
}

Worker::~Worker() {
  // Tear down in the order Asio needs: I/O objects before their io_context, and the io_context
  // (whose destruction ends suspended connection coroutines) while the pools they return to live.
  join();
  acceptor_.reset();
  pool_.clear();
  deadlines_.release_timer();
  housekeeping_timer_.reset();
  context_.reset();
}

void Worker::listen(const asio::ip::tcp::endpoint& endpoint) {
  acceptor_->open(endpoint.protocol());
  acceptor_->set_option(asio::socket_base::reuse_address(true));
  const int one = 1;
  if (::setsockopt(acceptor_->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw std::system_error(errno, std::generic_category(), "SO_REUSEPORT");
  }
  acceptor_->bind(endpoint);
  acceptor_->listen(asio::socket_base::max_listen_connections);
}

void Worker::start() {
  deadlines_.start();
  housekeeping();
  accepting_ = true;
  asio::co_spawn(*context_, accept_loop(), asio::detached);
  thread_ = std::thread([this] { context_->run(); });
}

void Worker::begin_drain() {
  asio::post(*context_, [this] {
    draining_ = true;
    ErrorCode ignored;
    acceptor_->close(ignored);
    deadlines_.expire_idle();
  });
}

void Worker::force_stop() {
  context_->stop();
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

const Snapshot& Worker::snapshot() {
  snapshot_.refresh();
  return snapshot_.get();
}

void Worker::housekeeping() {
  housekeeping_timer_->expires_after(kHousekeepingPeriod);
  housekeeping_timer_->async_wait([this](const ErrorCode& ec) {
    if (ec) return;
    snapshot_.refresh();
    std::unordered_set<uint64_t> live;
    for (const auto& service : snapshot_.get().services) {
      for (const auto& instance : service->instances) live.insert(instance->id());
    }
    pool_.evict(&live);
    housekeeping();
  });
}

Task<void> Worker::accept_loop() {
  const uint64_t max_connections =
      std::max<uint64_t>(1, snapshot_.get().limits.max_connections / server_.worker_count());
  for (;;) {
    auto accepted = co_await acceptor_->async_accept(use_task);
    ErrorCode ec = std::get<0>(accepted);
    Socket socket = std::move(std::get<1>(accepted));
    if (ec) {
      if (draining_ || ec == asio::error::operation_aborted) {
        accepting_.store(false, std::memory_order_release);
        co_return;
      }
      // Out of descriptors or memory: the connection stays in the backlog; try again shortly.
      spdlog::warn("accept failed: {}", ec.message());
      asio::basic_waitable_timer<std::chrono::steady_clock,
                                 asio::wait_traits<std::chrono::steady_clock>, Executor>
          pause(*context_, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_task);
      continue;
    }
    stats_.accepted.add();
    if (stats_.active.get() >= max_connections) {
      socket.close(ec);
      continue;
    }
    stats_.handled.add();
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    asio::co_spawn(*context_, Session::serve(*this, std::move(socket)), asio::detached);
  }
}

}  // namespace sb::proxy
