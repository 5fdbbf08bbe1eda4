// What every client command shares: the --admin/--timeout/--json flags, the Command record that
// ClientCommands dispatches on, the failure type for exit status 1, and output helpers.
#pragma once

#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "switchboard/client.hpp"

namespace sb::cli {

// The command ran and the answer is "no": unknown instance, no passing instance, a failed call
// (exit status 1). UsageError (flags.hpp) is exit status 2.
class CommandFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::string_view kDefaultAdmin = "127.0.0.1:8091";

struct CommonFlags {
  std::string admin{kDefaultAdmin};
  std::string timeout = "5s";
  std::string token;
  bool json = false;

  // Throws UsageError for a bad --admin or --timeout.
  switchboard::ClientOptions client_options() const;
};

// --admin (also from $SWITCHBOARD_ADMIN), --timeout and --json, on every client command so they
// may follow the command's own arguments.
void add_common_flags(CLI::App& command, CommonFlags& flags);

struct Command {
  CLI::App* app;
  std::function<void()> run;  // throws UsageError, CommandFailed or switchboard::ClientError
};

// Each adds its subcommands to `app` and their records to `commands`.
void add_instance_commands(CLI::App& app, std::vector<Command>& commands);
void add_listing_commands(CLI::App& app, std::vector<Command>& commands);
void add_call_command(CLI::App& app, std::vector<Command>& commands);
void add_status_command(CLI::App& app, std::vector<Command>& commands);

void print(std::string_view text);             // to stdout, as is
void print_json(const nlohmann::json& value);  // to stdout, one line

}  // namespace sb::cli
