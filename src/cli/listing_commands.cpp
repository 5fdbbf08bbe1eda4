// The commands that read the registry: services (one line per service) and instances SERVICE.
#include <memory>

#include "cli/command.hpp"
#include "cli/table.hpp"
#include "client/json.hpp"

namespace sb::cli {
namespace {

struct ServicesFlags {
  CommonFlags common;
};

struct InstancesFlags {
  CommonFlags common;
  std::string service;
};

void run_services(const ServicesFlags& flags) {
  switchboard::AdminClient admin(flags.common.client_options());
  const std::vector<switchboard::ServiceSummary> services = admin.services();
  if (flags.common.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& summary : services) list.push_back(switchboard::detail::service_json(summary));
    return print_json({{"services", std::move(list)}});
  }
  Table table({"SERVICE", "PASSING", "TOTAL"});
  for (const auto& summary : services) {
    table.add_row({summary.name, std::to_string(summary.passing), std::to_string(summary.total)});
  }
  print(table.render());
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += ",";
    out += item;
  }
  return out.empty() ? "-" : out;
}

void run_instances(const InstancesFlags& flags) {
  switchboard::AdminClient admin(flags.common.client_options());
  const switchboard::InstanceList list = admin.instances(flags.service);
  // The registry knows a service only while it has instances.
  if (list.instances.empty()) throw CommandFailed("unknown service \"" + flags.service + "\"");
  if (flags.common.json) {
    nlohmann::json instances = nlohmann::json::array();
    for (const auto& info : list.instances) {
      instances.push_back(switchboard::detail::instance_json(info));
    }
    return print_json(
        {{"service", flags.service}, {"index", list.index}, {"instances", std::move(instances)}});
  }
  Table table({"ID", "ADDRESS", "WEIGHT", "STATE", "LAST HEARTBEAT", "TAGS"});
  for (const auto& info : list.instances) {
    table.add_row({info.id, info.address + ":" + std::to_string(info.port),
                   std::to_string(info.weight), info.state,
                   format_age(info.last_heartbeat_ago) + " ago", join(info.tags)});
  }
  print(table.render());
}

}  // namespace

void add_listing_commands(CLI::App& app, std::vector<Command>& commands) {
  auto services = std::make_shared<ServicesFlags>();
  CLI::App* services_cmd = app.add_subcommand("services", "List services: passing/total");
  add_common_flags(*services_cmd, services->common);
  commands.push_back({services_cmd, [services] { run_services(*services); }});

  auto instances = std::make_shared<InstancesFlags>();
  CLI::App* instances_cmd = app.add_subcommand("instances", "List a service's instances");
  instances_cmd->add_option("SERVICE", instances->service, "Service name")->required();
  add_common_flags(*instances_cmd, instances->common);
  commands.push_back({instances_cmd, [instances] { run_instances(*instances); }});
}

}  // namespace sb::cli
