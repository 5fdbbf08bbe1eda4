// Unit tests of what the hash-based balancers hash: src/core/ip_address (addresses and CIDRs)
// and src/proxy/balance_key (the client address behind trusted proxies, and the request key
// from a header, cookie, query parameter or the path); and of what the upstream is told of that
// client (src/proxy/forwarded_client: X-Real-IP and X-Forwarded-Proto).
#include "proxy/balance_key.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/ip_address.hpp"
#include "http/message_parser.hpp"
#include "proxy/forwarded_client.hpp"

namespace sb {
namespace {

using config::HashKey;
using Source = config::HashKey::Source;

// A parsed request head that owns its text (the parser's spans point into it); both live on the
// heap, so moving a Request keeps the spans valid.
class Request {
 public:
  explicit Request(std::string head)
      : text_(std::make_unique<std::string>(std::move(head))),
        parser_(std::make_unique<http::MessageParser>(http::MessageKind::kRequest)) {
    parser_->begin(text_->data(), {});
    status_ = parser_->feed(text_->data(), text_->size());
  }
  const http::MessageParser& parser() const { return *parser_; }
  http::ParseStatus status() const { return status_; }

 private:
  std::unique_ptr<std::string> text_;
  std::unique_ptr<http::MessageParser> parser_;
  http::ParseStatus status_;
};

Request get(const std::string& target, const std::string& fields = "") {
  Request r("GET " + target + " HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n");
  EXPECT_TRUE(r.parser().head_complete());
  return r;
}

IpAddress ip(const std::string& text) {
  const auto address = IpAddress::parse(text);
  EXPECT_TRUE(address) << text;
  return address.value_or(IpAddress{});
}

std::vector<Cidr> cidrs(std::initializer_list<const char*> texts) {
  std::vector<Cidr> out;
  for (const char* text : texts) {
    const auto cidr = Cidr::parse(text);
    EXPECT_TRUE(cidr) << text;
    if (cidr) out.push_back(*cidr);
  }
  return out;
}

TEST(IpAddress, ParsesTheFormsProxiesWrite) {
  EXPECT_TRUE(ip("192.0.2.1").is_v4());
  EXPECT_FALSE(ip("2001:db8::1").is_v4());
  EXPECT_EQ(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));  // one form for both
  EXPECT_EQ(ip("[2001:db8::1]"), ip("2001:db8::1"));
  EXPECT_EQ(ip("[2001:db8::1]:443"), ip("2001:db8::1"));
  EXPECT_EQ(ip("192.0.2.1:8080"), ip("192.0.2.1"));
  for (const char* bad : {"", "unknown", "192.0.2", "192.0.2.1.5", "1.2.3.4:5:6", "[::1",
                          "2001:db8::g", " 192.0.2.1"}) {
    EXPECT_FALSE(IpAddress::parse(bad)) << bad;
  }
  EXPECT_EQ(IpAddress::from(boost::asio::ip::make_address("10.1.2.3")), ip("10.1.2.3"));
  EXPECT_EQ(IpAddress::from(boost::asio::ip::make_address("::1")), ip("::1"));
}

TEST(Cidr, MatchesItsRange) {
  const auto v4 = Cidr::parse("10.0.0.0/8");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->contains(ip("10.255.1.2")));
  EXPECT_FALSE(v4->contains(ip("11.0.0.1")));
  EXPECT_FALSE(v4->contains(ip("::a00:1")));  // not the IPv4-mapped form
  const auto odd = Cidr::parse("192.168.4.0/22");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains(ip("192.168.7.255")));
  EXPECT_FALSE(odd->contains(ip("192.168.8.0")));
  const auto v6 = Cidr::parse("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->contains(ip("2001:db9::1")));
  const auto one = Cidr::parse("127.0.0.1");
  ASSERT_TRUE(one);
  EXPECT_TRUE(one->contains(ip("127.0.0.1")));
  EXPECT_FALSE(one->contains(ip("127.0.0.2")));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0")->contains(ip("203.0.113.9")));
  EXPECT_TRUE(Cidr::parse("::/0")->contains(ip("203.0.113.9")));
}

