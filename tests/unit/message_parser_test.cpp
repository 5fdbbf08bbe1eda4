// Unit tests for src/http/message_parser: the llhttp adapter's head spans, message boundaries
// (pipelining, split input), framing (Content-Length, chunked, until close), smuggling defences
// and size limits, for requests and responses.
#include "http/message_parser.hpp"

#include <gtest/gtest.h>
#include <strings.h>

#include <cstring>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sb::http {
namespace {

using namespace std::string_literals;

// What a whole-input run of the parser ended with.
struct Outcome {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t used = 0;  // bytes of the input that belong to the message
  bool saw_head_complete = false;
};

// Parses one message from `text` the way the proxy does: one feed, and after kHeadComplete
// another feed with the rest of the buffer.
Outcome run(MessageParser& parser, std::string_view text, const ParseLimits& limits = {},
            bool no_body = false) {
  parser.begin(text.data(), limits, no_body);
  Outcome outcome;
  size_t offset = 0;
  for (;;) {
    outcome.status = parser.feed(text.data() + offset, text.size() - offset);
    if (outcome.status == ParseStatus::kError) break;
    offset += parser.consumed();
    if (outcome.status != ParseStatus::kHeadComplete) break;
    outcome.saw_head_complete = true;
    if (offset == text.size()) break;
  }
  outcome.used = offset;
  return outcome;
}

// Parses one message from `text` fed one byte per call (the head continues in the same buffer).
Outcome run_bytewise(MessageParser& parser, std::string_view text, const ParseLimits& limits = {},
                     bool no_body = false) {
  parser.begin(text.data(), limits, no_body);
  Outcome outcome;
  for (size_t i = 0; i < text.size(); ++i) {
    outcome.status = parser.feed(text.data() + i, 1);
    if (outcome.status == ParseStatus::kError) return outcome;
    if (outcome.status == ParseStatus::kHeadComplete) {
      outcome.saw_head_complete = true;
      EXPECT_EQ(parser.consumed(), 1u);
      continue;
    }
    if (outcome.status == ParseStatus::kMessageComplete) {
      outcome.used = i + parser.consumed();
      return outcome;
    }
    EXPECT_EQ(parser.consumed(), 1u);
  }
  outcome.used = text.size();
  return outcome;
}

// The header value named `name` (first match), or "<none>".
std::string header(const MessageParser& parser, std::string_view name) {
  for (uint32_t i = 0; i < parser.header_count(); ++i) {
    const std::string_view n = parser.header_name(i);
    if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) {
      return std::string(parser.header_value(i));
    }
  }
  return "<none>";
}

constexpr std::string_view kSimpleGet =
    "GET /index.html?x=1 HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "User-Agent: test/1.0\r\n"
    "Accept:   */*  \t\r\n"
    "\r\n";

void expect_simple_get(const MessageParser& p) {
  EXPECT_EQ(p.method(), HTTP_GET);
  EXPECT_EQ(p.method_name(), "GET");
  EXPECT_EQ(p.target(), "/index.html?x=1");
  EXPECT_EQ(p.version_major(), 1);
  EXPECT_EQ(p.version_minor(), 1);
  ASSERT_EQ(p.header_count(), 3u);
  EXPECT_EQ(p.header_name(0), "Host");
  EXPECT_EQ(p.header_value(0), "example.com");
  EXPECT_EQ(p.header_name(1), "User-Agent");
  EXPECT_EQ(p.header_value(1), "test/1.0");
  EXPECT_EQ(p.header_name(2), "Accept");
  EXPECT_EQ(p.header_value(2), "*/*");  // surrounding whitespace excluded
  EXPECT_EQ(p.head_length(), kSimpleGet.size());
  EXPECT_TRUE(p.head_complete());
  EXPECT_TRUE(p.message_complete());
  EXPECT_FALSE(p.has_body());
  EXPECT_FALSE(p.chunked());
  EXPECT_FALSE(p.upgrade());
  EXPECT_TRUE(p.keep_alive());
}

TEST(MessageParserRequest, SimpleGet) {
  MessageParser p(MessageKind::kRequest);
  p.begin(kSimpleGet.data(), {});
  EXPECT_EQ(p.feed(kSimpleGet.data(), kSimpleGet.size()), ParseStatus::kMessageComplete);
  EXPECT_EQ(p.consumed(), kSimpleGet.size());
  expect_simple_get(p);
  EXPECT_EQ(p.error_status(), 0);
}

TEST(MessageParserRequest, SimpleGetByteByByte) {
  MessageParser p(MessageKind::kRequest);
  const Outcome o = run_bytewise(p, kSimpleGet);
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_FALSE(o.saw_head_complete);  // no body: the head alone makes the message
  EXPECT_EQ(o.used, kSimpleGet.size());
  expect_simple_get(p);
}

TEST(MessageParserRequest, IncompleteHeadNeedsMore) {
  MessageParser p(MessageKind::kRequest);
  const std::string_view text = "GET / HTTP/1.1\r\nHost: a\r\n";
  p.begin(text.data(), {});
  EXPECT_EQ(p.feed(text.data(), text.size()), ParseStatus::kNeedMore);
  EXPECT_EQ(p.consumed(), text.size());
  EXPECT_FALSE(p.head_complete());
}

TEST(MessageParserRequest, EmptyHeaderValue) {
  MessageParser p(MessageKind::kRequest);
  const std::string_view text = "GET / HTTP/1.1\r\nX-Empty:\r\nX-Blank:   \r\nHost: a\r\n\r\n";
  EXPECT_EQ(run(p, text).status, ParseStatus::kMessageComplete);
  ASSERT_EQ(p.header_count(), 3u);
  EXPECT_EQ(p.header_name(0), "X-Empty");
  EXPECT_EQ(p.header_value(0), "");
  EXPECT_EQ(p.header_name(1), "X-Blank");
  EXPECT_EQ(p.header_value(1), "");
  EXPECT_EQ(p.header_value(2), "a");
}

TEST(MessageParserRequest, PipelinedRequestsStopAtMessageEnd) {
  const std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz";
  const std::string third = "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::string buffer = first + second + third;
  MessageParser p(MessageKind::kRequest);

  p.begin(buffer.data(), {});
  ASSERT_EQ(p.feed(buffer.data(), buffer.size()), ParseStatus::kMessageComplete);
  EXPECT_EQ(p.consumed(), first.size());
  EXPECT_EQ(p.target(), "/a");
  EXPECT_EQ(p.head_length(), first.size());

  size_t at = first.size();
  p.begin(buffer.data() + at, {});
  ASSERT_EQ(p.feed(buffer.data() + at, buffer.size() - at), ParseStatus::kHeadComplete);
  EXPECT_EQ(p.target(), "/b");
  EXPECT_EQ(p.consumed(), second.size() - 3);
  EXPECT_EQ(p.head_length(), second.size() - 3);
  EXPECT_TRUE(p.has_body());
  EXPECT_EQ(p.content_length(), 3u);
  at += p.consumed();
  ASSERT_EQ(p.feed(buffer.data() + at, buffer.size() - at), ParseStatus::kMessageComplete);
  EXPECT_EQ(p.consumed(), 3u);
  EXPECT_EQ(p.body_bytes(), 3u);
  EXPECT_EQ(p.target(), "/b");  // spans stay valid after the body
  at += p.consumed();

  p.begin(buffer.data() + at, {});
  ASSERT_EQ(p.feed(buffer.data() + at, buffer.size() - at), ParseStatus::kMessageComplete);
  EXPECT_EQ(p.consumed(), third.size());
  EXPECT_EQ(p.target(), "/c");
  EXPECT_FALSE(p.keep_alive());
}

