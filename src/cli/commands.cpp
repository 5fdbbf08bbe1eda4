// ClientCommands: the client subcommands' registration, dispatch and exit statuses, and the
// flags and output helpers they share (command.hpp).
#include "cli/commands.hpp"

#include <array>
#include <cstdio>

#include "cli/flags.hpp"
#include "client/json.hpp"

namespace sb::cli {
namespace {

constexpr std::array<std::string_view, 9> kNames = {"register",  "deregister", "heartbeat",
                                                    "drain",     "undrain",    "services",
                                                    "instances", "call",       "status"};

// One line, whatever the message holds (a server's text, an OS error).
void report(std::string_view message) {
  std::string line(message);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "switchboard: %s\n", line.c_str());
}

}  // namespace

switchboard::ClientOptions CommonFlags::client_options() const {
  switchboard::ClientOptions options;
  options.admin = parse_admin_flag(admin);
  options.timeout = parse_duration_flag("--timeout", timeout);
  if (options.timeout.count() == 0) throw UsageError("--timeout: must be more than 0");
  options.token = token;
  return options;
}

void add_common_flags(CLI::App& command, CommonFlags& flags) {
  command
      .add_option("--admin", flags.admin,
                  "Admin API address(es), host:port[,host:port] (default " +
                      std::string(kDefaultAdmin) + ")")
      ->envname("SWITCHBOARD_ADMIN");
  command.add_option("--timeout", flags.timeout, "Per-call timeout (default 5s)");
  command.add_option("--token", flags.token, "Admin API bearer token (admin.token)")
      ->envname("SWITCHBOARD_ADMIN_TOKEN");
  command.add_flag("--json", flags.json, "Machine-readable output (JSON)");
}

void print(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

void print_json(const nlohmann::json& value) {
  print(switchboard::detail::dump(value) + "\n");
}

ClientCommands::ClientCommands(CLI::App& app) {
  add_instance_commands(app, commands_);
  add_listing_commands(app, commands_);
  add_call_command(app, commands_);
  add_status_command(app, commands_);
}

bool ClientCommands::is_command(std::string_view word) {
  for (const std::string_view name : kNames) {
    if (name == word) return true;
  }
  return false;
}

std::string ClientCommands::names() {
  std::string list;
  for (const std::string_view name : kNames) {
    if (!list.empty()) list += ", ";
    list += name;
  }
  return list;
}

std::optional<int> ClientCommands::run() const {
  for (const Command& command : commands_) {
    if (!command.app->parsed()) continue;
    try {
      command.run();
      std::fflush(stdout);
      return 0;
    } catch (const UsageError& e) {
      report(e.what());
      return 2;
    } catch (const switchboard::ClientError& e) {
      report(e.what());
      // 400: the registry refused what the command line said (a bad id, an out-of-range port).
      return e.status() == 400 ? 2 : 1;
    } catch (const std::exception& e) {
      std::fflush(stdout);
      report(e.what());
      return 1;
    }
  }
  return std::nullopt;
}

}  // namespace sb::cli
