// libFuzzer target for the plain fast path (src/http/plain_head.hpp): parses the input with two
// MessageParsers, one that tries the fast path first and one that only uses llhttp, and traps on
// any difference in what they report: status, bytes consumed, errors, every head field, framing,
// keep-alive, body counts. Where the fast path declines, both run llhttp; where it accepts, llhttp
// must read exactly the same message.
//
// Input layout (as the other targets): byte 0 = option bits, bytes 1-4 = sizes of the pieces
// after each message's first input (0 = all the rest), then the bytes of one connection. A
// message's first input is all that is there (the fast path only ever sees whole inputs); input
// starting with "HTTP/" is parsed as responses, anything else as requests.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "http/message_parser.hpp"

namespace {

using sb::fuzz::check;
using sb::http::HeadPath;
using sb::http::MessageKind;
using sb::http::MessageParser;
using sb::http::ParseLimits;
using sb::http::ParseStatus;

void check_same_head(const MessageParser& a, const MessageParser& b, MessageKind kind) {
  check(a.head_length() == b.head_length());
  check(a.version_major() == b.version_major() && a.version_minor() == b.version_minor());
  if (kind == MessageKind::kRequest) {
    check(a.method() == b.method() && a.method_name() == b.method_name());
    check(a.target() == b.target());
  } else {
    check(a.status_code() == b.status_code());
    check(a.reason() == b.reason());
  }
  check(a.header_count() == b.header_count());
  for (uint32_t i = 0; i < a.header_count(); ++i) {
    check(a.header_name(i) == b.header_name(i));
    check(a.header_value(i) == b.header_value(i));
  }
  check(a.chunked() == b.chunked() && a.has_content_length() == b.has_content_length());
  check(a.content_length() == b.content_length() && a.has_body() == b.has_body());
  check(a.upgrade() == b.upgrade() && a.body_until_close() == b.body_until_close());
}

void check_same(const MessageParser& a, ParseStatus sa, const MessageParser& b, ParseStatus sb,
                MessageKind kind) {
  check(sa == sb);
  if (sa == ParseStatus::kError) {
    check(a.error_status() == b.error_status());
    check(std::strcmp(a.error_reason(), b.error_reason()) == 0);
    return;
  }
  check(a.consumed() == b.consumed());
  check(a.head_complete() == b.head_complete() && a.message_complete() == b.message_complete());
  if (a.head_complete()) check_same_head(a, b, kind);
  check(a.body_bytes() == b.body_bytes());
  if (a.head_complete()) check(a.keep_alive() == b.keep_alive());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kPreamble = 5;
  if (size < kPreamble) return 0;
  const uint8_t options = data[0];
  const std::array<uint8_t, 4> pieces{data[1], data[2], data[3], data[4]};
  const std::vector<char> bytes(data + kPreamble, data + size);
  const char* buffer = bytes.data();
  const size_t length = bytes.size();
  const bool response = std::string_view(buffer, length).substr(0, 5) == "HTTP/";
  const MessageKind kind = response ? MessageKind::kResponse : MessageKind::kRequest;
  const bool no_body = (options & 0x04) != 0;
  ParseLimits limits;
  if ((options & 0x01) != 0) limits = {24, 96, 4, 64};  // small: the limits' own paths
  if (response) limits.request_line = 0;

  MessageParser fast(kind, HeadPath::kPlainFirst);
  MessageParser slow(kind, HeadPath::kLlhttpOnly);
  size_t begin = 0;
  for (int message = 0; message < 8 && begin < length; ++message) {
    fast.begin(buffer + begin, limits, no_body);
    slow.begin(buffer + begin, limits, no_body);
    size_t parsed = begin;
    size_t turn = 0;
    bool first = true;
    for (;;) {
      size_t offered = length - parsed;
      if (!first) {
        const size_t piece = pieces[turn++ % pieces.size()];
        if (piece != 0 && piece < offered) offered = piece;
      }
      first = false;
      const ParseStatus a = fast.feed(buffer + parsed, offered);
      const ParseStatus b = slow.feed(buffer + parsed, offered);
      check_same(fast, a, slow, b, kind);
      if (a == ParseStatus::kError) return 0;
      parsed += fast.consumed();
      if (a == ParseStatus::kMessageComplete) break;
      if (parsed == length) {
        const ParseStatus fa = fast.finish();
        const ParseStatus fb = slow.finish();
        check_same(fast, fa, slow, fb, kind);
        return 0;
      }
    }
    if (!fast.keep_alive() || fast.upgrade()) return 0;
    begin = parsed;
  }
  return 0;
}