TEST(MessageParserRequest, ContentLengthBodyOneBytePerFeed) {
  const std::string head =
      "POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\n"
      "Content-Length: 26\r\n\r\n";
  const std::string body = "abcdefghijklmnopqrstuvwxyz";
  const std::string next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string buffer = head + body + next;
  MessageParser p(MessageKind::kRequest);
  p.begin(buffer.data(), {});

  size_t i = 0;
  ParseStatus status = ParseStatus::kNeedMore;
  for (; i < head.size(); ++i) {
    status = p.feed(buffer.data() + i, 1);
    if (status != ParseStatus::kNeedMore) break;
    EXPECT_EQ(p.consumed(), 1u);
  }
  ASSERT_EQ(status, ParseStatus::kHeadComplete);
  EXPECT_EQ(i, head.size() - 1);  // the last byte of the head completes it
  EXPECT_EQ(p.consumed(), 1u);
  EXPECT_EQ(p.head_length(), head.size());
  EXPECT_EQ(p.method_name(), "POST");
  EXPECT_EQ(p.target(), "/upload");
  ASSERT_EQ(p.header_count(), 3u);
  EXPECT_EQ(p.header_name(0), "Host");
  EXPECT_EQ(p.header_value(0), "example.com");
  EXPECT_EQ(p.header_name(1), "Content-Type");
  EXPECT_EQ(p.header_value(1), "text/plain");
  EXPECT_EQ(p.header_name(2), "Content-Length");
  EXPECT_EQ(p.header_value(2), "26");
  EXPECT_TRUE(p.has_content_length());
  EXPECT_EQ(p.content_length(), 26u);
  EXPECT_FALSE(p.message_complete());

  for (size_t b = 0; b < body.size(); ++b) {
    status = p.feed(buffer.data() + head.size() + b, 1);
    EXPECT_EQ(p.consumed(), 1u);
    EXPECT_EQ(p.body_bytes(), b + 1);
    if (b + 1 < body.size()) {
      ASSERT_EQ(status, ParseStatus::kNeedMore) << "body byte " << b;
    }
  }
  EXPECT_EQ(status, ParseStatus::kMessageComplete);
  EXPECT_TRUE(p.message_complete());
  // The head is still readable after the body.
  EXPECT_EQ(p.target(), "/upload");
  EXPECT_EQ(p.header_value(0), "example.com");
}

TEST(MessageParserRequest, BodyFedTogetherWithNextRequest) {
  const std::string head = "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  const std::string buffer = head + "hello" + "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  MessageParser p(MessageKind::kRequest);
  const Outcome o = run(p, buffer);
  EXPECT_TRUE(o.saw_head_complete);
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(o.used, head.size() + 5);
  EXPECT_EQ(p.body_bytes(), 5u);
}

constexpr std::string_view kChunkedHead =
    "POST /chunks HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n";
constexpr std::string_view kChunkedBody =
    "5;name=value\r\n"
    "hello\r\n"
    "6;a;b=\"quoted\"\r\n"
    " world\r\n"
    "A\r\n"
    "0123456789\r\n"
    "0\r\n"
    "X-Checksum: abc\r\n"
    "X-Other: def\r\n"
    "\r\n";

TEST(MessageParserRequest, ChunkedWithExtensionsAndTrailers) {
  const std::string buffer =
      std::string(kChunkedHead) + std::string(kChunkedBody) + "GET /n HTTP/1.1\r\nHost: h\r\n\r\n";
  MessageParser p(MessageKind::kRequest);
  p.begin(buffer.data(), {});
  ASSERT_EQ(p.feed(buffer.data(), buffer.size()), ParseStatus::kHeadComplete);
  EXPECT_EQ(p.consumed(), kChunkedHead.size());
  EXPECT_EQ(p.head_length(), kChunkedHead.size());
  EXPECT_TRUE(p.chunked());
  EXPECT_TRUE(p.has_body());
  EXPECT_FALSE(p.has_content_length());
  const size_t at = p.consumed();
  ASSERT_EQ(p.feed(buffer.data() + at, buffer.size() - at), ParseStatus::kMessageComplete);
  EXPECT_EQ(p.consumed(), kChunkedBody.size());
  EXPECT_EQ(p.body_bytes(), 21u);
  // Trailer fields are body bytes to the proxy, not head fields.
  EXPECT_EQ(p.header_count(), 2u);
  EXPECT_EQ(p.header_value(1), "chunked");
}

// Found by the request fuzzer: llhttp skips its Transfer-Encoding check for a request it takes
// for an upgrade, and the rewritten head (without the upgrade) then failed to parse.
void expect_refused_whole_and_byte_by_byte(const std::string& text, int status = 400) {
  MessageParser whole(MessageKind::kRequest);
  EXPECT_EQ(run(whole, text).status, ParseStatus::kError) << text;
  EXPECT_EQ(whole.error_status(), status) << text;
  MessageParser bytewise(MessageKind::kRequest);
  EXPECT_EQ(run_bytewise(bytewise, text).status, ParseStatus::kError) << text;
  EXPECT_EQ(bytewise.error_status(), status) << text;
}

TEST(MessageParserRequest, Http2PrefaceIsRejectedWith400HoweverItArrives) {
  for (const std::string text : {
           "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
           "PRI /chat HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
           // Byte by byte, llhttp took this one for a complete HTTP/0.9 request (the fuzzer's
           // find).
           "PRI /chat\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n\r\n",
       }) {
    expect_refused_whole_and_byte_by_byte(text);
  }
}

TEST(MessageParserRequest, Http09RequestIsRejectedWith400HoweverItArrives) {
  for (const std::string text :
       {"GET /\r\n\r\n", "GET /index.html\r\nHost: h\r\n\r\n", "SETUP /\n\r\no"}) {
    expect_refused_whole_and_byte_by_byte(text);
  }
}

// llhttp's loose build took any byte after the CR that ends a head or a trailer section for its
// LF, and skipped the two bytes after chunk data unchecked. The proxy forwards a chunked body as it
// came, so a server reading it strictly would have found another end of the message.
TEST(MessageParserRequest, ACrNotFollowedByLfIsRejectedWherever) {
  const std::string chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& text : {
           std::string("GET / HTTP/1.1\r\nHost: h\r\n\rX"),
           chunked + "5\rXhello\r\n0\r\n\r\n",
           chunked + "5;e=1\rXhello\r\n0\r\n\r\n",
           chunked + "5\r\nhello\rX0\r\n\r\n",
           chunked + "0\rX\r\n",
           chunked + "0\r\n\rX",
           chunked + "0\r\nX-T: 1\r\n\rX",
       }) {
    expect_refused_whole_and_byte_by_byte(text);
  }
}

// Even strict llhttp ends a trailer section at a bare LF; the body is forwarded as it came.
TEST(MessageParserRequest, ATrailerSectionEndedByABareLfIsRejected) {
  const std::string chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string body : {"0\r\n\n", "0\r\nX-T: t\r\n\n", "3\r\nabc\r\n0\r\n\n"}) {
    expect_refused_whole_and_byte_by_byte(chunked + body);
  }
  for (const std::string body : {"0\r\n\r\n", "0\r\nX-T: t\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n"}) {
    MessageParser whole(MessageKind::kRequest);
    EXPECT_EQ(run(whole, chunked + body).status, ParseStatus::kMessageComplete) << body;
    MessageParser bytewise(MessageKind::kRequest);
    EXPECT_EQ(run_bytewise(bytewise, chunked + body).status, ParseStatus::kMessageComplete) << body;
  }
}

