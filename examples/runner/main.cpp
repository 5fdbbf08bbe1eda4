// `runner`: the patch-runner example service. Serves POST /run-patch and GET /health, registers
// itself with the switchboard registry, and deregisters on SIGTERM/SIGINT.
#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <switchboard/client.hpp>

#include "flag_parsing.hpp"
#include "http_server.hpp"
#include "patch_task.hpp"
#include "result_cache.hpp"
#include "runner_app.hpp"
#include "sandbox_path.hpp"

namespace {

struct Flags {
  std::string listen = "127.0.0.1:0";
  std::string id;
  std::string root = ".";
  std::string admin = "127.0.0.1:8091";
  std::string advertise;
  std::string ttl = "10s";
  std::string redis;
  unsigned threads = 2;
  unsigned workers = 8;
};

// The address other processes should dial: the bound one, unless that is a wildcard.
std::string advertised_address(const Flags& flags, const boost::asio::ip::address& bound) {
  if (!flags.advertise.empty()) return flags.advertise;
  if (bound.is_unspecified()) return bound.is_v6() ? "::1" : "127.0.0.1";
  return bound.to_string();
}

int run(const Flags& flags) {
  const runner::Endpoint listen = runner::parse_endpoint("--listen", flags.listen, true);
  const std::chrono::milliseconds ttl = runner::parse_duration("--ttl", flags.ttl);
  std::error_code root_error;
  if (!std::filesystem::is_directory(flags.root, root_error)) {
    throw runner::FlagError("--root", "'" + flags.root + "' is not a directory");
  }

  std::unique_ptr<runner::ResultCache> cache;
  if (!flags.redis.empty()) {
    const runner::Endpoint redis = runner::parse_endpoint("--redis", flags.redis, false);
    // Short on purpose: with Redis gone, a request should not wait long before going on without.
    cache = std::make_unique<runner::ResultCache>(redis.host, redis.port,
                                                  std::chrono::milliseconds(200));
  }

  // SIGTERM and SIGINT are blocked in every thread (the server's and the client library's inherit
  // the mask) and taken by sigwait below, so shutdown runs as ordinary code on this thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const runner::PatchRunner patches(runner::SandboxRoot(flags.root), cache.get());
  auto server =
      std::make_unique<runner::HttpServer>(listen.host, listen.port, flags.threads, flags.workers);
  const auto bound = server->local_endpoint();
  const std::string id = flags.id.empty() ? "runner-" + std::to_string(bound.port()) : flags.id;
  server->start(runner::runner_routes(id, patches));
  spdlog::info("runner {} listening on http://{}:{}", id, bound.address().to_string(),
               bound.port());

  std::optional<switchboard::Registration> registration;
  switchboard::ClientOptions options;
  if (flags.admin != "off") {
    options.admin.clear();
    for (size_t start = 0; start <= flags.admin.size();) {
      const size_t comma = flags.admin.find(',', start);
      const std::string item = flags.admin.substr(start, comma - start);
      if (!item.empty()) options.admin.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    switchboard::RegistrationSpec spec;
    spec.service = "runner";
    spec.id = id;
    spec.address = advertised_address(flags, bound.address());
    spec.port = bound.port();
    spec.ttl = ttl;
    spec.routes.push_back({"", "/run-patch"});
    spec.meta["root"] = std::filesystem::absolute(flags.root).string();
    try {
      registration.emplace(options, spec);
    } catch (const switchboard::ClientError& e) {
      spdlog::error(
          "runner {}: cannot register with the registry at {}: {} (start switchboard "
          "with an admin listener first, or pass --admin off)",
          id, flags.admin, e.what());
      server->stop();
      return 1;
    }
    spdlog::info("runner {} registered as runner/{} at {}:{} (ttl {} ms)", id, id, spec.address,
                 spec.port, ttl.count());
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("runner {}: {}, shutting down", id, signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  // Deregister first, so the proxy and resolvers stop sending work here before the server stops.
  if (registration) {
    registration.reset();
    // The destructor swallows a failed deregistration (the TTL cleans up); ask, to log the truth.
    options.timeout = std::chrono::seconds(2);
    try {
      const switchboard::InstanceList left = switchboard::AdminClient(options).instances("runner");
      const bool still_there = std::any_of(left.instances.begin(), left.instances.end(),
                                           [&](const auto& i) { return i.id == id; });
      if (still_there) {
        spdlog::warn("runner {} is still registered; the registry drops it after its ttl", id);
      } else {
        spdlog::info("runner {} deregistered", id);
      }
    } catch (const switchboard::ClientError& e) {
      spdlog::warn(
          "runner {}: registry unreachable at shutdown ({}); it drops this instance "
          "after its ttl",
          id, e.what());
    }
  }
  server->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"runner: applies JSON patch tasks to documents under --root (switchboard example)"};
  app.add_option("--listen", flags.listen, "host:port to serve on; port 0 picks a free one")
      ->capture_default_str();
  app.add_option("--id", flags.id, "instance id (default runner-<port>)");
  app.add_option("--root", flags.root, "directory holding task and target files")
      ->capture_default_str();
  app.add_option("--admin", flags.admin,
                 "registry admin address(es), host:port[,host:port]; 'off' to not register")
      ->capture_default_str();
  app.add_option("--advertise", flags.advertise,
                 "address to register (default: the listen address)");
  app.add_option("--ttl", flags.ttl, "registration TTL, e.g. 10s or 500ms")->capture_default_str();
  app.add_option("--redis", flags.redis, "host:port of a Redis to cache results in (optional)");
  app.add_option("--threads", flags.threads, "I/O threads")->capture_default_str();
  app.add_option("--workers", flags.workers, "threads for patch work (file locks, fsync)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // hiredis writes with write(2): a Redis that went away must cost a failed call, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  auto logger = spdlog::stderr_color_mt("runner");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  try {
    return run(flags);
  } catch (const runner::FlagError& e) {
    std::fprintf(stderr, "runner: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::error("runner: {}", e.what());
    return 1;
  }
}
