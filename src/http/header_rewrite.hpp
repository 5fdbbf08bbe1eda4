// Builds the heads the proxy sends: the request head for the upstream and the response head for
// the client, from the parsed original. Drops hop-by-hop fields (RFC 9110 7.6.1), including those
// named in Connection, and sets the X-Forwarded-* fields. Writes into a caller-owned string whose
// capacity is kept across requests, so steady state allocates nothing.
#pragma once

#include <string>
#include <string_view>

#include "http/message_parser.hpp"
#include "http/text.hpp"

namespace sb::http {

struct RequestRewrite {
  std::string_view client_ip;
  std::string_view target;  // request-target to send; empty keeps the original
  bool upgrade = false;  // a WebSocket handshake: send "Upgrade: websocket", "Connection: upgrade"
  std::string_view default_host;  // Host to send when the request has none (HTTP/1.0)
  std::string_view host;  // Host to send in place of the request's (an absolute-form authority)
  // X-Real-IP and X-Forwarded-Proto; empty: client_ip and "http" (proxy/forwarded_client.hpp).
  std::string_view real_ip;
  std::string_view proto;
};

struct ResponseRewrite {
  bool close = false;          // the proxy closes the client connection after this response
  bool keep_alive_10 = false;  // HTTP/1.0 client that asked for keep-alive
  bool upgrade = false;        // 101 to a WebSocket handshake
  bool dechunk = false;        // the body goes out decoded (to an HTTP/1.0 client): no TE field
};

void build_upstream_request(const MessageParser& request, const RequestRewrite& rewrite,
                            std::string& out);
void build_client_response(const MessageParser& response, const ResponseRewrite& rewrite,
                           std::string& out);

}  // namespace sb::http
