// What the hash-based balancers hash for one request: the client's address (ip_hash), with
// X-Forwarded-For believed only from trusted proxies, or the service's configured request key
// (hash). Runs on the session's worker, on the parsed head, without allocating.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "config/config.hpp"
#include "core/ip_address.hpp"
#include "http/message_parser.hpp"

namespace sb::proxy {

// Whether `address` is in one of the trusted_proxies ranges.
bool is_trusted(const IpAddress& address, std::span<const Cidr> trusted_proxies);

// The peer, unless it is a trusted proxy: then, as nginx's realip module with
// real_ip_recursive on, the right-most X-Forwarded-For address that is not itself a trusted proxy
// (the left-most if all are). An entry that is not an address ends the walk with the last trusted
// hop's address, so a client cannot inject garbage to pick its instance.
IpAddress client_address(const IpAddress& peer, const http::MessageParser& request,
                         std::span<const Cidr> trusted_proxies);

// The key's value in this request, or nullopt when the request does not carry it: the first
// header of that name, the first cookie of that name, the first query parameter of that name
// (raw, not percent-decoded), or the path without the query. Query and path are read from
// `target`, the request-target the upstream gets (normalized, a route's prefix stripped), so two
// spellings of one resource hash alike; empty reads the request's own.
std::optional<std::string_view> request_key(const config::HashKey& key,
                                            const http::MessageParser& request,
                                            std::string_view target = {});

}  // namespace sb::proxy
