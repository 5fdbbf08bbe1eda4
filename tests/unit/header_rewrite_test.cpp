// Unit tests for the heads the proxy writes and the small routing pieces around them:
// src/http/header_rewrite (upstream request and client response heads),
// src/http/error_response and src/proxy/snapshot (Snapshot::match, strip_prefix).
#include "http/header_rewrite.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "http/error_response.hpp"
#include "http/http_date.hpp"
#include "http/message_parser.hpp"
#include "proxy/snapshot_builder.hpp"

namespace sb {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// A parsed message that owns its text (the parser's spans point into it).
class Parsed {
 public:
  Parsed(http::MessageKind kind, std::string text, bool no_body = false)
      : text_(std::move(text)), parser_(kind) {
    parser_.begin(text_.data(), {}, no_body);
    status_ = parser_.feed(text_.data(), text_.size());
  }
  const http::MessageParser& parser() const { return parser_; }
  http::ParseStatus status() const { return status_; }

 private:
  std::string text_;
  http::MessageParser parser_;
  http::ParseStatus status_;
};

struct Head {
  std::string start_line;
  std::vector<std::pair<std::string, std::string>> fields;

  // Values of the fields named `name` (case-insensitive), in order.
  std::vector<std::string> values(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : fields) {
      if (http::iequals(n, name)) out.push_back(v);
    }
    return out;
  }
  bool has(std::string_view name) const { return !values(name).empty(); }
};

// Splits a written head into its start line and fields; fails the test if it is not a well-formed
// head ending with an empty line.
Head split_head(const std::string& head) {
  Head out;
  EXPECT_THAT(head, ::testing::EndsWith("\r\n\r\n"));
  size_t at = 0;
  bool first = true;
  while (at < head.size()) {
    const size_t eol = head.find("\r\n", at);
    if (eol == std::string::npos) {
      ADD_FAILURE() << "unterminated line in " << head;
      break;
    }
    const std::string line = head.substr(at, eol - at);
    at = eol + 2;
    if (first) {
      out.start_line = line;
      first = false;
      continue;
    }
    if (line.empty()) {
      EXPECT_EQ(at, head.size()) << "bytes after the empty line in " << head;
      break;
    }
    const size_t colon = line.find(": ");
    if (colon == std::string::npos) {
      ADD_FAILURE() << "malformed field line '" << line << "'";
      continue;
    }
    out.fields.emplace_back(line.substr(0, colon), line.substr(colon + 2));
  }
  return out;
}

// The head the proxy writes for the upstream, as bytes and split into fields.
std::string upstream_bytes(const std::string& request, const http::RequestRewrite& rewrite) {
  Parsed parsed(http::MessageKind::kRequest, request);
  EXPECT_EQ(parsed.status(), http::ParseStatus::kMessageComplete) << request;
  std::string out;
  http::build_upstream_request(parsed.parser(), rewrite, out);
  return out;
}

Head upstream_head(const std::string& request, const http::RequestRewrite& rewrite) {
  return split_head(upstream_bytes(request, rewrite));
}

// The head the proxy writes for the client, as bytes and split into fields.
std::string client_bytes(const std::string& response, const http::ResponseRewrite& rewrite,
                         bool no_body = false) {
  Parsed parsed(http::MessageKind::kResponse, response, no_body);
  EXPECT_NE(parsed.status(), http::ParseStatus::kError) << response;
  EXPECT_NE(parsed.status(), http::ParseStatus::kNeedMore) << response;
  std::string out;
  http::build_client_response(parsed.parser(), rewrite, out);
  return out;
}

Head client_head(const std::string& response, const http::ResponseRewrite& rewrite,
                 bool no_body = false) {
  return split_head(client_bytes(response, rewrite, no_body));
}

const http::RequestRewrite kFromClient{"10.0.0.7", {}, false, "backends", {}, {}, {}};

// --- upstream request ---

TEST(BuildUpstreamRequest, KeepsEndToEndFieldsInOrder) {
  const Head h = upstream_head(
      "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Custom: 1\r\n\r\n",
      kFromClient);
  EXPECT_EQ(h.start_line, "GET /a/b?c=d HTTP/1.1");
  ASSERT_GE(h.fields.size(), 3u);
  EXPECT_EQ(h.fields[0], std::make_pair(std::string("Host"), std::string("example.com")));
  EXPECT_EQ(h.fields[1], std::make_pair(std::string("Accept"), std::string("*/*")));
  EXPECT_EQ(h.fields[2], std::make_pair(std::string("X-Custom"), std::string("1")));
  EXPECT_THAT(h.values("x-forwarded-for"), ElementsAre("10.0.0.7"));
  EXPECT_THAT(h.values("x-real-ip"), ElementsAre("10.0.0.7"));
  EXPECT_THAT(h.values("x-forwarded-proto"), ElementsAre("http"));
}

