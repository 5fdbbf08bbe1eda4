// `switchboard call SERVICE PATH`: resolve the service through the registry and send the request
// straight to a passing instance, balanced client-side with the proxy's round robin.
#include <memory>
#include <random>
#include <span>

#include "cli/command.hpp"
#include "cli/flags.hpp"
#include "client/http_call.hpp"
#include "client/json.hpp"
#include "client/picker.hpp"

namespace sb::cli {
namespace {

struct CallFlags {
  CommonFlags common;
  std::string service;
  std::string path;
  std::string method;  // empty: GET, or POST with a body
  std::string body;
  std::vector<std::string> headers;
  unsigned count = 1;
};

// Methods that may be sent twice (RFC 9110 9.2.2): after a failure once the request was sent, only
// these go to another instance.
bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

struct Answer {
  const switchboard::InstanceInfo* instance;
  switchboard::detail::HttpResponse response;
};

// One request; a failed instance is not offered twice (the bounded retry of DESIGN.md).
Answer call_one(switchboard::detail::InstancePicker& picker,
                const switchboard::detail::HttpRequest& request,
                std::chrono::milliseconds timeout) {
  const auto& instances = picker.instances();
  std::unique_ptr<bool[]> tried(new bool[instances.size()]());
  std::string failures;
  while (true) {
    const size_t chosen = picker.pick({tried.get(), instances.size()});
    if (chosen == switchboard::detail::InstancePicker::kNone) {
      throw CommandFailed("every passing instance failed (" + failures + ")");
    }
    const switchboard::InstanceInfo& instance = instances[chosen];
    try {
      return {&instance,
              switchboard::detail::http_call({instance.address, instance.port}, request, timeout)};
    } catch (const switchboard::detail::TransportError& e) {
      if (!failures.empty()) failures += "; ";
      failures += instance.id + ": " + e.what();
      if (e.request_sent() && !idempotent(request.method)) {
        throw CommandFailed(instance.id + ": " + e.what() + " (" + request.method +
                            " is not retried once sent)");
      }
      tried[chosen] = true;
    }
  }
}

void run_call(const CallFlags& flags) {
  if (flags.path.empty() || flags.path.front() != '/') {
    throw UsageError("PATH: must start with '/', got \"" + flags.path + "\"");
  }
  if (flags.count == 0) throw UsageError("--count: must be at least 1");
  switchboard::detail::HttpRequest request;
  request.method = !flags.method.empty() ? flags.method : flags.body.empty() ? "GET" : "POST";
  request.target = flags.path;
  request.body = flags.body;
  for (const std::string& header : flags.headers)
    request.headers.push_back(parse_header_flag(header));
  const switchboard::ClientOptions options = flags.common.client_options();

  switchboard::AdminClient admin(options);
  switchboard::InstanceList list = admin.instances(flags.service);
  if (list.instances.empty()) throw CommandFailed("unknown service \"" + flags.service + "\"");
  const size_t total = list.instances.size();
  std::erase_if(list.instances,
                [](const switchboard::InstanceInfo& i) { return i.state != "passing"; });
  if (list.instances.empty()) {
    throw CommandFailed("service \"" + flags.service + "\" has no passing instance (" +
                        std::to_string(total) + " critical or draining)");
  }
  // A random start, so that one-shot calls from a script spread over the instances too.
  switchboard::detail::InstancePicker picker("round_robin", std::random_device{}());
  picker.update(std::move(list.instances));

  std::string failed;
  for (unsigned i = 0; i < flags.count; ++i) {
    const Answer answer = call_one(picker, request, options.timeout);
    const switchboard::detail::HostPort where{answer.instance->address, answer.instance->port};
    if (flags.common.json) {
      print_json({{"instance", answer.instance->id},
                  {"address", where.text()},
                  {"status", answer.response.status},
                  {"body", answer.response.body}});
    } else {
      print(answer.response.body);
    }
    if (answer.response.status >= 400 && failed.empty()) {
      failed = answer.instance->id + " (" + where.text() + ") answered " +
               std::to_string(answer.response.status);
    }
  }
  if (!failed.empty()) throw CommandFailed(failed);
}

}  // namespace

void add_call_command(CLI::App& app, std::vector<Command>& commands) {
  auto flags = std::make_shared<CallFlags>();
  CLI::App* command = app.add_subcommand(
      "call", "Call a service directly: resolve it, pick a passing instance, print the body");
  command->add_option("SERVICE", flags->service, "Service name")->required();
  command->add_option("PATH", flags->path, "Request target, e.g. /health?verbose=1")->required();
  command->add_option("-X,--request", flags->method, "Method (default GET, POST with -d)");
  command->add_option("-d,--data", flags->body, "Request body");
  command->add_option("-H,--header", flags->headers, "Header 'Name: value' (repeatable)")
      ->allow_extra_args(false);  // one value each: "-H 'A: b' SERVICE PATH" keeps its positionals
  command->add_option("-n,--count", flags->count,
                      "Send the request this many times, round robin (default 1)");
  add_common_flags(*command, flags->common);
  commands.push_back({command, [flags] { run_call(*flags); }});
}

}  // namespace sb::cli
