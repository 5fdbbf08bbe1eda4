// The commands that act on one instance: register, deregister, heartbeat, drain, undrain.
#include <memory>

#include "cli/command.hpp"
#include "cli/flags.hpp"
#include "client/json.hpp"

namespace sb::cli {
namespace {

struct RegisterFlags {
  CommonFlags common;
  std::string service;
  std::string id;
  std::string address;
  unsigned port = 0;
  uint32_t weight = 1;
  std::vector<std::string> tags;
  std::vector<std::string> meta;
  std::string ttl = "none";
  std::vector<std::string> routes;
};

struct InstanceFlags {
  CommonFlags common;
  std::string service;
  std::string id;
};

std::string name_of(const std::string& service, const std::string& id) {
  return service + "/" + id;
}

void run_register(const RegisterFlags& flags) {
  switchboard::RegistrationSpec spec;
  spec.service = flags.service;
  spec.id = flags.id;
  spec.address = flags.address;
  spec.port = static_cast<uint16_t>(flags.port);
  spec.weight = flags.weight;
  spec.tags = flags.tags;
  for (const std::string& item : flags.meta) spec.meta.insert(parse_meta_flag(item));
  spec.ttl = parse_ttl_flag(flags.ttl);
  for (const std::string& item : flags.routes) spec.routes.push_back(parse_route_flag(item));

  switchboard::AdminClient admin(flags.common.client_options());
  const switchboard::InstanceInfo info = admin.register_instance(spec);
  if (flags.common.json) return print_json(switchboard::detail::instance_json(info));
  print("registered " + name_of(info.service, info.id) + " at " + info.address + ":" +
        std::to_string(info.port) + " (" + info.state + ")\n");
}

// deregister, heartbeat, drain and undrain: the same shape, a call that is true unless 404.
using InstanceCall = bool (switchboard::AdminClient::*)(const std::string&, const std::string&);

void run_instance_call(const InstanceFlags& flags, InstanceCall call, const char* action,
                       const char* done) {
  switchboard::AdminClient admin(flags.common.client_options());
  if (!(admin.*call)(flags.service, flags.id)) {
    throw CommandFailed("unknown instance \"" + flags.id + "\" of service \"" + flags.service +
                        "\"");
  }
  if (flags.common.json) {
    return print_json({{"service", flags.service}, {"id", flags.id}, {"action", action}});
  }
  print(std::string(done) + " " + name_of(flags.service, flags.id) + "\n");
}

void add_instance_call(CLI::App& app, std::vector<Command>& commands, const char* name,
                       const char* help, InstanceCall call, const char* done) {
  auto flags = std::make_shared<InstanceFlags>();
  CLI::App* command = app.add_subcommand(name, help);
  command->add_option("SERVICE", flags->service, "Service name")->required();
  command->add_option("ID", flags->id, "Instance id")->required();
  add_common_flags(*command, flags->common);
  commands.push_back(
      {command, [flags, call, name, done] { run_instance_call(*flags, call, name, done); }});
}

}  // namespace

void add_instance_commands(CLI::App& app, std::vector<Command>& commands) {
  auto flags = std::make_shared<RegisterFlags>();
  CLI::App* command =
      app.add_subcommand("register", "Register a service instance (or update its registration)");
  command->add_option("SERVICE", flags->service, "Service name, [a-z0-9][a-z0-9._-]*")->required();
  command->add_option("ID", flags->id, "Instance id, unique within the service")->required();
  command->add_option("--address", flags->address, "Address the instance listens on")->required();
  command->add_option("--port", flags->port, "Port the instance listens on")
      ->required()
      ->check(CLI::Range(1, 65535));
  command->add_option("--weight", flags->weight, "Balancing weight, 1-1000 (default 1)");
  // One value per occurrence: "--tag a SERVICE" must not swallow the positionals.
  command->add_option("--tag", flags->tags, "A tag (repeatable)")->allow_extra_args(false);
  command->add_option("--meta", flags->meta, "Metadata key=value (repeatable)")
      ->allow_extra_args(false);
  command->add_option("--ttl", flags->ttl,
                      "Turn critical unless heartbeated within this, e.g. 10s (default: none, "
                      "the instance lives until deregistered)");
  command
      ->add_option("--route", flags->routes,
                   "Route [host]/path-prefix to this service through the proxy (repeatable)")
      ->allow_extra_args(false);
  add_common_flags(*command, flags->common);
  commands.push_back({command, [flags] { run_register(*flags); }});

  add_instance_call(app, commands, "deregister", "Remove a service instance",
                    &switchboard::AdminClient::deregister, "deregistered");
  add_instance_call(app, commands, "heartbeat", "Renew an instance's ttl (passing again)",
                    &switchboard::AdminClient::heartbeat, "heartbeat sent for");
  add_instance_call(app, commands, "drain",
                    "Stop sending new requests to an instance (it stays registered)",
                    &switchboard::AdminClient::drain, "draining");
  add_instance_call(app, commands, "undrain", "Send requests to a drained instance again",
                    &switchboard::AdminClient::undrain, "undrained");
}

}  // namespace sb::cli
