// client_lifecycle_check ADMIN: the client library against a real `switchboard serve` admin API
// (run by tests/integration/test_client_cli.py). Prints "ok ..." per check; exits 1 at the first
// failure, naming it. Every wait polls with a deadline; no sleep stands in for synchronisation.
#include <switchboard/client.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <set>
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

switchboard::RegistrationSpec spec_for(const std::string& service, const std::string& id,
                                       uint16_t port) {
  switchboard::RegistrationSpec spec;
  spec.service = service;
  spec.id = id;
  spec.address = "127.0.0.1";
  spec.port = port;
  spec.ttl = 1s;  // the registry's minimum: three heartbeats a second
  spec.tags = {"lifecycle"};
  return spec;
}

}  // namespace

int run(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: client_lifecycle_check ADMIN_HOST:PORT\n");
    return 2;
  }
  switchboard::ClientOptions options;
  options.admin = {argv[1]};
  options.timeout = 2s;
  switchboard::AdminClient admin(options);
  const std::string service = "lifecycle-" + std::to_string(getpid());

  // Bad input and no server: the constructor throws, naming the problem.
  try {
    switchboard::Registration bad(options, spec_for(service, "bad", 0));
    fail("a registration with port 0 was accepted");
  } catch (const switchboard::ClientError& e) {
    if (e.status() != 400 || e.field() != "port") {
      fail("port 0: expected 400 on field port, got " + std::to_string(e.status()) + " " +
           e.field() + ": " + e.what());
    }
  }
  ok("bad registration throws 400 naming the field");
  {
    switchboard::ClientOptions nowhere = options;
    nowhere.admin = {"127.0.0.1:1"};
    try {
      switchboard::Registration unreachable(nowhere, spec_for(service, "nowhere", 9));
      fail("a registration with no admin API reachable did not throw");
    } catch (const switchboard::ClientError& e) {
      if (e.status() != 0)
        fail("unreachable admin: expected status 0, got " + std::string(e.what()));
    }
  }
  ok("unreachable admin throws status 0");

  std::optional<switchboard::Registration> live;
  live.emplace(options, spec_for(service, "live", 9101));
  const auto registered_at = Clock::now();
  if (state_of(admin, service, "live") != "passing") fail("registered instance is not passing");
  ok("registration registers (passing)");

  // A control instance with the same ttl and no heartbeats: once it is critical, the ttl has
  // demonstrably run out, and the heartbeated one must still be passing.
  admin.register_instance(spec_for(service, "control", 9102));
  wait_for("the unheartbeated control instance to turn critical", 10s,
           [&] { return state_of(admin, service, "control") == "critical"; });
  if (Clock::now() - registered_at < 1s) fail("control turned critical before its ttl");
  const std::string live_state = state_of(admin, service, "live");
  if (live_state != "passing") fail("heartbeated instance is " + live_state + " past its ttl");
  admin.deregister(service, "control");
  ok("heartbeats keep it passing past its ttl");

  // Deregistered behind its back: the next heartbeat gets 404 and registers again.
  if (!admin.deregister(service, "live")) fail("deregister of live instance returned 404");
  wait_for("the registration to come back after a 404 heartbeat", 5s,
           [&] { return state_of(admin, service, "live") == "passing"; });
  ok("a heartbeat answered 404 re-registers");

  {
    switchboard::Resolver resolver(options, service);
    if (!resolver.wait_ready(5s)) fail("resolver: no first answer within 5s");
    const auto first = resolver.pick();
    if (!first || first->id != "live") fail("resolver: pick() did not return the live instance");
    switchboard::Registration second(options, spec_for(service, "second", 9103));
    // A blocking query: the resolver hears of the new instance without polling.
    wait_for("the resolver to see the second instance", 5s,
             [&] { return resolver.instances().size() == 2; });
    std::set<std::string> picked;
    for (int i = 0; i < 4; ++i) picked.insert(resolver.pick().value().id);
    if (picked != std::set<std::string>{"live", "second"}) fail("resolver: picks are not spread");
    admin.drain(service, "second");
    wait_for("the resolver to drop the draining instance", 5s,
             [&] { return resolver.instances().size() == 1; });
    ok("resolver follows the registry and round-robins over passing instances");
  }

  {
    auto resolver = std::make_unique<switchboard::Resolver>(options, service);
    if (!resolver->wait_ready(5s)) fail("resolver: no first answer within 5s");
    // The watch loop goes from each answer straight into the next blocking query (30 s). This
    // pause is not synchronisation: it makes it likely that the query is parked when the resolver
    // is destroyed, so the check tests something; nothing can make it fail spuriously.
    std::this_thread::sleep_for(300ms);
    const auto before = Clock::now();
    resolver.reset();
    const auto took = Clock::now() - before;
    if (took > 1s) {
      fail("resolver destruction took " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) +
           " ms (waited out its blocking query?)");
    }
  }
  ok("resolver destruction does not wait for its blocking query");

  const auto before = Clock::now();
  live.reset();
  if (Clock::now() - before > 1s) fail("registration destruction took more than 1 s");
  if (state_of(admin, service, "live") != "absent") fail("destructor did not deregister");
  ok("destructor deregisters");
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fail(std::string("unexpected exception: ") + e.what());
  }
}