TEST(Cidr, RefusesMalformedRanges) {
  for (const char* bad : {"10.0.0.1/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "/8",
                          "10.0.0.0:80", "[::1]", "localhost", "10.0.0.0/8/8"}) {
    EXPECT_FALSE(Cidr::parse(bad)) << bad;
  }
}

TEST(IpAddress, WritesItsTextForm) {
  std::array<char, IpAddress::kTextSize> text{};
  EXPECT_EQ(ip("192.0.2.1").to_text(text), "192.0.2.1");
  EXPECT_EQ(ip("[2001:db8::5]:1234").to_text(text), "2001:db8::5");
  EXPECT_EQ(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").to_text(text),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

// From an untrusted peer the upstream hears the peer and "http", whatever the request says.
TEST(ForwardedClient, PeerAndHttpFromAnUntrustedPeer) {
  const auto trusted = cidrs({"10.0.0.0/8"});
  const Request r = get("/", "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n");
  std::array<char, IpAddress::kTextSize> text{};
  for (const std::span<const Cidr> ranges : {std::span<const Cidr>(trusted), {}}) {
    const auto client =
        proxy::forwarded_client(ip("198.51.100.1"), "198.51.100.1", r.parser(), ranges, text);
    EXPECT_EQ(client.real_ip, "198.51.100.1");
    EXPECT_EQ(client.proto, "http");
  }
}

// From a trusted peer: the client its X-Forwarded-For names, and its X-Forwarded-Proto when that
// is one field saying http or https.
TEST(ForwardedClient, WhatATrustedPeerReported) {
  const auto trusted = cidrs({"10.0.0.0/8"});
  std::array<char, IpAddress::kTextSize> text{};
  const auto from_trusted = [&](const std::string& fields) {
    const Request r = get("/", fields);
    return proxy::forwarded_client(ip("10.0.0.1"), "10.0.0.1", r.parser(), trusted, text);
  };
  auto client = from_trusted("X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: HTTPS\r\n");
  EXPECT_EQ(client.real_ip, "203.0.113.7");
  EXPECT_EQ(client.proto, "https");
  client = from_trusted("X-Forwarded-For: 1.1.1.1, 2001:db8::9, 10.0.0.5\r\n");
  EXPECT_EQ(client.real_ip, "2001:db8::9");
  EXPECT_EQ(client.proto, "http");
  EXPECT_EQ(from_trusted("").real_ip, "10.0.0.1");
  for (const std::string fields : {"X-Forwarded-Proto: http\r\n", "X-Forwarded-Proto: ftp\r\n",
                                   "X-Forwarded-Proto: https, http\r\n",
                                   "X-Forwarded-Proto: https\r\nX-Forwarded-Proto: https\r\n"}) {
    EXPECT_EQ(from_trusted(fields).proto, "http") << fields;
  }
}

TEST(ClientAddress, PeerWhenNotTrusted) {
  const auto trusted = cidrs({"10.0.0.0/8"});
  const Request r = get("/", "X-Forwarded-For: 203.0.113.7\r\n");
  EXPECT_EQ(proxy::client_address(ip("198.51.100.1"), r.parser(), trusted), ip("198.51.100.1"));
  EXPECT_EQ(proxy::client_address(ip("10.0.0.1"), r.parser(), {}), ip("10.0.0.1"));
}

TEST(ClientAddress, RightMostUntrustedHopFromATrustedPeer) {
  const auto trusted = cidrs({"10.0.0.0/8", "127.0.0.1"});
  // The client claims 1.1.1.1; the hop that appended 203.0.113.7 is the first we do not trust.
  const Request r = get("/", "X-Forwarded-For: 1.1.1.1, 203.0.113.7, 10.0.0.5\r\n");
  EXPECT_EQ(proxy::client_address(ip("127.0.0.1"), r.parser(), trusted), ip("203.0.113.7"));
}

TEST(ClientAddress, SeveralFieldLinesReadAsOneList) {
  const auto trusted = cidrs({"10.0.0.0/8"});
  const Request r = get("/", "X-Forwarded-For: 198.51.100.9\r\nX-Forwarded-For: 10.1.1.1\r\n");
  EXPECT_EQ(proxy::client_address(ip("10.0.0.1"), r.parser(), trusted), ip("198.51.100.9"));
}

TEST(ClientAddress, AllTrustedGivesTheLeftMost) {
  const auto trusted = cidrs({"10.0.0.0/8"});
  const Request r = get("/", "X-Forwarded-For: 10.9.9.9, 10.0.0.5\r\n");
  EXPECT_EQ(proxy::client_address(ip("10.0.0.1"), r.parser(), trusted), ip("10.9.9.9"));
}

TEST(ClientAddress, GarbageStopsAtTheLastTrustedHop) {
  const auto trusted = cidrs({"10.0.0.0/8"});
  const Request r = get("/", "X-Forwarded-For: 203.0.113.7, unknown, 10.0.0.5\r\n");
  EXPECT_EQ(proxy::client_address(ip("10.0.0.1"), r.parser(), trusted), ip("10.0.0.5"));
  const Request none = get("/");
  EXPECT_EQ(proxy::client_address(ip("10.0.0.1"), none.parser(), trusted), ip("10.0.0.1"));
  const Request ported = get("/", "X-Forwarded-For: [2001:db8::5]:1234\r\n");
  EXPECT_EQ(proxy::client_address(ip("10.0.0.1"), ported.parser(), trusted), ip("2001:db8::5"));
}

TEST(RequestKey, FromAHeader) {
  const HashKey key{Source::kHeader, "X-User"};
  const Request r = get("/", "x-user: alice\r\nX-User: bob\r\n");
  EXPECT_EQ(proxy::request_key(key, r.parser()), "alice");  // the first one
  EXPECT_EQ(proxy::request_key(key, get("/").parser()), std::nullopt);
}

TEST(RequestKey, FromACookie) {
  const HashKey key{Source::kCookie, "session"};
  const Request r =
      get("/", "Cookie: theme=dark; session=abc123 ; x=1\r\nCookie: session=late\r\n");
  EXPECT_EQ(proxy::request_key(key, r.parser()), "abc123");
  const Request other = get("/", "Cookie: mysession=1; sessionx=2\r\n");
  EXPECT_EQ(proxy::request_key(key, other.parser()), std::nullopt);
  const Request second = get("/", "Cookie: a=1\r\nCookie: session=two\r\n");
  EXPECT_EQ(proxy::request_key(key, second.parser()), "two");
}

TEST(RequestKey, FromTheQuery) {
  const HashKey key{Source::kQuery, "user"};
  EXPECT_EQ(proxy::request_key(key, get("/p?a=1&user=u%2042&b").parser()), "u%2042");
  EXPECT_EQ(proxy::request_key(key, get("/p?user=").parser()), "");
  EXPECT_EQ(proxy::request_key(key, get("/p?username=x").parser()), std::nullopt);
  EXPECT_EQ(proxy::request_key(key, get("/p").parser()), std::nullopt);
  EXPECT_EQ(proxy::request_key(key, get("http://h/p?user=abs").parser()), "abs");
}

TEST(RequestKey, FromThePath) {
  const HashKey key{Source::kPath, ""};
  EXPECT_EQ(proxy::request_key(key, get("/a/b?c=d").parser()), "/a/b");
  EXPECT_EQ(proxy::request_key(key, get("http://h").parser()), "/");
}

TEST(RequestKey, PathAndQueryComeFromTheTargetSentUpstream) {
  // The session passes the normalized target, so "/a/./b" and "/a/b" hash alike.
  const auto r = get("/a/./b?user=x");
  EXPECT_EQ(proxy::request_key({Source::kPath, ""}, r.parser(), "/a/b?user=x"), "/a/b");
  EXPECT_EQ(proxy::request_key({Source::kQuery, "user"}, r.parser(), "/a/b?user=x"), "x");
  EXPECT_EQ(proxy::request_key({Source::kPath, ""}, r.parser(), "?user=x"), "/");
}

}  // namespace
}  // namespace sb
