// `switchboard`: subcommand dispatch only.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/event_log.hpp"
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "core/log_format.hpp"
#include "core/process_signals.hpp"
#include "proxy/server.hpp"

namespace {

struct ServeFlags {
  std::string config_path;
  std::string listen;
  std::string backends;
  std::optional<unsigned> threads;
  std::string accept_balance;
  std::string balance = "round_robin";
  std::string access_log;
  std::string log_level;
  std::string log_format;
  std::string admin_listen;
  std::string data_dir;
  std::string registry;
};

// The quick form: one service "backends" over the listed addresses, routed for every path.
sb::config::Config config_from_flags(const ServeFlags& flags) {
  sb::config::Config config;
  sb::config::ServiceConfig service;
  service.name = "backends";
  service.balance = flags.balance;
  size_t start = 0;
  while (start <= flags.backends.size()) {
    const size_t comma = flags.backends.find(',', start);
    const std::string item = flags.backends.substr(start, comma - start);
    if (!item.empty()) {
      const sb::config::Endpoint e = sb::config::parse_endpoint("--backends", item);
      service.instances.push_back({e.host, e.port, 1});
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (service.instances.empty()) {
    throw sb::config::ConfigError("--backends", "expected host:port[,host:port...]");
  }
  config.services.push_back(std::move(service));
  config.routes.push_back({"", "/", "backends", false});
  return config;
}

sb::config::Config build_config(const ServeFlags& flags) {
  if (!flags.config_path.empty() && !flags.backends.empty()) {
    throw sb::config::ConfigError("--backends", "cannot be combined with --config");
  }
  // Neither: no static services, only what registers with the embedded registry.
  sb::config::Config config = !flags.config_path.empty() ? sb::config::load_file(flags.config_path)
                              : !flags.backends.empty()  ? config_from_flags(flags)
                                                         : sb::config::Config{};
  if (!flags.listen.empty()) config.listen = sb::config::parse_endpoint("--listen", flags.listen);
  if (flags.threads) config.threads = *flags.threads;
  if (!flags.accept_balance.empty()) config.accept_balance = flags.accept_balance;
  if (flags.admin_listen == "off") {
    config.admin.enabled = false;
  } else if (!flags.admin_listen.empty()) {
    config.admin.enabled = true;
    config.admin.listen = sb::config::parse_endpoint("--admin-listen", flags.admin_listen);
  }
  if (!flags.data_dir.empty()) config.registry.data_dir = flags.data_dir;
  if (!flags.registry.empty()) {
    config.registry.etcd = sb::config::parse_registry_store("--registry", flags.registry);
    config.registry.store = flags.registry;
  }
  if (config.admin.token.empty()) {
    // Held to the config's rule: a short token from the environment is as weak as one typed in.
    // Set but empty counts as unset (off loopback that is refused: a token is required).
    const char* token = std::getenv("SWITCHBOARD_ADMIN_TOKEN");
    if (token != nullptr && *token != '\0') {
      sb::config::check_admin_token("SWITCHBOARD_ADMIN_TOKEN", token);
      config.admin.token = token;
    }
  }
  if (!config.admin.enabled && config.services.empty()) {
    throw sb::config::ConfigError(
        "serve",
        "nothing to route: give --backends or --config with services, or keep the "
        "admin listener (and its registry) on");
  }
  if (!flags.log_level.empty()) {
    sb::config::check_log_level("--log-level", flags.log_level);
    config.log_level = flags.log_level;
  }
  if (!flags.log_format.empty()) {
    sb::config::check_log_format("--log-format", flags.log_format);
    config.log_format = flags.log_format;
  }
  if (!flags.access_log.empty()) {
    config.access_log.enabled = flags.access_log != "off";
    if (config.access_log.enabled) config.access_log.path = flags.access_log;
  }
  sb::config::validate(config);
  return config;
}

int serve(const ServeFlags& flags) {
  // Before any thread starts, so that every thread inherits the mask (core/process_signals.hpp).
  sb::block_process_signals();
  const sb::config::Config config = build_config(flags);
  // Log lines go to stderr and to the dashboard's feed of recent events.
  auto logger = std::make_shared<spdlog::logger>(
      "switchboard",
      spdlog::sinks_init_list{std::make_shared<spdlog::sinks::stderr_color_sink_mt>(),
                              sb::admin::event_log()});
  // Synchronous on purpose: state-change lines carry their structured fields in a thread-local
  // (core/log_event.hpp), and they are few; the access log has its own writer.
  spdlog::set_default_logger(logger);
  sb::apply_log_settings(config.log_format, config.log_level);
  // A reload reads the file again with the same command-line overrides on top.
  sb::proxy::Server::ConfigSource reload_source;
  if (!flags.config_path.empty()) reload_source = [flags] { return build_config(flags); };
  sb::proxy::Server server(config, std::move(reload_source));
  return server.run();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Switchboard: service registry and HTTP load balancer"};
  app.require_subcommand(1);
  ServeFlags flags;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Run the proxy");
  serve_cmd->add_option("--config,-c", flags.config_path, "YAML configuration file");
  serve_cmd->add_option("--listen", flags.listen,
                        "Proxy address, host:port (default 127.0.0.1:8090)");
  serve_cmd->add_option("--backends", flags.backends, "Quick start: host:port,host:port,...");
  serve_cmd->add_option("--threads", flags.threads, "Worker threads (default: one per core)")
      ->check(CLI::Range(1, 256));
  serve_cmd->add_option("--accept-balance", flags.accept_balance,
                        "How connections reach workers: kernel (SO_REUSEPORT, default) or exact "
                        "(to the worker with the fewest)");
  serve_cmd->add_option(
      "--balance", flags.balance,
      "Balancing algorithm: round_robin, least_conn, ip_hash, random, p2c, ewma (hash: --config)");
  serve_cmd->add_option("--access-log", flags.access_log, "off, - (stdout) or a file path");
  serve_cmd->add_option("--log-level", flags.log_level, "trace, debug, info, warn, error, off");
  serve_cmd->add_option("--log-format", flags.log_format,
                        "text (default) or json: one JSON object per log line");
  serve_cmd->add_option("--admin-listen", flags.admin_listen,
                        "Admin API address, host:port (default 127.0.0.1:8091), or off");
  serve_cmd->add_option("--data-dir", flags.data_dir,
                        "Registry directory (default ./switchboard-data)");
  serve_cmd->add_option("--registry", flags.registry,
                        "Registry store: sqlite (default) or etcd://host:port[,host:port...]");
  app.add_subcommand("version", "Print the version");
  const sb::cli::ClientCommands client_commands(app);

  const auto known = [](std::string_view word) {
    return word == "serve" || word == "version" || sb::cli::ClientCommands::is_command(word);
  };
  if (argc > 1 && argv[1][0] != '-' && !known(argv[1])) {
    std::fprintf(stderr, "switchboard: unknown command '%s' (commands: serve, version, %s)\n",
                 argv[1], sb::cli::ClientCommands::names().c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "switchboard: %s\n", e.what());
    return 2;
  }
  if (const std::optional<int> status = client_commands.run()) return *status;
  try {
    if (app.got_subcommand("version")) {
      std::puts("switchboard 0.1.0");
      return 0;
    }
    return serve(flags);
  } catch (const sb::config::ConfigError& e) {
    std::fprintf(stderr, "switchboard: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "switchboard: %s\n", e.what());
    return 1;
  }
}
