#include "proxy/forwarded_client.hpp"

#include "http/text.hpp"
#include "proxy/balance_key.hpp"

namespace sb::proxy {

namespace {

// The scheme a trusted proxy reported: one X-Forwarded-Proto field, saying http or https. Any
// other value, or several fields (or a list, "https, http", from a chain) that would leave the
// backends to pick one, is not believed.
std::string_view reported_proto(const http::MessageParser& request) {
  std::string_view proto = "http";
  bool seen = false;
  for (uint32_t i = 0; i < request.header_count(); ++i) {
    if (!http::iequals(request.header_name(i), "x-forwarded-proto")) continue;
    if (seen) return "http";
    seen = true;
    const std::string_view value = request.header_value(i);
    if (http::iequals(value, "https")) {
      proto = "https";
    } else if (!http::iequals(value, "http")) {
      return "http";
    }
  }
  return proto;
}

}  // namespace

ForwardedClient forwarded_client(const IpAddress& peer, std::string_view peer_text,
                                 const http::MessageParser& request,
                                 std::span<const Cidr> trusted_proxies,
                                 std::array<char, IpAddress::kTextSize>& text) {
  if (trusted_proxies.empty() || !is_trusted(peer, trusted_proxies)) {
    return {peer, peer_text, "http"};
  }
  const IpAddress client = client_address(peer, request, trusted_proxies);
  const std::string_view client_text = client == peer ? peer_text : client.to_text(text);
  return {client, client_text.empty() ? peer_text : client_text, reported_proto(request)};
}

}  // namespace sb::proxy
