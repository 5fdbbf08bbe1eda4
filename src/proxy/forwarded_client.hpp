// What the upstream is told about the client in X-Real-IP and X-Forwarded-Proto. From a peer in
// trusted_proxies (a load balancer or TLS terminator in front of switchboard), what that proxy
// reported is believed, as nginx's realip module and Traefik's forwardedHeaders.trustedIPs do:
// X-Real-IP is the client ip_hash attributes the request to (client_address), and the proxy's
// X-Forwarded-Proto stands when it says http or https. From any other peer: the peer's address,
// and "http", the scheme this listener speaks. X-Forwarded-For is appended to either way.
#pragma once

#include <array>
#include <span>
#include <string_view>

#include "core/ip_address.hpp"
#include "http/message_parser.hpp"

namespace sb::proxy {

struct ForwardedClient {
  IpAddress address;         // the client: the peer, or the one a trusted proxy reported
  std::string_view real_ip;  // `address` as text: the peer's, or written in `text`
  std::string_view proto;    // "http" or "https"
};

ForwardedClient forwarded_client(const IpAddress& peer, std::string_view peer_text,
                                 const http::MessageParser& request,
                                 std::span<const Cidr> trusted_proxies,
                                 std::array<char, IpAddress::kTextSize>& text);

}  // namespace sb::proxy
