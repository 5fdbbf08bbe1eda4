// Registration: a service instance's registration kept alive by a heartbeat thread (Consul's
// TTL check: heartbeat every ttl/3, so two lost heartbeats in a row still leave it passing).
#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include "switchboard/client.hpp"

namespace switchboard {

struct Registration::State {
  State(ClientOptions client_options, RegistrationSpec registration)
      : options(std::move(client_options)), spec(std::move(registration)), admin(options) {}

  // On the heartbeat thread.
  void run();

  const ClientOptions options;
  const RegistrationSpec spec;
  AdminClient admin;  // the heartbeat thread's; cancelled when the registration ends
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;  // guarded by mutex
  std::thread thread;
};

void Registration::State::run() {
  const auto period = *spec.ttl / 3;
  std::unique_lock lock(mutex);
  while (!wake.wait_for(lock, period, [this] { return stopping; })) {
    lock.unlock();
    try {
      // 404: the registry forgot us (critical for too long, deregistered by an operator, or a
      // registry restarted without its data): register again with the same spec.
      if (!admin.heartbeat(spec.service, spec.id)) admin.register_instance(spec);
    } catch (const std::exception&) {
      // Unreachable, or an error answer: try again next period. Missing heartbeats turn the
      // instance critical after its ttl, which is the registry telling everyone the truth.
    }
    lock.lock();
  }
}

Registration::Registration(ClientOptions options, RegistrationSpec spec)
    : state_(std::make_unique<State>(std::move(options), std::move(spec))) {
  state_->admin.register_instance(state_->spec);
  // Without a ttl the registry never expires the instance: nothing to keep alive.
  if (state_->spec.ttl) state_->thread = std::thread([state = state_.get()] { state->run(); });
}

Registration::~Registration() {
  {
    const std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  state_->admin.cancel();  // a heartbeat in flight ends now rather than at its timeout
  if (state_->thread.joinable()) state_->thread.join();
  try {
    // A client of its own (the heartbeat thread's is cancelled), starting where the heartbeats
    // last got through rather than at an address that may be down.
    ClientOptions options = state_->options;
    const auto start =
        std::find(options.admin.begin(), options.admin.end(), state_->admin.current_admin());
    std::rotate(options.admin.begin(), start, options.admin.end());
    AdminClient(std::move(options)).deregister(state_->spec.service, state_->spec.id);
  } catch (const std::exception&) {
    // Unreachable: the instance turns critical after its ttl and is deregistered later.
  }
}

const RegistrationSpec& Registration::spec() const {
  return state_->spec;
}

}  // namespace switchboard
