// Unit tests for the plain fast path (src/http/plain_head): the heads real traffic sends take it
// and are read right; everything outside the subset is declined and gets exactly llhttp's reading
// (checked against a parser that only uses llhttp); the checks that follow any head (Host, body
// size) still apply. tests/fuzz/fuzz_plain_head.cpp compares the two paths on arbitrary input.
#include "http/plain_head.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>

#include "http/message_parser.hpp"

namespace sb::http {
namespace {

using namespace std::string_literals;

struct Outcome {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t used = 0;
  bool plain = false;
  int error = 0;
  std::string reason;
};

// Parses the first message of `text` as the proxy does: the whole input, then the rest of the
// buffer after kHeadComplete, `piece` bytes per feed (0 = all of it).
Outcome run(MessageParser& p, std::string_view text, const ParseLimits& limits = {},
            bool no_body = false, size_t piece = 0) {
  p.begin(text.data(), limits, no_body);
  Outcome r;
  size_t at = 0;
  bool head = true;
  for (;;) {
    size_t n = text.size() - at;
    if (!head && piece != 0 && piece < n) n = piece;
    r.status = p.feed(text.data() + at, n);
    if (head) r.plain = p.head_was_plain();
    head = false;
    if (r.status == ParseStatus::kError) {
      r.error = p.error_status();
      r.reason = p.error_reason();
      break;
    }
    at += p.consumed();
    if (r.status == ParseStatus::kMessageComplete || at == text.size()) break;
  }
  r.used = at;
  return r;
}

MessageKind kind_of(std::string_view text) {
  return text.substr(0, 5) == "HTTP/" ? MessageKind::kResponse : MessageKind::kRequest;
}

// Runs `text` through the fast path and through llhttp alone, expects the same outcome, and
// returns whether the fast path took the head.
bool same_as_llhttp(std::string_view text, const ParseLimits& limits = {}, bool no_body = false) {
  MessageParser fast(kind_of(text), HeadPath::kPlainFirst);
  MessageParser slow(kind_of(text), HeadPath::kLlhttpOnly);
  const Outcome a = run(fast, text, limits, no_body);
  const Outcome b = run(slow, text, limits, no_body);
  EXPECT_FALSE(b.plain);
  EXPECT_EQ(a.status, b.status) << text;
  EXPECT_EQ(a.used, b.used) << text;
  EXPECT_EQ(a.error, b.error) << text;
  EXPECT_EQ(a.reason, b.reason) << text;
  if (a.status != ParseStatus::kError && fast.head_complete()) {
    EXPECT_EQ(fast.head_length(), slow.head_length());
    EXPECT_EQ(fast.keep_alive(), slow.keep_alive()) << text;
    EXPECT_EQ(fast.content_length(), slow.content_length());
    EXPECT_EQ(fast.body_bytes(), slow.body_bytes());
    EXPECT_EQ(fast.header_count(), slow.header_count());
  }
  return a.plain;
}

TEST(PlainHead, ALoadGeneratorsGetIsPlain) {
  const std::string text = "GET /a/b?c=d&e=%20 HTTP/1.1\r\nHost: 127.0.0.1:8090\r\n\r\n";
  MessageParser p(MessageKind::kRequest);
  const Outcome r = run(p, text);
  EXPECT_TRUE(r.plain);
  EXPECT_EQ(r.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(r.used, text.size());
  EXPECT_EQ(p.method(), HTTP_GET);
  EXPECT_EQ(p.method_name(), "GET");
  EXPECT_EQ(p.target(), "/a/b?c=d&e=%20");
  EXPECT_EQ(p.version_major(), 1);
  EXPECT_EQ(p.version_minor(), 1);
  ASSERT_EQ(p.header_count(), 1u);
  EXPECT_EQ(p.header_name(0), "Host");
  EXPECT_EQ(p.header_value(0), "127.0.0.1:8090");
  EXPECT_EQ(p.head_length(), text.size());
  EXPECT_TRUE(p.keep_alive());
  EXPECT_FALSE(p.has_body());
  EXPECT_TRUE(same_as_llhttp(text));
}

TEST(PlainHead, AnNginxResponseIsPlainAndItsBodyCounted) {
  const std::string head =
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 12:00:00 GMT\r\n"
      "Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n";
  const std::string text = head + "Hello, world!" + "HTTP/1.1 204 No Content\r\n\r\n";
  MessageParser p(MessageKind::kResponse);
  p.begin(text.data(), {});
  ASSERT_EQ(p.feed(text.data(), text.size()), ParseStatus::kHeadComplete);
  EXPECT_TRUE(p.head_was_plain());
  EXPECT_EQ(p.consumed(), head.size());
  EXPECT_EQ(p.status_code(), 200);
  EXPECT_EQ(p.reason(), "OK");
  ASSERT_EQ(p.header_count(), 5u);
  EXPECT_EQ(p.header_value(1), "Mon, 07 Dec 2026 12:00:00 GMT");
  EXPECT_EQ(p.content_length(), 13u);
  EXPECT_TRUE(p.has_content_length());
  EXPECT_FALSE(p.body_until_close());
  // The body one byte at a time, then the next response is not taken.
  size_t at = head.size();
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(p.feed(text.data() + at, 1), ParseStatus::kNeedMore);
    at += p.consumed();
  }
  ASSERT_EQ(p.feed(text.data() + at, text.size() - at), ParseStatus::kMessageComplete);
  EXPECT_EQ(p.consumed(), 1u);
  EXPECT_EQ(p.body_bytes(), 13u);
  EXPECT_TRUE(p.keep_alive());
  EXPECT_TRUE(same_as_llhttp(text));
}

TEST(PlainHead, APostBodyArrivingInPiecesIsCountedAsLlhttpCountsIt) {
  const std::string text =
      "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789GET / HTTP/1.1\r\n";
  for (const size_t piece : {1, 3, 7, 0}) {
    MessageParser fast(MessageKind::kRequest);
    MessageParser slow(MessageKind::kRequest, HeadPath::kLlhttpOnly);
    const Outcome a = run(fast, text, {}, false, piece);
    const Outcome b = run(slow, text, {}, false, piece);
    EXPECT_TRUE(a.plain);
    EXPECT_EQ(a.status, ParseStatus::kMessageComplete);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.used, b.used);
    EXPECT_EQ(fast.body_bytes(), 10u);
  }
}

TEST(PlainHead, DecodingAContentLengthBodyLeavesItAsItCame) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
  std::string text = head + "abcdXYZ";
  MessageParser p(MessageKind::kResponse);
  p.begin(text.data(), {});
  ASSERT_EQ(p.feed(text.data(), text.size()), ParseStatus::kHeadComplete);
  ASSERT_EQ(p.feed_decoding(text.data() + head.size(), text.size() - head.size()),
            ParseStatus::kMessageComplete);
  EXPECT_EQ(p.decoded(), 4u);
  EXPECT_EQ(std::string_view(text).substr(head.size(), 4), "abcd");
}

