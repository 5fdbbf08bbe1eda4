// client_failover_check NODE_A NODE_B: the client library against two switchboards of one etcd
// cluster while node A fails under it (run by tests/integration/test_cluster.py, which stops and
// kills A when this program asks). A Registration and a Resolver given both addresses start on A;
// with A hung (SIGSTOP) the instance stays passing for several ttls on heartbeats through B, and
// with A killed the Resolver follows changes through B. Prints "ok ..." per check and "stop A" /
// "kill A" when it wants the test to act, then reads the test's answer line from stdin. Exits 1 at
// the first failure, naming it. Every wait polls with a deadline.
#include <switchboard/client.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "client_check.hpp"

namespace {

using namespace std::chrono_literals;
using client_check::Clock;
using client_check::fail;
using client_check::find;
using client_check::ok;
using client_check::state_of;
using client_check::wait_for;

constexpr auto kTtl = 3s;  // heartbeats every second

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// Asks the test to act on node A and waits for its answer line.
void ask(const std::string& request, const std::string& answer) {
  say(request);
  std::string line;
  if (!std::getline(std::cin, line) || line != answer) {
    fail("expected \"" + answer + "\" from the test after \"" + request + "\", got \"" + line +
         "\"");
  }
}

switchboard::RegistrationSpec spec_for(const std::string& service, const std::string& id,
                                       uint16_t port) {
  switchboard::RegistrationSpec spec;
  spec.service = service;
  spec.id = id;
  spec.address = "127.0.0.1";
  spec.port = port;
  spec.ttl = kTtl;
  return spec;
}

long long ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

int run(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: client_failover_check NODE_A_ADMIN NODE_B_ADMIN\n");
    return 2;
  }
  const std::string node_a = argv[1];
  const std::string node_b = argv[2];
  switchboard::ClientOptions both;
  both.admin = {node_a, node_b};
  // Short enough that the one heartbeat that finds A hung still lands on B well within the ttl,
  // long enough for a loaded machine.
  both.timeout = 1s;
  switchboard::ClientOptions only_b = both;
  only_b.admin = {node_b};
  switchboard::AdminClient via_b(only_b);
  const std::string service = "failover-" + std::to_string(getpid());

  std::optional<switchboard::Registration> live;
  live.emplace(both, spec_for(service, "live", 9101));
  auto resolver = std::make_unique<switchboard::Resolver>(both, service);
  if (!resolver->wait_ready(5s)) fail("resolver: no first answer within 5 s");
  if (resolver->instances().size() != 1) fail("resolver: does not see the live instance");
  {
    switchboard::ClientOptions only_a = both;
    only_a.admin = {node_a};
    switchboard::AdminClient via_a(only_a);
    wait_for("a heartbeat through A", 5s, [&] {
      const auto info = find(via_a, service, "live");
      return info && info->last_heartbeat_ago < kTtl / 2;
    });
  }
  ok("registered and heartbeating through A, resolver ready");

  ask("stop A", "stopped");
  // A hangs: calls to it wait out the timeout. For three ttls the instance must stay passing on
  // B, and B must be relaying its heartbeats; an unheartbeated control instance shows the ttl
  // runs out meanwhile for an instance nobody keeps alive.
  via_b.register_instance(spec_for(service, "control", 9102));
  const auto hung_at = Clock::now();
  bool control_expired = false;
  while (Clock::now() - hung_at < 3 * kTtl) {
    const auto live_info = find(via_b, service, "live");
    if (!live_info || live_info->state != "passing") {
      fail("live is " + (live_info ? live_info->state : std::string("absent")) + " on B " +
           std::to_string(ms(Clock::now() - hung_at)) + " ms after A hung");
    }
    // After the first heartbeat that found A hung (one period plus one timeout), every
    // heartbeat goes to B.
    if (Clock::now() - hung_at > kTtl && live_info->last_heartbeat_ago >= kTtl) {
      fail("B relayed no heartbeat for " + std::to_string(live_info->last_heartbeat_ago.count()) +
           " ms");
    }
    control_expired = control_expired || state_of(via_b, service, "control") != "passing";
    std::this_thread::sleep_for(100ms);  // the polling period of an observation window
  }
  if (!control_expired) fail("the unheartbeated control instance stayed passing for 3 ttls");
  ok("passing for 3 ttls on heartbeats through B while A hangs");

  ask("kill A", "killed");
  // The resolver's blocking query was parked on A; the reset sends it to B, where it stays.
  via_b.register_instance(spec_for(service, "second", 9103));
  wait_for("the resolver to see the instance registered through B", 5s,
           [&] { return resolver->instances().size() == 2; });
  if (!via_b.drain(service, "second")) fail("drain through B: no such instance");
  wait_for("the resolver to drop the instance drained through B", 5s,
           [&] { return resolver->instances().size() == 1; });
  ok("resolver follows changes through B with A killed");

  const auto killed_at = Clock::now();
  while (Clock::now() - killed_at < kTtl) {
    const std::string state = state_of(via_b, service, "live");
    if (state != "passing") fail("live is " + state + " on B after A died");
    std::this_thread::sleep_for(100ms);  // the polling period of an observation window
  }
  resolver.reset();
  const auto before = Clock::now();
  live.reset();
  if (Clock::now() - before > 1s) fail("registration destruction took more than 1 s");
  if (state_of(via_b, service, "live") != "absent") fail("the destructor did not deregister");
  via_b.deregister(service, "second");
  ok("still passing a ttl after A died; deregistered through B");
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fail(std::string("unexpected exception: ") + e.what());
  }
}