TEST(BuildUpstreamRequest, Http10RequestIsSentAsHttp11) {
  const Head h = upstream_head("GET / HTTP/1.0\r\n\r\n", kFromClient);
  EXPECT_EQ(h.start_line, "GET / HTTP/1.1");
  // HTTP/1.1 needs a Host: a 1.0 request without one gets the service's name, as nginx does.
  EXPECT_THAT(h.values("host"), ElementsAre("backends"));
}

TEST(BuildUpstreamRequest, KeepsTheClientsHostOverTheDefault) {
  const Head h = upstream_head("GET / HTTP/1.0\r\nHost: mine\r\n\r\n", kFromClient);
  EXPECT_THAT(h.values("host"), ElementsAre("mine"));
}

TEST(BuildUpstreamRequest, AbsoluteFormWithoutPathGetsSlash) {
  const Head h = upstream_head("GET http://h?q=1 HTTP/1.1\r\nHost: h\r\n\r\n", kFromClient);
  EXPECT_EQ(h.start_line, "GET /?q=1 HTTP/1.1");
}

TEST(BuildUpstreamRequest, DropsHopByHopFields) {
  const Head h = upstream_head(
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-Sum\r\nUpgrade: h2c\r\n"
      "X-Kept: yes\r\n\r\n",
      kFromClient);
  for (const char* name :
       {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"}) {
    EXPECT_FALSE(h.has(name)) << name;
  }
  EXPECT_THAT(h.values("host"), ElementsAre("h"));
  EXPECT_THAT(h.values("x-kept"), ElementsAre("yes"));
}

TEST(BuildUpstreamRequest, DropsFieldsNamedInConnection) {
  const Head h = upstream_head(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Secret: s\r\nConnection: close, X-Secret\r\n"
      "x-other-secret: t\r\nConnection: X-OTHER-SECRET\r\nX-Public: p\r\n\r\n",
      kFromClient);
  EXPECT_FALSE(h.has("x-secret"));
  EXPECT_FALSE(h.has("x-other-secret"));
  EXPECT_FALSE(h.has("connection"));
  EXPECT_THAT(h.values("x-public"), ElementsAre("p"));
  EXPECT_THAT(h.values("host"), ElementsAre("h"));
}

// "Connection: X-N0, X-N1, ..." and the fields X-N0: n ... (`named` of them, listed over two
// Connection fields), with an end-to-end field after each.
std::string head_naming(const std::string& start_line, int named) {
  std::string list[2];
  std::string fields;
  for (int i = 0; i < named; ++i) {
    const std::string name = "X-N" + std::to_string(i);
    list[i % 2] += (list[i % 2].empty() ? "" : ", ") + name;
    fields += name + ": n\r\nX-E" + std::to_string(i) + ": e\r\n";
  }
  return start_line + "\r\nConnection: " + list[0] + "\r\n" + fields + "Connection: " + list[1] +
         "\r\n";
}

// Every named field is dropped however many there are, not only those that fit a fixed table.
TEST(BuildUpstreamRequest, DropsEveryFieldNamedInConnectionHoweverMany) {
  for (const int named : {2, 16, 17, 40}) {
    const Head h =
        upstream_head(head_naming("GET / HTTP/1.1", named) + "Host: h\r\n\r\n", kFromClient);
    for (int i = 0; i < named; ++i) {
      EXPECT_FALSE(h.has("x-n" + std::to_string(i))) << i << " of " << named;
      EXPECT_THAT(h.values("x-e" + std::to_string(i)), ElementsAre("e")) << i << " of " << named;
    }
    EXPECT_FALSE(h.has("connection"));
  }
}

TEST(BuildClientResponse, DropsEveryFieldNamedInConnectionHoweverMany) {
  for (const int named : {2, 16, 17, 40}) {
    const Head h =
        client_head(head_naming("HTTP/1.1 200 OK", named) + "Content-Length: 0\r\n\r\n", {});
    for (int i = 0; i < named; ++i) {
      EXPECT_FALSE(h.has("x-n" + std::to_string(i))) << i << " of " << named;
      EXPECT_THAT(h.values("x-e" + std::to_string(i)), ElementsAre("e")) << i << " of " << named;
    }
  }
}

// Past the table, framing and Host named in Connection still stay.
TEST(BuildUpstreamRequest, KeepsFramingAndHostNamedInALongConnectionList) {
  const std::string request = head_naming("POST / HTTP/1.1", 20) +
                              "Connection: Content-Length, Host\r\nHost: h\r\n"
                              "Content-Length: 3\r\n\r\nabc";
  Parsed parsed(http::MessageKind::kRequest, request);
  ASSERT_EQ(parsed.status(), http::ParseStatus::kHeadComplete);
  std::string out;
  http::build_upstream_request(parsed.parser(), kFromClient, out);
  const Head h = split_head(out);
  EXPECT_THAT(h.values("content-length"), ElementsAre("3"));
  EXPECT_THAT(h.values("host"), ElementsAre("h"));
  EXPECT_FALSE(h.has("x-n19"));
}

// "Connection: Content-Length" must not strip the framing the proxy forwards the body with: the
// upstream would take the body for the next request (request smuggling).
TEST(BuildUpstreamRequest, KeepsFramingAndHostNamedInConnection) {
  Parsed with_length(http::MessageKind::kRequest,
                     "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                     "Connection: Content-Length, Host, X-Drop\r\nX-Drop: 1\r\n\r\nabc");
  ASSERT_EQ(with_length.status(), http::ParseStatus::kHeadComplete);
  std::string out;
  http::build_upstream_request(with_length.parser(), kFromClient, out);
  Head h = split_head(out);
  EXPECT_THAT(h.values("content-length"), ElementsAre("3"));
  EXPECT_THAT(h.values("host"), ElementsAre("h"));
  EXPECT_FALSE(h.has("x-drop"));

  Parsed chunked(http::MessageKind::kRequest,
                 "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                 "Connection: keep-alive, transfer-encoding\r\n\r\n0\r\n\r\n");
  ASSERT_EQ(chunked.status(), http::ParseStatus::kHeadComplete);
  http::build_upstream_request(chunked.parser(), kFromClient, out);
  h = split_head(out);
  EXPECT_THAT(h.values("transfer-encoding"), ElementsAre("chunked"));
}

TEST(BuildClientResponse, KeepsFramingNamedInConnection) {
  Parsed parsed(http::MessageKind::kResponse,
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: Content-Length\r\n\r\nok");
  ASSERT_EQ(parsed.status(), http::ParseStatus::kHeadComplete);
  std::string out;
  http::build_client_response(parsed.parser(), {}, out);
  EXPECT_THAT(split_head(out).values("content-length"), ElementsAre("2"));
}

TEST(BuildUpstreamRequest, AppendsClientToExistingForwardedFor) {
  const Head h = upstream_head(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2\r\n\r\n", kFromClient);
  EXPECT_THAT(h.values("x-forwarded-for"), ElementsAre("1.1.1.1, 2.2.2.2, 10.0.0.7"));
}

TEST(BuildUpstreamRequest, JoinsTwoForwardedForFields) {
  const Head h = upstream_head(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n",
      kFromClient);
  EXPECT_THAT(h.values("x-forwarded-for"), ElementsAre("1.1.1.1, 2.2.2.2, 10.0.0.7"));
}

// Regression: the client address was once joined onto whatever field line was written last.
TEST(BuildUpstreamRequest, AppendsClientToForwardedForFollowedByOtherFields) {
  const Head h = upstream_head(
      "POST / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nHost: h\r\nAccept: */*\r\n"
      "X-Forwarded-For: 2.2.2.2\r\nContent-Length: 0\r\n\r\n",
      kFromClient);
  EXPECT_THAT(h.values("x-forwarded-for"), ElementsAre("1.1.1.1, 2.2.2.2, 10.0.0.7"));
  EXPECT_THAT(h.values("accept"), ElementsAre("*/*"));
  EXPECT_THAT(h.values("host"), ElementsAre("h"));
  EXPECT_THAT(h.values("content-length"), ElementsAre("0"));
}

TEST(BuildUpstreamRequest, ReplacesRealIpAndForwardedProto) {
  const Head h = upstream_head(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n"
      "x-real-ip: 7.7.7.7\r\n\r\n",
      kFromClient);
  EXPECT_THAT(h.values("x-real-ip"), ElementsAre("10.0.0.7"));
  EXPECT_THAT(h.values("x-forwarded-proto"), ElementsAre("http"));
}

TEST(BuildUpstreamRequest, RemovesExpect) {
  const Head h = upstream_head(
      "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
      kFromClient);
  EXPECT_FALSE(h.has("expect"));
  EXPECT_THAT(h.values("content-length"), ElementsAre("0"));
}

TEST(BuildUpstreamRequest, KeepsTransferEncoding) {
  Parsed parsed(http::MessageKind::kRequest,
                "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  ASSERT_EQ(parsed.status(), http::ParseStatus::kHeadComplete);
  std::string out;
  http::build_upstream_request(parsed.parser(), kFromClient, out);
  const Head h = split_head(out);
  EXPECT_THAT(h.values("transfer-encoding"), ElementsAre("chunked"));
}

// The body goes upstream framed as it came, so the fields that frame it are written the one way
// every next hop reads them as the proxy did (http-garden's transducer bugs 9 and 18, server bug
// 32): "chunked" alone, and a length without leading zeros.
TEST(BuildUpstreamRequest, WritesFramingFieldsInTheirCanonicalSpelling) {
  for (const std::string_view coding : {",chunked", " , ,chunked", "ChUnKeD", "chunked "}) {
    Parsed parsed(http::MessageKind::kRequest,
                  "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + std::string(coding) +
                      "\r\nX-After: 1\r\n\r\n");
    ASSERT_EQ(parsed.status(), http::ParseStatus::kHeadComplete) << coding;
    std::string out;
    http::build_upstream_request(parsed.parser(), kFromClient, out);
    const Head h = split_head(out);
    EXPECT_THAT(h.values("transfer-encoding"), ElementsAre("chunked")) << coding;
    EXPECT_THAT(out, HasSubstr("Host: h\r\nTransfer-Encoding: chunked\r\nX-After: 1\r\n"));
  }
  for (const auto& [length, canonical] :
       {std::pair{"010", "10"}, std::pair{"00", "0"}, std::pair{"0", "0"}, std::pair{"7", "7"}}) {
    Parsed parsed(http::MessageKind::kRequest, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " +
                                                   std::string(length) + "\r\n\r\n");
    ASSERT_NE(parsed.status(), http::ParseStatus::kError) << length;
    std::string out;
    http::build_upstream_request(parsed.parser(), kFromClient, out);
    EXPECT_THAT(split_head(out).values("content-length"), ElementsAre(canonical)) << length;
  }
}

TEST(BuildUpstreamRequest, KeepsAnExtensionMethod) {
  const std::string out =
      upstream_bytes("QUERY /s HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", kFromClient);
  EXPECT_THAT(out, StartsWith("QUERY /s HTTP/1.1\r\n"));
}

TEST(BuildUpstreamRequest, TargetOverride) {
  const Head h = upstream_head("GET /api/users?id=3 HTTP/1.1\r\nHost: h\r\n\r\n",
                               {"10.0.0.7", "/users?id=3", false, "backends", {}, {}, {}});
  EXPECT_EQ(h.start_line, "GET /users?id=3 HTTP/1.1");
}

TEST(BuildUpstreamRequest, AbsoluteFormBecomesOriginForm) {
  EXPECT_EQ(upstream_head("GET http://example.com/a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\n",
                          kFromClient)
                .start_line,
            "GET /a?b=c HTTP/1.1");
  EXPECT_EQ(upstream_head("DELETE HTTPS://Example.com:8443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
                          kFromClient)
                .start_line,
            "DELETE / HTTP/1.1");
}

TEST(BuildUpstreamRequest, UnderscoreSpellingsOfTheProxysFieldsAreDropped) {
  const Head h = upstream_head(
      "GET / HTTP/1.1\r\nHost: h\r\nX_Real_IP: 6.6.6.6\r\nx-forwarded_for: 6.6.6.6\r\n"
      "X_FORWARDED_PROTO: https\r\nX_Tenant: t1\r\nX-Real-IPv6: 1\r\n\r\n",
      kFromClient);
  EXPECT_THAT(h.values("x_tenant"), ElementsAre("t1"));
  EXPECT_THAT(h.values("x-real-ipv6"), ElementsAre("1"));
  EXPECT_FALSE(h.has("x_real_ip"));
  EXPECT_FALSE(h.has("x-forwarded_for"));
  EXPECT_FALSE(h.has("x_forwarded_proto"));
  EXPECT_THAT(h.values("x-forwarded-for"), ElementsAre("10.0.0.7"));
}

TEST(BuildUpstreamRequest, HostOverrideReplacesTheClientsHost) {
  // An absolute-form target's authority is the request's host (RFC 9112 3.2.2).
  const Head h = upstream_head(
      "GET http://a.example:8080/x HTTP/1.1\r\nAccept: */*\r\nHost: b.example\r\n\r\n",
      {"10.0.0.7", {}, false, "backends", "a.example:8080", {}, {}});
  EXPECT_EQ(h.start_line, "GET /x HTTP/1.1");
  EXPECT_THAT(h.values("host"), ElementsAre("a.example:8080"));
  EXPECT_THAT(h.values("accept"), ElementsAre("*/*"));
}

TEST(BuildUpstreamRequest, WebSocketUpgradeOffersWebSocketAlone) {
  const Head h = upstream_head(
      "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nUpgrade: h2c\r\n"
      "Connection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
      {"10.0.0.7", {}, true, "backends", {}, {}, {}});
  EXPECT_THAT(h.values("upgrade"), ElementsAre("websocket"));
  EXPECT_THAT(h.values("connection"), ElementsAre("upgrade"));
  EXPECT_FALSE(h.has("http2-settings"));
}

TEST(BuildUpstreamRequest, WebSocketUpgradeKeepsUpgrade) {
  const Head h = upstream_head(
      "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
      "Sec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n",
      {"10.0.0.7", {}, true, "backends", {}, {}, {}});
  EXPECT_THAT(h.values("connection"), ElementsAre("upgrade"));
  EXPECT_THAT(h.values("upgrade"), ElementsAre("websocket"));
  EXPECT_THAT(h.values("sec-websocket-key"), ElementsAre("k"));
  EXPECT_THAT(h.values("sec-websocket-version"), ElementsAre("13"));
}

TEST(BuildUpstreamRequest, UpgradeNotRequestedByProxyIsDropped) {
  const Head h = upstream_head(
      "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      kFromClient);
  EXPECT_FALSE(h.has("upgrade"));
  EXPECT_FALSE(h.has("connection"));
}

TEST(BuildUpstreamRequest, ReusesTheOutputString) {
  Parsed parsed(http::MessageKind::kRequest, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string out = "stale bytes from the previous request";
  http::build_upstream_request(parsed.parser(), kFromClient, out);
  EXPECT_THAT(out, StartsWith("GET / HTTP/1.1\r\n"));
}

// --- client response ---

TEST(BuildClientResponse, RebuildsStatusLineAsHttp11) {
  const Head h = client_head("HTTP/1.0 404 Not Here\r\nContent-Length: 0\r\n\r\n", {});
  EXPECT_EQ(h.start_line, "HTTP/1.1 404 Not Here");
  EXPECT_THAT(h.values("content-length"), ElementsAre("0"));
  EXPECT_FALSE(h.has("connection"));
}

TEST(BuildClientResponse, DropsHopByHopFields) {
  const Head h = client_head(
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Backend-Only\r\nKeep-Alive: timeout=5\r\n"
      "X-Backend-Only: 1\r\nTrailer: X-Sum\r\nUpgrade: h2\r\nProxy-Connection: x\r\n"
      "Content-Length: 0\r\nServer: s\r\n\r\n",
      {});
  for (const char* name :
       {"connection", "keep-alive", "x-backend-only", "trailer", "upgrade", "proxy-connection"}) {
    EXPECT_FALSE(h.has(name)) << name;
  }
  EXPECT_THAT(h.values("server"), ElementsAre("s"));
  EXPECT_THAT(h.values("content-length"), ElementsAre("0"));
}

// Fields received as "Name: value" are copied in runs; the others are written normalised. Either
// way the bytes are "Name: value\r\n", in the received order, around the dropped fields.
TEST(BuildClientResponse, WritesKeptFieldsExactlyAroundDroppedAndPaddedOnes) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nServer: s\r\nDate: d\r\nConnection: keep-alive\r\nA:  padded \t\r\n"
      "B: 1\r\nKeep-Alive: timeout=5\r\nE: e e\r\nC:\r\nD:x\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(client_bytes(response, {}),
            "HTTP/1.1 200 OK\r\nServer: s\r\nDate: d\r\nA: padded\r\nB: 1\r\nE: e e\r\nC: \r\n"
            "D: x\r\nContent-Length: 0\r\n\r\n");
}

TEST(BuildUpstreamRequest, WritesKeptFieldsExactlyAroundDroppedOnes) {
  const std::string request =
      "GET / HTTP/1.1\r\nHost: h\r\nTE: trailers\r\nAccept: */*\r\nX-Real-IP: 1.2.3.4\r\n"
      "X-A:  a\r\n\r\n";
  EXPECT_EQ(upstream_bytes(request, kFromClient),
            "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-A: a\r\nX-Forwarded-For: 10.0.0.7\r\n"
            "X-Real-IP: 10.0.0.7\r\nX-Forwarded-Proto: http\r\n\r\n");
}

TEST(BuildClientResponse, CloseAddsConnectionClose) {
  const Head h =
      client_head("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                  {true, false, false});
  EXPECT_THAT(h.values("connection"), ElementsAre("close"));
}

TEST(BuildClientResponse, KeepAliveForHttp10Client) {
  const Head h = client_head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {false, true, false});
  EXPECT_THAT(h.values("connection"), ElementsAre("keep-alive"));
  // Closing wins over keep-alive.
  const Head closing =
      client_head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {true, true, false});
  EXPECT_THAT(closing.values("connection"), ElementsAre("close"));
}

TEST(BuildClientResponse, SwitchingProtocolsKeepsUpgrade) {
  const Head h = client_head(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: a\r\n\r\n",
      {false, false, true});
  EXPECT_EQ(h.start_line, "HTTP/1.1 101 Switching Protocols");
  EXPECT_THAT(h.values("upgrade"), ElementsAre("websocket"));
  EXPECT_THAT(h.values("connection"), ElementsAre("upgrade"));
  EXPECT_THAT(h.values("sec-websocket-accept"), ElementsAre("a"));
}

TEST(BuildClientResponse, KeepsTransferEncodingAndEmptyReason) {
  Parsed parsed(http::MessageKind::kResponse,
                "HTTP/1.1 200 \r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  ASSERT_EQ(parsed.status(), http::ParseStatus::kHeadComplete);
  std::string out;
  http::build_client_response(parsed.parser(), {}, out);
  const Head h = split_head(out);
  EXPECT_THAT(h.start_line, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(h.values("transfer-encoding"), ElementsAre("chunked"));
}

// A client reads the framing as the proxy did: empty list elements and OWS dropped, "chunked" in
// lower case, a coding before it kept; a length without leading zeros (a HEAD's and a 304's too).
TEST(BuildClientResponse, WritesFramingFieldsInTheirCanonicalSpelling) {
  for (const auto& [coding, canonical] :
       {std::pair{",ChUnKeD", "chunked"}, std::pair{" gzip ,, chunked", "gzip, chunked"},
        std::pair{"chunked", "chunked"}}) {
    Parsed parsed(http::MessageKind::kResponse,
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + std::string(coding) + "\r\n\r\n");
    ASSERT_EQ(parsed.status(), http::ParseStatus::kHeadComplete) << coding;
    std::string out;
    http::build_client_response(parsed.parser(), {}, out);
    EXPECT_THAT(split_head(out).values("transfer-encoding"), ElementsAre(canonical)) << coding;
  }
  EXPECT_THAT(
      client_head("HTTP/1.1 200 OK\r\nContent-Length: 002\r\n\r\nok", {}).values("content-length"),
      ElementsAre("2"));
  EXPECT_THAT(client_head("HTTP/1.1 200 OK\r\nContent-Length: 0050\r\n\r\n", {}, true)
                  .values("content-length"),
              ElementsAre("50"));
  EXPECT_THAT(client_head("HTTP/1.1 304 Not Modified\r\nContent-Length: 09\r\n\r\n", {}, true)
                  .values("content-length"),
              ElementsAre("9"));
}

// RFC 9112 4: a reason phrase is HTAB, SP, VCHAR and obs-text. One with another byte goes out
// empty (RFC 9112 lets an intermediary overwrite it): no control byte reaches the client.
TEST(BuildClientResponse, EmptiesAReasonPhraseWithAControlByte) {
  for (const std::string& reason : {std::string("O\x01K"), std::string("O\x1b[31mK"),
                                    std::string("O\x7fK"), std::string("O\0K", 3)}) {
    EXPECT_THAT(client_bytes("HTTP/1.1 200 " + reason + "\r\nContent-Length: 0\r\n\r\n", {}),
                StartsWith("HTTP/1.1 200 \r\nContent-Length: 0\r\n"))
        << reason;
  }
  for (const std::string reason : {"OK", "Not\tFound", "Tr\xe8s bien", "A-B_C (d) !"}) {
    EXPECT_THAT(client_bytes("HTTP/1.1 200 " + reason + "\r\nContent-Length: 0\r\n\r\n", {}),
                StartsWith("HTTP/1.1 200 " + reason + "\r\n"))
        << reason;
  }
}

// RFC 9110 8.6 / RFC 9112 6.1: no Content-Length or Transfer-Encoding on a 1xx or a 204. A 304
// and the answer to a HEAD keep theirs: they describe the representation a GET would get.
TEST(BuildClientResponse, DropsLengthFieldsOfResponsesThatCannotHaveABody) {
  for (const std::string status : {"100 Continue", "103 Early Hints", "204 No Content"}) {
    for (const std::string length : {"Content-Length: 2", "Transfer-Encoding: chunked"}) {
      const Head h =
          client_head("HTTP/1.1 " + status + "\r\n" + length + "\r\nLink: </a>\r\n\r\n", {});
      EXPECT_EQ(h.start_line, "HTTP/1.1 " + status);
      EXPECT_THAT(h.values("content-length"), IsEmpty()) << status;
      EXPECT_THAT(h.values("transfer-encoding"), IsEmpty()) << status;
      EXPECT_THAT(h.values("link"), ElementsAre("</a>")) << status;
    }
  }
  const Head switching = client_head(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Content-Length: 0\r\n\r\n",
      {false, false, true});
  EXPECT_THAT(switching.values("content-length"), IsEmpty());
  EXPECT_THAT(client_head("HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", {})
                  .values("content-length"),
              ElementsAre("7"));
  EXPECT_THAT(client_head("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", {}, true)
                  .values("content-length"),
              ElementsAre("7"));
}

TEST(Iequals, IgnoresAsciiCase) {
  EXPECT_TRUE(http::iequals("Content-Length", "content-length"));
  EXPECT_FALSE(http::iequals("Content-Length", "content-lengt"));
  EXPECT_FALSE(http::iequals("a", "b"));
  EXPECT_TRUE(http::iequals("", ""));
}

// --- error_response ---

// Splits a response into head and body at the first empty line.
std::pair<std::string, std::string> split_response(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos);
  return {response.substr(0, end + 4), response.substr(end + 4)};
}

TEST(ErrorResponse, StatusLineLengthAndBody) {
  std::string out;
  http::build_error_response(502, "upstream refused the connection", false, false, out);
  const auto [head_text, body] = split_response(out);
  const Head h = split_head(head_text);
  EXPECT_EQ(h.start_line, "HTTP/1.1 502 Bad Gateway");
  EXPECT_THAT(h.values("content-length"), ElementsAre(std::to_string(body.size())));
  EXPECT_EQ(body, "502 Bad Gateway: upstream refused the connection\n");
  EXPECT_THAT(h.values("content-type"), ElementsAre("text/plain"));
  EXPECT_FALSE(h.has("connection"));
}

TEST(ErrorResponse, ContentLengthMatchesBodyForEveryStatus) {
  for (int status : {400, 404, 405, 408, 413, 414, 431, 500, 501, 502, 503, 504, 505, 599}) {
    for (const std::string_view detail : {std::string_view(), std::string_view("why, exactly")}) {
      std::string out;
      http::build_error_response(status, detail, true, false, out);
      const auto [head_text, body] = split_response(out);
      const Head h = split_head(head_text);
      EXPECT_EQ(h.start_line, "HTTP/1.1 " + std::to_string(status) + " " +
                                  std::string(http::reason_phrase(status)))
          << status;
      EXPECT_THAT(h.values("content-length"), ElementsAre(std::to_string(body.size())))
          << status << " " << detail;
      EXPECT_THAT(body, StartsWith(std::to_string(status) + " ")) << status;
    }
  }
}

TEST(ErrorResponse, HeadRequestGetsNoBody) {
  std::string out;
  http::build_error_response(404, "no route", false, true, out);
  const auto [head_text, body] = split_response(out);
  EXPECT_EQ(body, "");
  const Head h = split_head(head_text);
  EXPECT_EQ(h.start_line, "HTTP/1.1 404 Not Found");
  // The length of the body a GET would have had.
  EXPECT_THAT(h.values("content-length"),
              ElementsAre(std::to_string(std::string_view("404 Not Found: no route\n").size())));
}

TEST(ErrorResponse, CloseAddsConnectionClose) {
  std::string out;
  http::build_error_response(400, "bad", true, false, out);
  const Head h = split_head(split_response(out).first);
  EXPECT_THAT(h.values("connection"), ElementsAre("close"));
}

TEST(ErrorResponse, ParsesAsAResponse) {
  std::string out;
  http::build_error_response(503, "no instance available for service 'web'", true, false, out);
  Parsed parsed(http::MessageKind::kResponse, out);
  ASSERT_EQ(parsed.status(), http::ParseStatus::kHeadComplete);
  EXPECT_EQ(parsed.parser().status_code(), 503);
  EXPECT_EQ(parsed.parser().reason(), "Service Unavailable");
  EXPECT_EQ(parsed.parser().head_length() + parsed.parser().content_length(), out.size());
}

// A Date value as RFC 9110 5.6.7 spells it (the second it names is the test's own business).
testing::Matcher<std::string> ImfFixdate() {
  return testing::MatchesRegex(
      "(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
      "[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT");
}

TEST(HttpDate, ImfFixdate) {
  char text[30];
  http::format_http_date(784111777, text);  // RFC 9110 5.6.7's example
  EXPECT_STREQ(text, "Sun, 06 Nov 1994 08:49:37 GMT");
  http::format_http_date(0, text);
  EXPECT_STREQ(text, "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_THAT(std::string(http::http_date_now()), ImfFixdate());
}

TEST(ErrorResponse, CarriesADate) {
  std::string out;
  http::build_error_response(502, "why", false, false, out);
  EXPECT_THAT(split_head(split_response(out).first).values("date"), ElementsAre(ImfFixdate()));
}

TEST(BuildClientResponse, DatesAFinalResponseThatCameWithoutOne) {
  EXPECT_THAT(client_head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {}).values("date"),
              ElementsAre(ImfFixdate()));
  // One that has a Date keeps its own, once.
  EXPECT_THAT(client_head("HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                          "Content-Length: 0\r\n\r\n",
                          {})
                  .values("date"),
              ElementsAre("Sun, 06 Nov 1994 08:49:37 GMT"));
  // An interim response is not dated.
  EXPECT_FALSE(client_head("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", {}).has("date"));
}

TEST(ReasonPhrase, KnownAndUnknown) {
  EXPECT_EQ(http::reason_phrase(200), "OK");
  EXPECT_EQ(http::reason_phrase(413), "Content Too Large");
  EXPECT_EQ(http::reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(http::reason_phrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(http::reason_phrase(799), "Unknown");
}

// --- Snapshot::match, strip_prefix ---

class SnapshotMatch : public testing::Test {
 protected:
  void SetUp() override {
    config::Config config;
    for (const char* name : {"any-root", "any-api", "any-api-v2", "host-root", "host-api", "v6"}) {
      config.services.push_back({name, "round_robin", {{"127.0.0.1", 9101, 1}}});
    }
    // Deliberately unsorted: build_snapshot orders host routes first, then longest prefix.
    config.routes = {
        {"", "/", "any-root", false},
        {"", "/api", "any-api", false},
        {"", "/api/v2", "any-api-v2", true},
        {"Example.COM", "/", "host-root", false},
        {"example.com", "/api", "host-api", false},
        {"[::1]", "/", "v6", false},
    };
    snapshot_ = proxy::build_snapshot(config, 1);
  }
  // The service name the request is routed to, or "<none>".
  std::string route(std::string_view host, std::string_view path) const {
    const proxy::Route* r = snapshot_->match(host, path);
    return r == nullptr ? "<none>" : snapshot_->services[r->service]->name;
  }
  std::shared_ptr<const proxy::Snapshot> snapshot_;
};

TEST_F(SnapshotMatch, AnyHostLongestPrefix) {
  EXPECT_EQ(route("other.org", "/"), "any-root");
  EXPECT_EQ(route("other.org", "/index.html"), "any-root");
  EXPECT_EQ(route("other.org", "/api"), "any-api");
  EXPECT_EQ(route("other.org", "/api/users"), "any-api");
  EXPECT_EQ(route("other.org", "/api/v2/users"), "any-api-v2");
  EXPECT_EQ(route("", "/api/v2"), "any-api-v2");
}

TEST_F(SnapshotMatch, HostRoutesWinOverAnyHost) {
  EXPECT_EQ(route("example.com", "/"), "host-root");
  EXPECT_EQ(route("example.com", "/api/x"), "host-api");
  // The host route wins even where an any-host route has a longer prefix.
  EXPECT_EQ(route("example.com", "/api/v2/x"), "host-api");
  EXPECT_EQ(route("EXAMPLE.com", "/api"), "host-api");
}

TEST_F(SnapshotMatch, HostWithPortIgnoresPort) {
  EXPECT_EQ(route("example.com:8080", "/api"), "host-api");
  EXPECT_EQ(route("example.com:", "/"), "host-root");
  EXPECT_EQ(route("other.org:80", "/api"), "any-api");
}

TEST_F(SnapshotMatch, FullyQualifiedHostMatchesWithoutItsDot) {
  EXPECT_EQ(route("example.com.", "/api"), "host-api");
  EXPECT_EQ(route("Example.Com.:8080", "/"), "host-root");
  EXPECT_EQ(route("example.com..", "/"), "any-root");  // only one final dot is the root
}

TEST_F(SnapshotMatch, Ipv6Host) {
  EXPECT_EQ(route("[::1]", "/x"), "v6");
  EXPECT_EQ(route("[::1]:8090", "/x"), "v6");
  EXPECT_EQ(route("[::2]:8090", "/x"), "any-root");
}

TEST(SnapshotMatchEmpty, NoRouteIsNull) {
  config::Config config;
  config.services.push_back({"web", "round_robin", {{"127.0.0.1", 9101, 1}}});
  config.routes = {{"", "/only", "web", false}};
  const auto snapshot = proxy::build_snapshot(config, 1);
  EXPECT_EQ(snapshot->match("h", "/"), nullptr);
  EXPECT_EQ(snapshot->match("h", "/other"), nullptr);
  EXPECT_NE(snapshot->match("h", "/only/x"), nullptr);
}

TEST(StripPrefix, RemovesRoutePrefix) {
  EXPECT_EQ(proxy::strip_prefix("/api/x", "/api"), "/x");
  EXPECT_EQ(proxy::strip_prefix("/api/x?q=1", "/api"), "/x?q=1");
  EXPECT_EQ(proxy::strip_prefix("/api/x", "/api/"), "/x");
  EXPECT_EQ(proxy::strip_prefix("/api", "/api"), "");  // the session sends "/"
  EXPECT_EQ(proxy::strip_prefix("/api?q", "/api"), "?q");
  EXPECT_EQ(proxy::strip_prefix("/a/b", "/"), "/a/b");
  EXPECT_EQ(proxy::strip_prefix("/other", "/api"), "/other");
  EXPECT_EQ(proxy::strip_prefix("/ap", "/api"), "/ap");
}

}  // namespace
}  // namespace sb
