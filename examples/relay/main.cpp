// `relay`: the calling side of the demo. Finds `runner` instances through the switchboard registry
// (switchboard::Resolver), sends each task straight to the next instance (client-side round
// robin), prints the answers and how many each instance took.
#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <switchboard/client.hpp>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;

struct Flags {
  std::string admin = "127.0.0.1:8091";
  std::string service = "runner";
  std::vector<std::string> files = {"tasks/add-item.json"};
  unsigned count = 1;
  unsigned timeout_ms = 5000;
};

struct Answer {
  unsigned status = 0;
  std::string body;
};

// One POST with its own connection, under one deadline for connect, write and read.
asio::awaitable<Answer> post_json(std::string host, uint16_t port, std::string target,
                                  std::string body, std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  const auto endpoints =
      co_await resolver.async_resolve(host, std::to_string(port), asio::use_awaitable);
  beast::tcp_stream stream(executor);
  stream.expires_after(timeout);
  co_await stream.async_connect(endpoints, asio::use_awaitable);
  http::request<http::string_body> request{http::verb::post, target, 11};
  request.set(http::field::host, host + ":" + std::to_string(port));
  request.set(http::field::content_type, "application/json");
  request.body() = std::move(body);
  request.prepare_payload();
  co_await http::async_write(stream, request, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  co_await http::async_read(stream, buffer, response, asio::use_awaitable);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return Answer{response.result_int(), std::move(response.body())};
}

// Runs post_json to completion on a private io_context; throws what it threw.
Answer post_json_blocking(const std::string& host, uint16_t port, const std::string& target,
                          const std::string& body, std::chrono::milliseconds timeout) {
  asio::io_context io;
  Answer answer;
  std::exception_ptr failure;
  asio::co_spawn(io, post_json(host, port, target, body, timeout),
                 [&](std::exception_ptr e, Answer a) {
                   failure = e;
                   answer = std::move(a);
                 });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return answer;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  for (size_t start = 0; start <= text.size();) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int run(const Flags& flags) {
  switchboard::ClientOptions options;
  options.admin = split_commas(flags.admin);
  const auto timeout = std::chrono::milliseconds(flags.timeout_ms);
  switchboard::Resolver resolver(options, flags.service);
  if (!resolver.wait_ready(timeout)) {
    std::fprintf(stderr, "relay: no answer from the registry at %s\n", flags.admin.c_str());
    return 1;
  }

  std::map<std::string, unsigned> per_instance;
  unsigned failed = 0;
  for (unsigned i = 0; i < flags.count; ++i) {
    const std::string& file = flags.files[i % flags.files.size()];
    const std::optional<switchboard::InstanceInfo> instance = resolver.pick();
    if (!instance) {
      std::fprintf(stderr, "relay: service '%s' has no passing instance\n", flags.service.c_str());
      return 1;
    }
    Answer answer;
    try {
      answer = post_json_blocking(instance->address, instance->port, "/run-patch",
                                  json{{"file", file}}.dump(), timeout);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "relay: %s (%s:%u): %s\n", instance->id.c_str(),
                   instance->address.c_str(), instance->port, e.what());
      ++failed;
      continue;
    }
    // The runner names itself in every answer; trust that over the registry's id, so a
    // misregistered instance shows up as a mismatch rather than hiding.
    const json parsed = json::parse(answer.body, nullptr, false);
    std::string who = instance->id;
    if (parsed.is_object() && parsed.contains("instance") && parsed["instance"].is_string()) {
      who = parsed["instance"].get<std::string>();
    }
    if (answer.status != 200) ++failed;
    ++per_instance[who];
    if (flags.count == 1) {
      std::printf("%s\n", parsed.is_discarded() ? answer.body.c_str() : parsed.dump(2).c_str());
    } else {
      std::printf("%u %s %u %s\n", i + 1, who.c_str(), answer.status, file.c_str());
    }
    std::fflush(stdout);
  }
  if (flags.count > 1) {
    std::string summary = "summary:";
    for (const auto& [who, n] : per_instance) summary += " " + who + "=" + std::to_string(n);
    std::printf("%s (%u tasks, %u failed)\n", summary.c_str(), flags.count, failed);
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"relay: sends patch tasks to runner instances found through the registry"};
  app.add_option("--admin", flags.admin, "registry admin address(es), host:port[,host:port]")
      ->capture_default_str();
  app.add_option("--service", flags.service, "service to resolve")->capture_default_str();
  app.add_option("--file", flags.files,
                 "task file(s) relative to the runners' root; repeated: used in turn")
      ->capture_default_str();
  app.add_option("--count", flags.count, "how many tasks to send")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1'000'000u));
  app.add_option("--timeout-ms", flags.timeout_ms, "per task, and for the first registry answer")
      ->capture_default_str()
      ->check(CLI::Range(1u, 3'600'000u));
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGPIPE, SIG_IGN);  // a runner that hangs up is a failed task, not a dead relay
  try {
    return run(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "relay: %s\n", e.what());
    return 1;
  }
}