// Found by the request fuzzer: llhttp took "chunked \t" then "chunked" for chunked once; the two
// fields forwarded, trimmed, say chunked twice.
TEST(MessageParserRequest, MoreThanOneTransferEncodingFieldIsRejected) {
  for (const std::string fields :
       {"Transfer-Encoding: chunked \t\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"}) {
    expect_refused_whole_and_byte_by_byte("POST / HTTP/1.1\r\nHost: h\r\n" + fields +
                                          "\r\n0\r\n\r\n");
  }
  MessageParser response(MessageKind::kResponse);
  EXPECT_EQ(run(response,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked \t\r\nTransfer-Encoding: "
                "chunked\r\n\r\n0\r\n\r\n")
                .status,
            ParseStatus::kError);
  EXPECT_EQ(response.error_status(), 502);
}

TEST(MessageParserRequest, ChunkDataNotFollowedByCrlfIsRejected) {
  const std::string chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string body : {"1\r\naXY0\r\n\r\n", "5\r\nhello\n\n0\r\n\r\n"}) {
    expect_refused_whole_and_byte_by_byte(chunked + body);
  }
}

// RFC 9112 3.2: the request-target is URI syntax. A tab, a form feed or a raw byte above 0x7f in
// it is refused (as HAProxy, Tomcat and Envoy do) rather than forwarded for each server to split
// or decode its own way; a client percent-encodes them.
TEST(MessageParserRequest, ATargetOutsideUriSyntaxIsRejected) {
  for (const std::string text :
       {"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", "GET /a\fb HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"}) {
    expect_refused_whole_and_byte_by_byte(text);
  }
  MessageParser p(MessageKind::kRequest);
  const std::string encoded = "GET /caf%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n";
  EXPECT_EQ(run(p, encoded).status, ParseStatus::kMessageComplete);
}

TEST(MessageParserResponse, ChunkFramingWithACrNotFollowedByLfIsA502) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string body :
       {"2\rXok\r\n0\r\n\r\n", "2\r\nokXY0\r\n\r\n", "0\r\n\rX", "0\r\nX-T: t\r\n\n"}) {
    MessageParser p(MessageKind::kResponse);
    EXPECT_EQ(run(p, head + body).status, ParseStatus::kError) << body;
    EXPECT_EQ(p.error_status(), 502) << body;
  }
}

TEST(MessageParserRequest, UpgradeRequestWithTransferEncodingNotChunkedIsRejected) {
  const std::string buffer =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nConnection: Upgrade\r\n"
      "Upgrade: websocket\r\n\r\n";
  MessageParser p(MessageKind::kRequest);
  p.begin(buffer.data(), {});
  EXPECT_EQ(p.feed(buffer.data(), buffer.size()), ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 400);
}

// Found by the response fuzzer: a Content-Length field in the trailer section once made the
// finished message look length-delimited (llhttp updates its flags while reading trailers).
TEST(MessageParserResponse, TrailerFieldsDoNotChangeTheFraming) {
  const std::string buffer =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\nContent-Length: 5\r\nTransfer-Encoding: identity\r\n\r\n";
  MessageParser p(MessageKind::kResponse);
  p.begin(buffer.data(), {});
  ASSERT_EQ(p.feed(buffer.data(), buffer.size()), ParseStatus::kHeadComplete);
  const size_t at = p.consumed();
  ASSERT_EQ(p.feed(buffer.data() + at, buffer.size() - at), ParseStatus::kMessageComplete);
  EXPECT_TRUE(p.chunked());
  EXPECT_FALSE(p.has_content_length());
  EXPECT_EQ(p.body_bytes(), 3u);
}

// A chunked body is forwarded framing and all, and body_size counts only its data: what the
// framing carries beyond its chunks' needs (extensions, zeros before a size, trailers) is held to
// header_block, so neither an endless chunk-size line nor a body of extensions gets past the
// limits. 413 for a request (as Node.js answers since CVE-2024-22019), 502 for a response.
TEST(MessageParser, ChunkedFramingBeyondItsChunksNeedsIsHeldToTheHeaderBlockLimit) {
  ParseLimits limits;
  limits.header_block = 1024;
  const std::string request = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string many_extensions;
  for (int i = 0; i < 100; ++i) many_extensions += "1;" + std::string(30, 'e') + "\r\nX\r\n";
  std::string trailers;
  for (int i = 0; i < 40; ++i)
    trailers += "X-T" + std::to_string(i) + ": " + std::string(30, 't') + "\r\n";
  for (const std::string& body : {
           "1;" + std::string(2000, 'e') + "\r\nX\r\n0\r\n\r\n",  // one long extension
           many_extensions + "0\r\n\r\n",                         // many short ones
           std::string(2000, '0') + "1\r\nX\r\n0\r\n\r\n",        // zeros before a size
           "0\r\n" + trailers + "\r\n",                           // a long trailer section
           "0;" + std::string(600, 'e') + "\r\nX-T: " + std::string(600, 't') + "\r\n\r\n",
       }) {
    MessageParser whole(MessageKind::kRequest);
    EXPECT_EQ(run(whole, request + body, limits).status, ParseStatus::kError) << body;
    EXPECT_EQ(whole.error_status(), 413) << body;
    MessageParser bytewise(MessageKind::kRequest);
    EXPECT_EQ(run_bytewise(bytewise, request + body, limits).status, ParseStatus::kError) << body;
    EXPECT_EQ(bytewise.error_status(), 413) << body;
    MessageParser upstream(MessageKind::kResponse);
    EXPECT_EQ(run(upstream, response + body, limits).status, ParseStatus::kError) << body;
    EXPECT_EQ(upstream.error_status(), 502) << body;
  }
  // What chunks need passes however many there are: sizes, their CRLFs, short extensions and
  // trailers within the limit.
  std::string tiny_chunks;
  for (int i = 0; i < 5000; ++i) tiny_chunks += "1\r\nX\r\n";
  std::string big_chunk = "ffff\r\n" + std::string(0xffff, 'b') + "\r\n";
  for (const std::string& body : {
           tiny_chunks + "0\r\n\r\n",
           big_chunk + big_chunk + "0\r\n\r\n",
           "0000000000000003;a=b\r\nabc\r\n0\r\nX-T: " + std::string(900, 't') + "\r\n\r\n",
       }) {
    MessageParser whole(MessageKind::kRequest);
    EXPECT_EQ(run(whole, request + body, limits).status, ParseStatus::kMessageComplete)
        << body.substr(0, 40);
    MessageParser bytewise(MessageKind::kRequest);
    EXPECT_EQ(run_bytewise(bytewise, request + body, limits).status, ParseStatus::kMessageComplete)
        << body.substr(0, 40);
  }
}

