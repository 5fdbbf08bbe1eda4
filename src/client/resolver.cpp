// Resolver: one service's passing instances, kept current by blocking queries on a thread of its
// own (Consul's watch loop), and a balancer over them for pick().
#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "client/picker.hpp"
#include "switchboard/client.hpp"

namespace switchboard {
namespace {

// Short enough that a watcher notices a dead connection soon, long enough that an idle service
// costs one request per half minute.
constexpr std::chrono::milliseconds kBlockingWait = std::chrono::seconds(30);
constexpr std::chrono::milliseconds kFirstBackoff = std::chrono::milliseconds(100);
constexpr std::chrono::milliseconds kMaxBackoff = std::chrono::seconds(5);

size_t random_rotation() {
  std::random_device seed;
  return seed();
}

}  // namespace

struct Resolver::State {
  State(ClientOptions options, std::string watched, std::string algorithm)
      : admin(std::move(options)),
        service(std::move(watched)),
        picker(std::move(algorithm), random_rotation()) {}

  // On the resolver's thread.
  void run();

  AdminClient admin;  // the watch thread's; cancelled on destruction, ending a parked query
  const std::string service;
  mutable std::mutex mutex;
  std::condition_variable changed;  // the first answer arrived, or stopping
  bool ready = false;               // guarded by mutex
  bool stopping = false;            // guarded by mutex
  detail::InstancePicker picker;    // guarded by mutex
  std::thread thread;
};

void Resolver::State::run() {
  std::optional<uint64_t> index;  // none: the first query answers at once
  std::chrono::milliseconds backoff = kFirstBackoff;
  while (true) {
    try {
      InstanceList list = admin.instances(service, index, kBlockingWait);
      std::erase_if(list.instances, [](const InstanceInfo& i) { return i.state != "passing"; });
      {
        const std::lock_guard lock(mutex);
        if (stopping) return;
        picker.update(std::move(list.instances));
        ready = true;
      }
      changed.notify_all();
      // An index below ours means a restarted registry: starting over from its index is right.
      index = list.index;
      backoff = kFirstBackoff;
    } catch (const std::exception&) {
      // Keep the last list: a registry that is briefly away should not empty every client.
      std::unique_lock lock(mutex);
      if (changed.wait_for(lock, backoff, [this] { return stopping; })) return;
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    const std::lock_guard lock(mutex);
    if (stopping) return;
  }
}

Resolver::Resolver(ClientOptions options, std::string service, std::string algorithm)
    : state_(
          std::make_unique<State>(std::move(options), std::move(service), std::move(algorithm))) {
  state_->thread = std::thread([state = state_.get()] { state->run(); });
}

Resolver::~Resolver() {
  {
    const std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->changed.notify_all();
  state_->admin.cancel();  // ends a blocking query now instead of after up to 30 s
  state_->thread.join();
}

bool Resolver::wait_ready(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_for(lock, timeout, [this] { return state_->ready; });
}

std::optional<InstanceInfo> Resolver::pick() {
  const std::lock_guard lock(state_->mutex);
  const size_t chosen = state_->picker.pick();
  if (chosen == detail::InstancePicker::kNone) return std::nullopt;
  return state_->picker.instances()[chosen];
}

std::vector<InstanceInfo> Resolver::instances() const {
  const std::lock_guard lock(state_->mutex);
  return state_->picker.instances();
}

}  // namespace switchboard
