#include "health/active_checker.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/log_event.hpp"
#include "core/thread_name.hpp"
#include "health/http_probe.hpp"

namespace sb::health {

namespace {

using Clock = std::chrono::steady_clock;
using CheckerTimer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;

// How often the checker looks for checks that are due (and for new or gone instances).
constexpr std::chrono::milliseconds kRound{50};

}  // namespace

struct ActiveChecker::Entry {
  std::weak_ptr<upstream::Instance> instance;
  std::string label;
  std::string service;
  config::CheckConfig check;
  std::string request;
  Clock::time_point due;
  bool in_flight = false;
  bool seen = false;
  RiseFall state;
  asio::cancellation_signal cancel;
};

struct ActiveChecker::Sleep {
  explicit Sleep(asio::io_context& context) : timer(context.get_executor()) {}
  CheckerTimer timer;
};

ActiveChecker::ActiveChecker(TargetSource targets)
    : targets_(std::move(targets)), sleep_(std::make_unique<Sleep>(context_)) {}

ActiveChecker::~ActiveChecker() {
  stop();
}

void ActiveChecker::start() {
  asio::co_spawn(context_, run(), asio::detached);
  thread_ = std::thread([this] {
    name_this_thread("sb-health");
    context_.run();
  });
}

void ActiveChecker::stop() {
  if (!thread_.joinable()) return;
  asio::post(context_, [this] {
    stopping_ = true;
    sleep_->timer.cancel();
    for (auto& [key, entry] : entries_) {
      if (entry->in_flight) entry->cancel.emit(asio::cancellation_type::terminal);
    }
  });
  thread_.join();  // the loop ends once the round and every check in flight have
}

void ActiveChecker::refresh(Clock::time_point now) {
  for (auto& [key, entry] : entries_) entry->seen = false;
  for (CheckTarget& target : targets_()) {
    auto& entry = entries_[target.instance.get()];
    if (!entry) {
      entry = std::make_shared<Entry>();
      entry->instance = target.instance;
      entry->label = target.instance->label();
      // The first check comes anywhere within the first interval: instances that appear
      // together (a restart, a config with many) are not all checked at the same moment.
      std::uniform_int_distribution<int64_t> spread(0, target.check.interval.count());
      entry->due = now + std::chrono::milliseconds(spread(random_));
    }
    const std::string host = target.check.host.empty() ? entry->label : target.check.host;
    if (entry->request.empty() || target.check.path != entry->check.path ||
        target.check.host != entry->check.host) {
      entry->request = probe_request(target.check.path, host);
    }
    entry->service = std::move(target.service);
    entry->check = std::move(target.check);
    entry->seen = true;
  }
  std::erase_if(entries_, [](const auto& item) { return !item.second->seen; });
}

Task<void> ActiveChecker::run() {
  while (!stopping_) {
    const auto now = Clock::now();
    refresh(now);
    for (auto& [key, entry] : entries_) {
      if (entry->in_flight || now < entry->due) continue;
      entry->in_flight = true;
      // The next one an interval later, give or take 10 %, so checks do not fall into step.
      const int64_t interval = entry->check.interval.count();
      std::uniform_int_distribution<int64_t> jitter(-interval / 10, interval / 10);
      entry->due = now + std::chrono::milliseconds(interval + jitter(random_));
      asio::co_spawn(context_, check(entry),
                     asio::bind_cancellation_slot(entry->cancel.slot(), asio::detached));
    }
    sleep_->timer.expires_after(kRound);
    co_await sleep_->timer.async_wait(use_task);
  }
}

Task<void> ActiveChecker::check(std::shared_ptr<Entry> entry) {
  const std::shared_ptr<upstream::Instance> instance = entry->instance.lock();
  if (!instance) {
    entry->in_flight = false;
    co_return;
  }
  const ProbeResult result =
      co_await http_probe(instance->endpoint(), entry->request, entry->check.timeout);
  entry->in_flight = false;
  if (stopping_) co_return;
  const bool passed = result.status != 0 && entry->check.expects(result.status);
  switch (entry->state.record(passed, entry->check.rise, entry->check.fall)) {
    case RiseFall::Change::kWentDown:
      instance->set_check_down(true);
      log_event(spdlog::level::warn, {"check_down", entry->service, entry->label},
                "instance {} of service {} failed {} active check(s) in a row ({}): down",
                entry->label, entry->service, entry->check.fall,
                result.status != 0 ? "answered " + std::to_string(result.status) : result.error);
      break;
    case RiseFall::Change::kCameUp:
      instance->set_check_down(false);
      log_event(spdlog::level::info, {"check_up", entry->service, entry->label},
                "instance {} of service {} passed {} active check(s) in a row: up", entry->label,
                entry->service, entry->check.rise);
      break;
    case RiseFall::Change::kNone:
      break;
  }
}

}  // namespace sb::health