// llhttp lets a folded line and a bad field name through in a trailer section; the head's rules
// hold there too, since the trailer section is forwarded as it came.
TEST(MessageParser, TrailerFieldsFollowTheHeadsRules) {
  const std::string request = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string body :
       {"0\r\nX-T: a\r\n b\r\n\r\n", "0\r\nX-T: a\r\n\tb\r\nY: c\r\n\r\n",
        "1\r\nX\r\n0\r\nX-T:\r\n b\r\n\r\n", "0\r\nBad Name: a\r\n\r\n", "0\r\nX(T): a\r\n\r\n"}) {
    expect_refused_whole_and_byte_by_byte(request + body);
    MessageParser upstream(MessageKind::kResponse);
    EXPECT_EQ(run(upstream, response + body).status, ParseStatus::kError) << body;
    EXPECT_EQ(upstream.error_status(), 502) << body;
  }
  // A value that arrives in pieces is not a fold, and neither is an empty one.
  for (const std::string body :
       {"3\r\nabc\r\n0\r\nX-Checksum: sha-256 of what came before\r\nY: 1\r\n\r\n",
        "0\r\nX-Empty:\r\nX-Blank:   \r\nY:  spaced  value \r\nZ:\r\n\r\n",
        // Names llhttp reads with states of their own in a head.
        "0\r\nConnection: keep-alive, close\r\nContent-Length: 5\r\nUpgrade: websocket\r\n"
        "Keep-Alive: timeout=5\r\nProxy-Connection: close\r\n\r\n"}) {
    MessageParser whole(MessageKind::kRequest);
    EXPECT_EQ(run(whole, request + body).status, ParseStatus::kMessageComplete) << body;
    MessageParser bytewise(MessageKind::kRequest);
    EXPECT_EQ(run_bytewise(bytewise, request + body).status, ParseStatus::kMessageComplete) << body;
    MessageParser upstream(MessageKind::kResponse);
    EXPECT_EQ(run(upstream, response + body).status, ParseStatus::kMessageComplete) << body;
  }
}

TEST(MessageParserRequest, ChunkedOneBytePerFeed) {
  const std::string buffer = std::string(kChunkedHead) + std::string(kChunkedBody);
  MessageParser p(MessageKind::kRequest);
  const Outcome o = run_bytewise(p, buffer);
  EXPECT_TRUE(o.saw_head_complete);
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(o.used, buffer.size());
  EXPECT_EQ(p.head_length(), kChunkedHead.size());
  EXPECT_EQ(p.body_bytes(), 21u);
  EXPECT_EQ(p.target(), "/chunks");
  ASSERT_EQ(p.header_count(), 2u);
  EXPECT_EQ(p.header_name(1), "Transfer-Encoding");
  EXPECT_EQ(p.header_value(1), "chunked");
}