TEST(PlainHead, BodilessResponsesEndWithTheirHead) {
  EXPECT_TRUE(same_as_llhttp("HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n"));
  EXPECT_TRUE(same_as_llhttp("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"));
  // The answer to HEAD: its Content-Length describes a body that is not sent.
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
  EXPECT_TRUE(same_as_llhttp(head, {}, /*no_body=*/true));
  MessageParser p(MessageKind::kResponse);
  const Outcome r = run(p, head, {}, /*no_body=*/true);
  EXPECT_EQ(r.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(r.used, head.size());
  EXPECT_TRUE(p.keep_alive());
}

TEST(PlainHead, KeepAliveFollowsVersionAndConnectionAsInLlhttp) {
  for (const char* text : {
           "GET / HTTP/1.0\r\n\r\n",
           "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
           "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: h\r\nconnection: CLOSE  \r\n\r\n",
           "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
       }) {
    EXPECT_TRUE(same_as_llhttp(text)) << text;
  }
}

TEST(PlainHead, ValuesAreTrimmedAndMayBeEmpty) {
  const std::string text =
      "GET / HTTP/1.1\r\nHost:h\r\nX-Empty:\r\nX-Blank: \t \r\nX-Pad: \t a b \t\r\n\r\n";
  MessageParser p(MessageKind::kRequest);
  ASSERT_TRUE(run(p, text).plain);
  ASSERT_EQ(p.header_count(), 4u);
  EXPECT_EQ(p.header_value(0), "h");
  EXPECT_EQ(p.header_value(1), "");
  EXPECT_EQ(p.header_value(2), "");
  EXPECT_EQ(p.header_value(3), "a b");
  EXPECT_TRUE(same_as_llhttp(text));
}

// Heads outside the subset: declined, and read exactly as llhttp reads them, errors included.
class PlainHeadDeclines : public ::testing::TestWithParam<const char*> {};

TEST_P(PlainHeadDeclines, AndLlhttpReadsIt) {
  EXPECT_FALSE(same_as_llhttp(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(
    OutsideTheSubset, PlainHeadDeclines,
    ::testing::Values(
        // framing and connection handling llhttp owns
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, x-custom\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\t\r\n\r\n",  // llhttp: not "close"
        "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive \t\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nProxy-Connection: close\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\na",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\t\r\n\r\na",  // llhttp: 400
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1234567890123456789\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nread to the close",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        // request lines and status lines outside the subset
        "get / HTTP/1.1\r\nHost: h\r\n\r\n", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
        "PROPFIND / HTTP/1.1\r\nHost: h\r\n\r\n", "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /a\"b HTTP/1.1\r\nHost: h\r\n\r\n", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: h\r\n\r\n", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
        "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200  OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n",
        // fields outside the subset, the smuggling vectors among them
        "GET / HTTP/1.1\r\nHost: h\r\nX-Fold: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : h\r\n\r\n", "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-Utf8: caf\xc3\xa9\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-Cr: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\nX-Lf: only\r\n\r\n", "GET / HTTP/1.1\r\nHost: h\r\n\n",
        // a head that is not complete yet
        "GET / HTTP/1.1\r\nHost: h\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"));

TEST(PlainHead, AHeadWithANulIsDeclinedAndRefused) {
  const std::string text = "GET / HTTP/1.1\r\nHost: h\r\nX-Nul: a\0b\r\n\r\n"s;
  EXPECT_FALSE(same_as_llhttp(text));
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run(p, text).error, 400);
}

TEST(PlainHead, TheChecksAfterEveryHeadStillApply) {
  ParseLimits limits;
  limits.body_size = 5;
  for (const char* text : {
           "GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n",                        // no Host
           "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",                   // two
           "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nabcdef",  // over body_size
       }) {
    MessageParser p(MessageKind::kRequest);
    const Outcome r = run(p, text, limits);
    EXPECT_EQ(r.status, ParseStatus::kError) << text;
    EXPECT_NE(r.error, 0);
    same_as_llhttp(text, limits);
  }
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run(p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nabcdef", limits).error,
            413);
}

TEST(PlainHead, LimitsAreLeftToLlhttpsPathWithTheirOwnStatus) {
  ParseLimits limits;
  limits.request_line = 8;
  limits.header_block = 64;
  limits.header_count = 2;
  for (const char* text : {
           "GET /0123456789 HTTP/1.1\r\nHost: h\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789012345678901234567890123456789\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n",
       }) {
    EXPECT_FALSE(same_as_llhttp(text, limits)) << text;
  }
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run(p, "GET /0123456789 HTTP/1.1\r\nHost: h\r\n\r\n", limits).error, 414);
  EXPECT_EQ(run(p, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits).error, 431);
  // At the limits exactly: still plain.
  EXPECT_TRUE(same_as_llhttp("GET /0123456 HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n", limits));
}

TEST(PlainHead, OnlyAMessagesFirstInputIsTried) {
  // A head fed in two pieces is llhttp's, so a slow sender costs no rescans.
  const std::string text = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  MessageParser p(MessageKind::kRequest);
  p.begin(text.data(), {});
  ASSERT_EQ(p.feed(text.data(), 10), ParseStatus::kNeedMore);
  ASSERT_EQ(p.feed(text.data() + 10, text.size() - 10), ParseStatus::kMessageComplete);
  EXPECT_FALSE(p.head_was_plain());
  EXPECT_EQ(p.target(), "/");
}

TEST(PlainHead, ParsePlainHeadReadsTheSpansFromItsInput) {
  const std::string text = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n";
  HeaderField fields[4];
  PlainHead head;
  ASSERT_TRUE(parse_plain_head(MessageKind::kResponse, text.data(), text.size(), {}, fields, head));
  EXPECT_EQ(head.status_code, 503);
  EXPECT_EQ(head.target.in(text.data()), "Service Unavailable");
  ASSERT_EQ(head.header_count, 1u);
  EXPECT_EQ(fields[0].name.in(text.data()), "Retry-After");
  EXPECT_EQ(fields[0].value.in(text.data()), "5");
  EXPECT_EQ(head.head_length, text.size());
  EXPECT_FALSE(head.has_content_length);
  // One byte short of the blank line: not complete, declined.
  EXPECT_FALSE(
      parse_plain_head(MessageKind::kResponse, text.data(), text.size() - 1, {}, fields, head));
}

}  // namespace
}  // namespace sb::http
