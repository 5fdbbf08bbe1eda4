// The client commands' flag values (see flags.hpp).
#include "cli/flags.hpp"

#include "client/http_call.hpp"
#include "registry/model.hpp"

namespace sb::cli {
namespace {

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

bool is_token_char(char c) {
  // RFC 9110 tchar: what a header name may contain.
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         kSpecials.find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

switchboard::RouteSpec parse_route_flag(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    throw UsageError("--route: expected [host]/path-prefix such as /api or shop.example/api, got " +
                     quoted(text));
  }
  const std::string_view host = text.substr(0, slash);
  for (const char c : host) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) == 0x7f) {
      throw UsageError("--route: host " + quoted(host) + " is not a host name");
    }
  }
  return {std::string(host), std::string(text.substr(slash))};
}

std::pair<std::string, std::string> parse_meta_flag(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw UsageError("--meta: expected key=value, got " + quoted(text));
  }
  return {std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

std::pair<std::string, std::string> parse_header_flag(std::string_view text) {
  const size_t colon = text.find(':');
  const std::string_view name = colon == std::string_view::npos ? text : text.substr(0, colon);
  bool valid = colon != std::string_view::npos && !name.empty();
  for (const char c : name) valid = valid && is_token_char(c);
  if (!valid) throw UsageError("--header: expected 'Name: value', got " + quoted(text));
  const std::string_view value = trim(text.substr(colon + 1));
  for (const char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      throw UsageError("--header: the value of " + std::string(name) + " contains a line break");
    }
  }
  return {std::string(name), std::string(value)};
}

std::vector<std::string> parse_admin_flag(std::string_view text) {
  std::vector<std::string> addresses;
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    if (!switchboard::detail::parse_host_port(item)) {
      throw UsageError("--admin: expected host:port[,host:port...], got " + quoted(item));
    }
    addresses.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return addresses;
}

std::chrono::milliseconds parse_duration_flag(std::string_view flag, std::string_view text) {
  const auto duration = sb::registry::parse_ttl(text);
  if (!duration) {
    throw UsageError(std::string(flag) + ": expected a duration such as 500ms, 10s or 5m, got " +
                     quoted(text));
  }
  return *duration;
}

std::optional<std::chrono::milliseconds> parse_ttl_flag(std::string_view text) {
  if (text == "none") return std::nullopt;
  // The 1s-1h range is the registry's to enforce (its 400 names the field).
  return parse_duration_flag("--ttl", text);
}

}  // namespace sb::cli