TEST(MessageParserRequest, Http10WithoutHostIsAccepted) {
  MessageParser p(MessageKind::kRequest);
  const Outcome o = run(p, "GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(p.version_minor(), 0);
  EXPECT_FALSE(p.keep_alive());
}

TEST(MessageParserRequest, UpgradeRequest) {
  const std::string head =
      "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  const std::string buffer = head + "\x81\x05hello";  // a frame that belongs to the new protocol
  MessageParser p(MessageKind::kRequest);
  const Outcome o = run(p, buffer);
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(o.used, head.size());
  EXPECT_TRUE(p.upgrade());
  EXPECT_EQ(p.head_length(), head.size());
  EXPECT_EQ(header(p, "upgrade"), "websocket");
}

TEST(MessageParserRequest, UpgradeRequestByteByByte) {
  const std::string head =
      "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
      "Connection: keep-alive, Upgrade\r\n\r\n";
  MessageParser p(MessageKind::kRequest);
  const Outcome o = run_bytewise(p, head + "\x81");
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(o.used, head.size());
  EXPECT_TRUE(p.upgrade());
}

TEST(MessageParserRequest, HeaderWithoutUpgradeConnectionIsNoUpgrade) {
  MessageParser p(MessageKind::kRequest);
  const Outcome o = run(p, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_FALSE(p.upgrade());
}

struct KeepAliveCase {
  const char* name;
  const char* version;
  const char* connection;  // nullptr: no Connection header
  bool keep_alive;
};

class MessageParserKeepAlive : public testing::TestWithParam<KeepAliveCase> {};

TEST_P(MessageParserKeepAlive, FollowsVersionAndConnection) {
  const KeepAliveCase& c = GetParam();
  std::string text = "GET / "s + c.version + "\r\nHost: h\r\n";
  if (c.connection != nullptr) text += "Connection: "s + c.connection + "\r\n";
  text += "\r\n";
  MessageParser p(MessageKind::kRequest);
  ASSERT_EQ(run(p, text).status, ParseStatus::kMessageComplete);
  EXPECT_EQ(p.keep_alive(), c.keep_alive);
}

INSTANTIATE_TEST_SUITE_P(
    All, MessageParserKeepAlive,
    testing::Values(KeepAliveCase{"Http10Default", "HTTP/1.0", nullptr, false},
                    KeepAliveCase{"Http10KeepAlive", "HTTP/1.0", "keep-alive", true},
                    KeepAliveCase{"Http10KeepAliveMixedCase", "HTTP/1.0", "Keep-Alive", true},
                    KeepAliveCase{"Http10Close", "HTTP/1.0", "close", false},
                    KeepAliveCase{"Http11Default", "HTTP/1.1", nullptr, true},
                    KeepAliveCase{"Http11KeepAlive", "HTTP/1.1", "keep-alive", true},
                    KeepAliveCase{"Http11Close", "HTTP/1.1", "close", false},
                    KeepAliveCase{"Http11CloseMixedCase", "HTTP/1.1", "Close", false},
                    KeepAliveCase{"Http11CloseInList", "HTTP/1.1", "foo, close", false}),
    [](const testing::TestParamInfo<KeepAliveCase>& param_info) { return param_info.param.name; });

// Requests a proxy must refuse with 400 because two parsers could disagree on where they end
// (request smuggling) or because they are malformed.
struct RejectCase {
  const char* name;
  std::string text;
};

void PrintTo(const RejectCase& c, std::ostream* os) {
  *os << c.name;
}

class MessageParserRejects : public testing::TestWithParam<RejectCase> {};

TEST_P(MessageParserRejects, WholeInputWith400) {
  MessageParser p(MessageKind::kRequest);
  const Outcome o = run(p, GetParam().text);
  EXPECT_EQ(o.status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 400);
  EXPECT_STRNE(p.error_reason(), "");
  // An error is sticky.
  EXPECT_EQ(p.feed("\r\n", 2), ParseStatus::kError);
}

TEST_P(MessageParserRejects, ByteByByteWith400) {
  MessageParser p(MessageKind::kRequest);
  const Outcome o = run_bytewise(p, GetParam().text);
  EXPECT_EQ(o.status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 400);
}

const std::string kPost = "POST / HTTP/1.1\r\nHost: h\r\n";

INSTANTIATE_TEST_SUITE_P(
    Smuggling, MessageParserRejects,
    testing::Values(
        RejectCase{"ContentLengthAndChunked",
                   kPost + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        RejectCase{"ChunkedAndContentLength",
                   kPost + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
        RejectCase{"DuplicateContentLengthSame",
                   kPost + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
        RejectCase{"DuplicateContentLengthDifferent",
                   kPost + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
        RejectCase{"ContentLengthTrailingLetter", kPost + "Content-Length: 12a\r\n\r\n"},
        RejectCase{"ContentLengthNegative", kPost + "Content-Length: -1\r\n\r\n"},
        RejectCase{"ContentLengthPlus", kPost + "Content-Length: +1\r\n\r\nx"},
        RejectCase{"ContentLengthInnerSpace", kPost + "Content-Length: 1 2\r\n\r\n"},
        RejectCase{"ContentLengthList", kPost + "Content-Length: 3, 3\r\n\r\nabc"},
        RejectCase{"ContentLengthHex", kPost + "Content-Length: 0x10\r\n\r\n"},
        RejectCase{"ContentLengthOverflow",
                   kPost + "Content-Length: 99999999999999999999999\r\n\r\n"},
        RejectCase{"TransferEncodingGzip", kPost + "Transfer-Encoding: gzip\r\n\r\nabc"},
        RejectCase{"TransferEncodingChunkedNotLast",
                   kPost + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"},
        RejectCase{"TransferEncodingIdentity", kPost + "Transfer-Encoding: identity\r\n\r\n"},
        RejectCase{
            "TransferEncodingTwice",
            kPost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n"},
        RejectCase{
            "TransferEncodingChunkedTwice",
            kPost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        RejectCase{"TransferEncodingNotAToken", kPost + "Transfer-Encoding: xchunked\r\n\r\n"},
        RejectCase{"TransferEncodingEmpty", kPost + "Transfer-Encoding:\r\n\r\n0\r\n\r\n"},
        RejectCase{"TransferEncodingBlank", kPost + "Transfer-Encoding: \t \r\n\r\n"},
        RejectCase{"TransferEncodingOnlyCommas", kPost + "Transfer-Encoding: , ,\r\n\r\n"},
        RejectCase{"ChunkSizeNotHex", kPost + "Transfer-Encoding: chunked\r\n\r\nzz\r\n"},
        RejectCase{"ChunkSizeNegative",
                   kPost + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n"},
        RejectCase{"ChunkSizeOverflow",
                   kPost + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\n"},
        RejectCase{"ChunkDataLongerThanSize",
                   kPost + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"},
        RejectCase{"ObsFold", "GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n"},
        RejectCase{"ObsFoldTab", "GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n\tb\r\n\r\n"},
        // llhttp takes a fold right after the colon for leading whitespace.
        RejectCase{"ObsFoldAfterColon",
                   "GET / HTTP/1.1\r\nX-Folded:\r\n Host: a\r\nHost: h\r\n\r\n"},
        RejectCase{"ObsFoldAfterColonAndSpace",
                   "GET / HTTP/1.1\r\nHost: h\r\nX-Folded:  \r\n\tb\r\n\r\n"},
        RejectCase{"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n"},
        RejectCase{"TabBeforeColon", "GET / HTTP/1.1\r\nHost: h\r\nX-A\t: v\r\n\r\n"},
        RejectCase{"SpaceBeforeColonTransferEncoding",
                   kPost + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"},
        RejectCase{"BareCrInValue", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n"},
        RejectCase{"BareCrAfterRequestLine", "GET / HTTP/1.1\rHost: h\r\n\r\n"},
        RejectCase{"BareCrEndsHeader", "GET / HTTP/1.1\r\nHost: h\rX-A: b\r\n\r\n"},
        RejectCase{"NulInHeaderValue", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n"s},
        RejectCase{"NulInHeaderName", "GET / HTTP/1.1\r\nHost: h\r\nX-\0A: b\r\n\r\n"s},
        RejectCase{"NulInTarget", "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"s},
        RejectCase{"MissingHostHttp11", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"},
        RejectCase{"TwoHostHeaders", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
        RejectCase{"TwoHostHeadersSameValue", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"},
        RejectCase{"GarbageRequestLine", "HELLO\r\n\r\n"},
        RejectCase{"BadVersion", "GET / HTTP/1.x\r\nHost: h\r\n\r\n"},
        RejectCase{"TransferEncodingInHttp10",
                   "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        RejectCase{"HostWithSpace", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
        RejectCase{"HostWithSlash", "GET / HTTP/1.1\r\nHost: a.example/x\r\n\r\n"},
        RejectCase{"HostWithUserinfo", "GET / HTTP/1.1\r\nHost: u@a.example\r\n\r\n"},
        RejectCase{"HostWithBadPort", "GET / HTTP/1.1\r\nHost: a.example:80x\r\n\r\n"},
        RejectCase{"HostInHttp10Checked", "GET / HTTP/1.0\r\nHost: a\\b\r\n\r\n"},
        RejectCase{"AbsoluteFormWithUserinfo",
                   "GET http://u@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n"},
        RejectCase{"AbsoluteFormWithEmptyHost", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"},
        RejectCase{"FragmentInTarget", "GET /public#/../admin HTTP/1.1\r\nHost: h\r\n\r\n"},
        RejectCase{"FragmentAfterQuery", "GET /a?b#c HTTP/1.1\r\nHost: h\r\n\r\n"}),
    [](const testing::TestParamInfo<RejectCase>& param_info) { return param_info.param.name; });

TEST(MessageParserRequest, Http20OnAnHttp1RequestLineIs505) {
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run(p, "GET / HTTP/2.0\r\nHost: h\r\n\r\n").status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 505);
  // Versions llhttp does not know at all stay a 400, as any malformed version.
  EXPECT_EQ(run(p, "GET / HTTP/3.1\r\nHost: h\r\n\r\n").status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 400);
}

// RFC 9112 6.1: a coding before chunked is one the proxy cannot check: 501, as nginx and Envoy
// answer. Empty list elements and the case of "chunked" do not matter (RFC 9110 5.6.1, RFC 9112 7).
TEST(MessageParserRequest, ACodingBeforeChunkedIs501) {
  for (const std::string_view coding : {"gzip, chunked", "gzip,chunked", ", x ,chunked"}) {
    expect_refused_whole_and_byte_by_byte("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " +
                                              std::string(coding) + "\r\n\r\n0\r\n\r\n",
                                          501);
  }
}

TEST(MessageParserRequest, ChunkedInAnySpellingIsChunked) {
  for (const std::string_view coding : {",chunked", " , ,chunked", "ChUnKeD", "CHUNKED"}) {
    const std::string text =
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + std::string(coding) +
        "\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    MessageParser p(MessageKind::kRequest);
    const Outcome o = run(p, text);
    EXPECT_EQ(o.status, ParseStatus::kMessageComplete) << coding;
    EXPECT_TRUE(p.chunked()) << coding;
    EXPECT_EQ(o.used, text.size()) << coding;
  }
}

// RFC 9110 9.1: a method is any token, and a proxy forwards one it does not know (nginx and
// HAProxy do). llhttp 8.1 knows a fixed list; the parser reads the others past it, in nginx's
// alphabet, framed as any request is.
TEST(MessageParserRequest, ExtensionMethodsAreReadWholeAndByteByByte) {
  for (const std::string& method :
       std::vector<std::string>{"QUERY", "PURGE-ALL", "X_Y", "A", std::string(32, 'Z')}) {
    const std::string text = method +
                             " /x?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                             "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    for (const bool bytewise : {false, true}) {
      MessageParser p(MessageKind::kRequest);
      const Outcome o = bytewise ? run_bytewise(p, text) : run(p, text);
      EXPECT_EQ(o.status, ParseStatus::kMessageComplete) << method << bytewise;
      EXPECT_EQ(p.method_name(), method) << bytewise;
      EXPECT_TRUE(p.extension_method()) << method;
      EXPECT_EQ(p.method(), HTTP_POST) << method;  // framed by its fields, not idempotent
      EXPECT_EQ(p.target(), "/x?q=1") << method << bytewise;
      EXPECT_EQ(p.host(), "h") << method;
      EXPECT_EQ(p.body_bytes(), 3u) << method;
      EXPECT_EQ(o.used,
                text.size() - std::string_view("GET /next HTTP/1.1\r\nHost: h\r\n\r\n").size())
          << method << bytewise;
    }
  }
  const std::string chunked =
      "QUERY / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n";
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run_bytewise(p, chunked).status, ParseStatus::kMessageComplete);
  EXPECT_EQ(p.method_name(), "QUERY");
  EXPECT_TRUE(p.chunked());
}

TEST(MessageParserRequest, MethodsLlhttpKnowsStayItsOwn) {
  for (const std::string method : {"GET", "M-SEARCH", "PROPFIND", "PURGE", "DELETE"}) {
    const std::string text = method + " / HTTP/1.1\r\nHost: h\r\n\r\n";
    MessageParser p(MessageKind::kRequest);
    EXPECT_EQ(run_bytewise(p, text).status, ParseStatus::kMessageComplete) << method;
    EXPECT_EQ(p.method_name(), method);
    EXPECT_FALSE(p.extension_method()) << method;
  }
}

// Lower case is refused as nginx refuses it: "head" is not HEAD to the proxy, which would wait
// for a body a lenient server that reads it as HEAD never sends. So are other tokens outside the
// alphabet, a method longer than 32, and one not followed by a space. (Spaces after one are
// llhttp's to judge, as after GET: it takes several, as nginx and HAProxy do.)
TEST(MessageParserRequest, OtherMethodTokensAreRefused) {
  for (const std::string& method : std::vector<std::string>{
           "get", "Query", "FOO1", "FOO.BAR", std::string(33, 'Z'), "FOO\t", "FOO\r\n"}) {
    expect_refused_whole_and_byte_by_byte(method + " / HTTP/1.1\r\nHost: h\r\n\r\n");
  }
}

TEST(MessageParserRequest, EmptyHostAndAbsoluteFormAreAccepted) {
  for (const std::string_view text :
       {"GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
        "GET http://a.example:81/x HTTP/1.1\r\nHost: b.example\r\n\r\n",
        "GET http://a.example?q HTTP/1.1\r\nHost: a.example\r\n\r\n"}) {
    MessageParser p(MessageKind::kRequest);
    EXPECT_EQ(run(p, text).status, ParseStatus::kMessageComplete) << text;
  }
}

TEST(MessageParserRequest, HostIsTheAuthorityOfAnAbsoluteTargetOrTheHostField) {
  MessageParser p(MessageKind::kRequest);
  ASSERT_EQ(run(p, "GET /x HTTP/1.1\r\nAccept: */*\r\nHost: b.example\r\n\r\n").status,
            ParseStatus::kMessageComplete);
  EXPECT_EQ(p.host(), "b.example");
  EXPECT_FALSE(p.host_from_target());
  ASSERT_EQ(run(p, "GET http://a.example:81/x HTTP/1.1\r\nHost: b.example\r\n\r\n").status,
            ParseStatus::kMessageComplete);
  EXPECT_EQ(p.host(), "a.example:81");
  EXPECT_TRUE(p.host_from_target());
  ASSERT_EQ(run(p, "GET / HTTP/1.0\r\n\r\n").status, ParseStatus::kMessageComplete);
  EXPECT_EQ(p.host(), "");
}

TEST(MessageParserLimits, TargetOverRequestLineIs414) {
  ParseLimits limits;
  limits.request_line = 32;
  const std::string text = "GET /" + std::string(40, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n";
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run(p, text, limits).status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 414);
  EXPECT_EQ(run_bytewise(p, text, limits).status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 414);
  // The target alone, still incomplete, is refused as soon as it passes the limit.
  const std::string partial = "GET /" + std::string(40, 'a');
  EXPECT_EQ(run(p, partial, limits).status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 414);
}

TEST(MessageParserLimits, TargetAtRequestLineLimitIsAccepted) {
  ParseLimits limits;
  limits.request_line = 32;
  const std::string text = "GET /" + std::string(31, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n";
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run(p, text, limits).status, ParseStatus::kMessageComplete);
  EXPECT_EQ(p.target().size(), 32u);
}

TEST(MessageParserLimits, HeadOverHeaderBlockIs431) {
  ParseLimits limits;
  limits.header_block = 128;
  const std::string text =
      "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(200, 'v') + "\r\n\r\n";
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run(p, text, limits).status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 431);
  EXPECT_EQ(run_bytewise(p, text, limits).status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 431);
  // A head that never ends is refused once it passes the limit.
  const std::string endless = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(200, 'v');
  EXPECT_EQ(run(p, endless, limits).status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 431);
}

TEST(MessageParserLimits, HeadAtHeaderBlockLimitIsAccepted) {
  const std::string text =
      "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + std::string(50, 'v') + "\r\n\r\n";
  ParseLimits limits;
  limits.header_block = static_cast<uint32_t>(text.size());
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run(p, text, limits).status, ParseStatus::kMessageComplete);
  EXPECT_EQ(run_bytewise(p, text, limits).status, ParseStatus::kMessageComplete);
}

std::string request_with_fields(int count) {
  std::string text = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 1; i < count; ++i) text += "X-F" + std::to_string(i) + ": v\r\n";
  return text + "\r\n";
}

TEST(MessageParserLimits, MoreFieldsThanHeaderCountIs431) {
  ParseLimits limits;
  limits.header_count = 10;
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run(p, request_with_fields(10), limits).status, ParseStatus::kMessageComplete);
  EXPECT_EQ(p.header_count(), 10u);
  EXPECT_EQ(run(p, request_with_fields(11), limits).status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 431);
  EXPECT_EQ(run_bytewise(p, request_with_fields(11), limits).status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 431);
}

TEST(MessageParserLimits, HeaderCountIsCappedAtKMaxHeaders) {
  ParseLimits limits;
  limits.header_count = 100000;
  limits.header_block = 1 << 20;
  MessageParser p(MessageKind::kRequest);
  const int max = static_cast<int>(MessageParser::kMaxHeaders);
  EXPECT_EQ(run(p, request_with_fields(max), limits).status, ParseStatus::kMessageComplete);
  EXPECT_EQ(run(p, request_with_fields(max + 1), limits).status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 431);
}

TEST(MessageParserLimits, ContentLengthOverBodySizeIs413) {
  ParseLimits limits;
  limits.body_size = 10;
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run(p, kPost + "Content-Length: 10\r\n\r\n0123456789", limits).status,
            ParseStatus::kMessageComplete);
  // Refused at the head, before any body byte arrives.
  EXPECT_EQ(run(p, kPost + "Content-Length: 11\r\n\r\n", limits).status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 413);
}

TEST(MessageParserLimits, ChunkedTotalOverBodySizeIs413) {
  ParseLimits limits;
  limits.body_size = 10;
  const std::string head = kPost + "Transfer-Encoding: chunked\r\n\r\n";
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run(p, head + "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", limits).status,
            ParseStatus::kMessageComplete);
  const std::string over = head + "5\r\nhello\r\n5\r\nworld\r\n1\r\n!\r\n0\r\n\r\n";
  EXPECT_EQ(run(p, over, limits).status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 413);
  EXPECT_EQ(run_bytewise(p, over, limits).status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 413);
}

TEST(MessageParserLimits, BodySizeZeroIsUnlimited) {
  MessageParser p(MessageKind::kRequest);
  const std::string body(100000, 'b');
  EXPECT_EQ(run(p, kPost + "Content-Length: 100000\r\n\r\n" + body).status,
            ParseStatus::kMessageComplete);
  EXPECT_EQ(p.body_bytes(), 100000u);
}

TEST(MessageParserRequest, RebaseAfterMoveKeepsSpans) {
  // The proxy compacts its buffer while the head is incomplete: the head moves, offsets stay.
  std::vector<char> buffer(256, '#');
  const std::string part1 = "GET /moved HTTP/1.1\r\nHost: exa";
  const std::string part2 = "mple.com\r\nX-A: b\r\n\r\n";
  const size_t start = 100;
  std::memcpy(buffer.data() + start, part1.data(), part1.size());
  MessageParser p(MessageKind::kRequest);
  p.begin(buffer.data() + start, {});
  ASSERT_EQ(p.feed(buffer.data() + start, part1.size()), ParseStatus::kNeedMore);

  std::memmove(buffer.data(), buffer.data() + start, part1.size());
  std::memset(buffer.data() + part1.size(), '#', start);  // the old bytes are gone
  p.rebase(buffer.data());
  std::memcpy(buffer.data() + part1.size(), part2.data(), part2.size());
  ASSERT_EQ(p.feed(buffer.data() + part1.size(), part2.size()), ParseStatus::kMessageComplete);
  EXPECT_EQ(p.base(), buffer.data());
  EXPECT_EQ(p.target(), "/moved");
  ASSERT_EQ(p.header_count(), 2u);
  EXPECT_EQ(p.header_value(0), "example.com");
  EXPECT_EQ(p.header_name(1), "X-A");
  EXPECT_EQ(p.header_value(1), "b");
  EXPECT_EQ(p.head_length(), part1.size() + part2.size());
}

TEST(MessageParserRequest, ReusableAfterError) {
  MessageParser p(MessageKind::kRequest);
  EXPECT_EQ(run(p, "GET / HTTP/1.1\r\n\r\n").status, ParseStatus::kError);
  EXPECT_EQ(run(p, kSimpleGet).status, ParseStatus::kMessageComplete);
  EXPECT_EQ(p.error_status(), 0);
  expect_simple_get(p);
}

// --- responses ---

TEST(MessageParserResponse, ContentLengthBody) {
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n";
  const std::string buffer = head + "hello" + "HTTP/1.1 204 No Content\r\n\r\n";
  MessageParser p(MessageKind::kResponse);
  p.begin(buffer.data(), {});
  ASSERT_EQ(p.feed(buffer.data(), buffer.size()), ParseStatus::kHeadComplete);
  EXPECT_EQ(p.consumed(), head.size());
  EXPECT_EQ(p.head_length(), head.size());
  EXPECT_EQ(p.status_code(), 200);
  EXPECT_EQ(p.reason(), "OK");
  EXPECT_EQ(p.version_minor(), 1);
  EXPECT_EQ(p.content_length(), 5u);
  EXPECT_FALSE(p.body_until_close());
  ASSERT_EQ(p.header_count(), 2u);
  EXPECT_EQ(p.header_value(1), "5");
  ASSERT_EQ(p.feed(buffer.data() + head.size(), buffer.size() - head.size()),
            ParseStatus::kMessageComplete);
  EXPECT_EQ(p.consumed(), 5u);
  EXPECT_EQ(p.body_bytes(), 5u);
  EXPECT_TRUE(p.keep_alive());
}

TEST(MessageParserResponse, ByteByByteHead) {
  const std::string text = "HTTP/1.1 404 Not Found\r\nServer: x\r\nContent-Length: 3\r\n\r\nabc";
  MessageParser p(MessageKind::kResponse);
  const Outcome o = run_bytewise(p, text);
  EXPECT_TRUE(o.saw_head_complete);
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(o.used, text.size());
  EXPECT_EQ(p.status_code(), 404);
  EXPECT_EQ(p.reason(), "Not Found");
  EXPECT_EQ(header(p, "server"), "x");
  EXPECT_EQ(p.head_length(), text.size() - 3);
}

TEST(MessageParserResponse, ChunkedBody) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string body = "3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
  MessageParser p(MessageKind::kResponse);
  const Outcome o = run(p, head + body + "junk");
  EXPECT_TRUE(o.saw_head_complete);
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(o.used, head.size() + body.size());
  EXPECT_TRUE(p.chunked());
  EXPECT_EQ(p.body_bytes(), 3u);
}

TEST(MessageParserResponse, HeadRequestEndsAtHead) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  const std::string buffer = head + "HTTP/1.1 200 OK\r\n";
  MessageParser p(MessageKind::kResponse);
  p.begin(buffer.data(), {}, /*no_body=*/true);
  ASSERT_EQ(p.feed(buffer.data(), buffer.size()), ParseStatus::kMessageComplete);
  EXPECT_EQ(p.consumed(), head.size());
  EXPECT_EQ(p.head_length(), head.size());
  EXPECT_EQ(p.body_bytes(), 0u);
  EXPECT_TRUE(p.keep_alive());
  EXPECT_FALSE(p.body_until_close());
}

TEST(MessageParserResponse, HeadRequestChunkedOrUnframedEndsAtHead) {
  MessageParser p(MessageKind::kResponse);
  for (const std::string& head : {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"s,
                                  "HTTP/1.1 200 OK\r\nServer: s\r\n\r\n"s}) {
    const Outcome o = run(p, head + "more", {}, /*no_body=*/true);
    EXPECT_EQ(o.status, ParseStatus::kMessageComplete) << head;
    EXPECT_EQ(o.used, head.size()) << head;
    EXPECT_FALSE(p.body_until_close()) << head;
    EXPECT_TRUE(p.keep_alive()) << head;
  }
}

class MessageParserNoBodyStatus : public testing::TestWithParam<int> {};

TEST_P(MessageParserNoBodyStatus, EndsAtHead) {
  const std::string head = "HTTP/1.1 " + std::to_string(GetParam()) + " X\r\nETag: \"e\"\r\n\r\n";
  MessageParser p(MessageKind::kResponse);
  const Outcome o = run(p, head + "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(o.used, head.size());
  EXPECT_FALSE(p.body_until_close());
  EXPECT_TRUE(p.keep_alive());
  EXPECT_FALSE(p.has_body());
}

INSTANTIATE_TEST_SUITE_P(All, MessageParserNoBodyStatus, testing::Values(204, 304));

TEST(MessageParserResponse, NotModifiedWithContentLengthEndsAtHead) {
  // RFC 9110 8.6: a 304 may carry the Content-Length of the representation it stands for;
  // no body follows.
  const std::string head = "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n";
  const std::string buffer = head + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  MessageParser p(MessageKind::kResponse);
  const Outcome o = run(p, buffer);
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(o.used, head.size());
}

TEST(MessageParserResponse, InterimThenFinal) {
  const std::string interim1 = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string interim2 = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n";
  const std::string final_head = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n";
  const std::string buffer = interim1 + interim2 + final_head + "ok";
  MessageParser p(MessageKind::kResponse);

  p.begin(buffer.data(), {});
  ASSERT_EQ(p.feed(buffer.data(), buffer.size()), ParseStatus::kMessageComplete);
  EXPECT_EQ(p.status_code(), 100);
  EXPECT_EQ(p.consumed(), interim1.size());
  size_t at = p.consumed();

  p.begin(buffer.data() + at, {});
  ASSERT_EQ(p.feed(buffer.data() + at, buffer.size() - at), ParseStatus::kMessageComplete);
  EXPECT_EQ(p.status_code(), 103);
  EXPECT_EQ(p.consumed(), interim2.size());
  EXPECT_EQ(header(p, "link"), "</s.css>; rel=preload");
  at += p.consumed();

  p.begin(buffer.data() + at, {});
  ASSERT_EQ(p.feed(buffer.data() + at, buffer.size() - at), ParseStatus::kHeadComplete);
  EXPECT_EQ(p.status_code(), 201);
  EXPECT_EQ(p.reason(), "Created");
  EXPECT_EQ(p.head_length(), final_head.size());
  at += p.consumed();
  ASSERT_EQ(p.feed(buffer.data() + at, buffer.size() - at), ParseStatus::kMessageComplete);
  EXPECT_EQ(at + p.consumed(), buffer.size());
}

TEST(MessageParserResponse, SwitchingProtocols) {
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  MessageParser p(MessageKind::kResponse);
  const Outcome o = run(p, head + "\x81\x02hi");
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(o.used, head.size());
  EXPECT_EQ(p.status_code(), 101);
  EXPECT_TRUE(p.upgrade());
}

TEST(MessageParserResponse, ReadUntilClose) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
  const std::string buffer = head + "some body";
  MessageParser p(MessageKind::kResponse);
  p.begin(buffer.data(), {});
  ASSERT_EQ(p.feed(buffer.data(), buffer.size()), ParseStatus::kHeadComplete);
  EXPECT_TRUE(p.body_until_close());
  EXPECT_FALSE(p.keep_alive());
  EXPECT_EQ(p.consumed(), head.size());
  ASSERT_EQ(p.feed(buffer.data() + head.size(), buffer.size() - head.size()),
            ParseStatus::kNeedMore);
  EXPECT_EQ(p.consumed(), buffer.size() - head.size());
  EXPECT_EQ(p.feed(" and more", 9), ParseStatus::kNeedMore);
  EXPECT_EQ(p.body_bytes(), 18u);
  EXPECT_EQ(p.finish(), ParseStatus::kMessageComplete);
  EXPECT_TRUE(p.message_complete());
  EXPECT_EQ(p.finish(), ParseStatus::kMessageComplete);  // idempotent
}

TEST(MessageParserResponse, ReadUntilCloseWithEmptyBody) {
  // The upstream sends the head and closes: no body byte is ever fed after kHeadComplete.
  const std::string head = "HTTP/1.0 200 OK\r\nServer: s\r\n\r\n";
  MessageParser p(MessageKind::kResponse);
  p.begin(head.data(), {});
  ASSERT_EQ(p.feed(head.data(), head.size()), ParseStatus::kHeadComplete);
  EXPECT_TRUE(p.body_until_close());
  EXPECT_EQ(p.finish(), ParseStatus::kMessageComplete);
  EXPECT_EQ(p.body_bytes(), 0u);
}

TEST(MessageParserResponse, Http10ResponseWithoutLengthReadsUntilClose) {
  MessageParser p(MessageKind::kResponse);
  const Outcome o = run(p, "HTTP/1.0 200 OK\r\n\r\nbody");
  EXPECT_EQ(o.status, ParseStatus::kNeedMore);
  EXPECT_TRUE(p.body_until_close());
  EXPECT_EQ(p.finish(), ParseStatus::kMessageComplete);
}

TEST(MessageParserResponse, FinishBeforeHeadCompleteIsError) {
  MessageParser p(MessageKind::kResponse);
  const std::string partial = "HTTP/1.1 200 OK\r\nContent-Le";
  p.begin(partial.data(), {});
  ASSERT_EQ(p.feed(partial.data(), partial.size()), ParseStatus::kNeedMore);
  EXPECT_EQ(p.finish(), ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 502);

  p.begin(partial.data(), {});  // nothing received at all
  EXPECT_EQ(p.finish(), ParseStatus::kError);
}

TEST(MessageParserResponse, FinishInsideContentLengthBodyIsError) {
  const std::string text = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
  MessageParser p(MessageKind::kResponse);
  const Outcome o = run(p, text);
  ASSERT_EQ(o.status, ParseStatus::kNeedMore);
  EXPECT_EQ(p.finish(), ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 502);
}

TEST(MessageParserResponse, FinishInsideChunkedBodyIsError) {
  MessageParser p(MessageKind::kResponse);
  const Outcome o = run(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
  ASSERT_EQ(o.status, ParseStatus::kNeedMore);
  EXPECT_EQ(p.finish(), ParseStatus::kError);
}

TEST(MessageParserResponse, GarbageStatusLineIs502) {
  MessageParser p(MessageKind::kResponse);
  for (const char* text : {"SSH-2.0-OpenSSH_9.2\r\n", "HTTP/1.1 abc OK\r\n\r\n", "<html>\r\n",
                           "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "HTTP/1.1 10 OK\r\n\r\n",
                           "HTTP/1.1 099 OK\r\n\r\n", "HTTP/1.1 1000 OK\r\n\r\n"}) {
    EXPECT_EQ(run(p, text).status, ParseStatus::kError) << text;
    EXPECT_EQ(p.error_status(), 502) << text;
  }
}

TEST(MessageParserResponse, ContentLengthAndChunkedIsError) {
  MessageParser p(MessageKind::kResponse);
  const Outcome o =
      run(p, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(o.status, ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 502);
}

TEST(MessageParserResponse, RebaseAfterMemmove) {
  // As the proxy does between an interim response and the final one: move the unparsed rest to
  // the start of the buffer.
  std::vector<char> buffer(128, '#');
  const std::string part1 = "HTTP/1.1 200 Fine\r\nX-Long-Name: v";
  const std::string part2 = "alue\r\nContent-Length: 0\r\n\r\n";
  const size_t start = 40;
  std::memcpy(buffer.data() + start, part1.data(), part1.size());
  MessageParser p(MessageKind::kResponse);
  p.begin(buffer.data() + start, {});
  ASSERT_EQ(p.feed(buffer.data() + start, part1.size()), ParseStatus::kNeedMore);
  std::memmove(buffer.data() + 3, buffer.data() + start, part1.size());
  std::memset(buffer.data() + 3 + part1.size(), '#', 40);
  p.rebase(buffer.data() + 3);
  std::memcpy(buffer.data() + 3 + part1.size(), part2.data(), part2.size());
  ASSERT_EQ(p.feed(buffer.data() + 3 + part1.size(), part2.size()), ParseStatus::kMessageComplete);
  EXPECT_EQ(p.reason(), "Fine");
  ASSERT_EQ(p.header_count(), 2u);
  EXPECT_EQ(p.header_name(0), "X-Long-Name");
  EXPECT_EQ(p.header_value(0), "value");
  EXPECT_EQ(p.header_value(1), "0");
  EXPECT_EQ(p.head_length(), part1.size() + part2.size());
}

TEST(MessageParserResponse, Http10ChunkedIsReadThenTheConnectionCloses) {
  // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing; the message is
  // read and the connection is not used again, whatever Connection says.
  const std::string text =
      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n";
  MessageParser p(MessageKind::kResponse);
  const Outcome o = run(p, text);
  EXPECT_EQ(o.status, ParseStatus::kMessageComplete);
  EXPECT_EQ(o.used, text.size());
  EXPECT_EQ(p.body_bytes(), 3u);
  EXPECT_FALSE(p.keep_alive());
  MessageParser same_in_11(MessageKind::kResponse);
  std::string text11 = text;
  text11.replace(0, 8, "HTTP/1.1");
  EXPECT_EQ(run(same_in_11, text11).status, ParseStatus::kMessageComplete);
  EXPECT_TRUE(same_in_11.keep_alive());
}

}  // namespace
}  // namespace sb::http

namespace sb {
namespace {

// A response whose Transfer-Encoding does not end in chunked is refused, not read to the close:
// a lenient client would take "chunked<TAB>" or "chunkedX" for chunked and read chunk framing
// that llhttp never checked.
TEST(MessageParserResponse, TransferEncodingNotChunkedLastIsRefused) {
  for (const std::string value : {"chunked\t", "chunkedX", "chunkedUpgrade: websocket", "gzip",
                                  "chunked, gzip", "identity", "", "  ", ","}) {
    const std::string bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + value + "\r\n\r\nabc";
    http::MessageParser parser(http::MessageKind::kResponse);
    parser.begin(bytes.data(), http::ParseLimits{});
    EXPECT_EQ(parser.feed(bytes.data(), bytes.size()), http::ParseStatus::kError) << value;
    EXPECT_EQ(parser.error_status(), 502) << value;
  }
  const std::string chunked_last =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  http::MessageParser parser(http::MessageKind::kResponse);
  parser.begin(chunked_last.data(), http::ParseLimits{});
  ASSERT_EQ(parser.feed(chunked_last.data(), chunked_last.size()),
            http::ParseStatus::kHeadComplete);
  EXPECT_TRUE(parser.chunked());
}

}  // namespace
}  // namespace sb
