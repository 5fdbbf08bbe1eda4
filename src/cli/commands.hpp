// The client subcommands of `switchboard` (register, deregister, heartbeat, drain, undrain,
// services, instances, call): each one call to the admin API, human output or --json.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command.hpp"

namespace sb::cli {

class ClientCommands {
 public:
  // Adds the subcommands and their flags to `app`.
  explicit ClientCommands(CLI::App& app);

  static bool is_command(std::string_view word);
  static std::string names();  // "register, deregister, ..."

  // After app.parse(): runs the chosen subcommand and returns its exit status (0; 1 when the
  // server said no or could not be reached; 2 for bad usage, with one line on stderr), or
  // std::nullopt when the chosen subcommand is not one of these.
  std::optional<int> run() const;

 private:
  std::vector<Command> commands_;
};

}  // namespace sb::cli
