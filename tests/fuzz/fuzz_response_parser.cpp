// libFuzzer target for the response side: feeds the input to a response MessageParser in pieces,
// into one contiguous buffer, the way the session relays an upstream response (interim 1xx heads,
// then the final one, its body, the next response on a kept-alive connection, finish() when the
// upstream closes), rewrites every head with build_client_response, and traps on a broken
// invariant.
//
// Input layout: byte 0 = option bits, bytes 1-4 = piece sizes used in turn (0 = all the rest),
// then the bytes the upstream sends. Bytes not yet "received" are poisoned under ASan.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "http/header_rewrite.hpp"
#include "http/message_parser.hpp"

namespace {

using sb::fuzz::check;
using sb::fuzz::connection_tokens;
using sb::fuzz::Field;
using sb::fuzz::is_hop_by_hop;
using sb::fuzz::poison;
using sb::fuzz::unpoison;
using sb::http::iequals;
using sb::http::MessageKind;
using sb::http::MessageParser;
using sb::http::ParseLimits;
using sb::http::ParseStatus;

// The fields of a response head the proxy wrote; it always writes an HTTP/1.1 status line.
std::vector<Field> written_fields(std::string_view head) {
  check(head.substr(0, 9) == "HTTP/1.1 ");
  return sb::fuzz::written_fields(head);
}

// The spans of a complete head lie inside the bytes fed for this message.
void check_head(const MessageParser& m, size_t fed) {
  check(m.head_length() > 0 && m.head_length() <= fed);
  check(m.header_count() <= MessageParser::kMaxHeaders);
  const auto inside = [&](const sb::http::Span& s) {
    check(static_cast<size_t>(s.offset) + s.length <= m.head_length());
  };
  for (uint32_t i = 0; i < m.header_count(); ++i) {
    inside(m.header(i).name);
    inside(m.header(i).value);
    check(m.header(i).name.length > 0);
  }
  check(m.reason().data() >= m.base() && m.reason().data() + m.reason().size() <= m.base() + fed);
  check(m.status_code() >= 100 && m.status_code() <= 999);
}

void check_rewrite(const MessageParser& response, uint8_t options, bool no_body) {
  const bool upgrade = response.status_code() == 101 && (options & 0x20) != 0;
  const sb::http::ResponseRewrite rewrite{(options & 0x08) != 0, (options & 0x10) != 0, upgrade};
  std::string out;
  sb::http::build_client_response(response, rewrite, out);
  std::vector<Field> fields = written_fields(out);
  // The status line carries no control byte but its CRLF (a reason phrase with one goes empty).
  const size_t line_end = out.find("\r\n");
  check(line_end != std::string::npos);
  for (size_t i = 0; i < line_end; ++i) {
    const auto byte = static_cast<unsigned char>(out[i]);
    check((byte >= 0x20 && byte != 0x7f) || byte == '\t');
  }

  // The Connection field the proxy adds itself comes last.
  const char* added = upgrade                 ? " upgrade"
                      : rewrite.close         ? " close"
                      : rewrite.keep_alive_10 ? " keep-alive"
                                              : nullptr;
  if (added != nullptr) {
    check(!fields.empty() && iequals(fields.back().name, "connection") &&
          fields.back().value == added);
    fields.pop_back();
  }
  // A 1xx or a 204 has no body, and goes out without length fields (RFC 9110 8.6).
  const bool no_length = response.status_code() < 200 || response.status_code() == 204;
  const std::vector<std::string_view> named = connection_tokens(response);
  for (const Field& field : fields) {
    check(!no_length ||
          !(iequals(field.name, "content-length") || iequals(field.name, "transfer-encoding")));
    // The framing fields go out in their canonical spelling (transfer_coding.hpp): "chunked"
    // last and in lower case, no empty list element, and a length without leading zeros.
    if (iequals(field.name, "transfer-encoding")) {
      const std::string_view value = field.value;
      check(value.size() >= 8 && value.substr(value.size() - 8) == " chunked");
      check(value.find(",,") == std::string_view::npos &&
            value.find(", ,") == std::string_view::npos);
    }
    if (iequals(field.name, "content-length")) {
      check(field.value == " 0" || (field.value.size() > 1 && field.value[1] != '0'));
    }
    if (upgrade && iequals(field.name, "upgrade")) continue;  // a 101 keeps Upgrade
    check(!is_hop_by_hop(field.name));
    for (std::string_view token : named) check(!iequals(field.name, token));
  }

  // The written head frames the body exactly as the upstream's did (with no length fields
  // where there is no body).
  MessageParser again(MessageKind::kResponse);
  ParseLimits generous;
  generous.header_block = 1 << 20;
  generous.header_count = MessageParser::kMaxHeaders;
  again.begin(out.data(), generous, no_body);
  const ParseStatus status = again.feed(out.data(), out.size());
  check(status == ParseStatus::kHeadComplete || status == ParseStatus::kMessageComplete);
  check(again.consumed() == out.size());
  check(again.status_code() == response.status_code());
  check(again.chunked() == (response.chunked() && !no_length));
  check(again.has_content_length() == (response.has_content_length() && !no_length));
  check(again.content_length() == (no_length ? 0 : response.content_length()));
  check(again.body_until_close() == response.body_until_close());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kPreamble = 5;
  if (size < kPreamble) return 0;
  const uint8_t options = data[0];
  const bool no_body = (options & 0x04) != 0;  // the request was HEAD
  const std::array<uint8_t, 4> pieces{data[1], data[2], data[3], data[4]};
  const size_t length = size - kPreamble;

  std::vector<char> storage(data + kPreamble, data + size);
  const char* buffer = storage.data();
  poison(buffer, length);

  // As the session parses responses: no request-line limit, the head limited by the buffer.
  ParseLimits limits{0, (options & 0x01) != 0 ? 256u : 16u * 1024, MessageParser::kMaxHeaders, 0};

  MessageParser parser(MessageKind::kResponse);
  size_t begin = 0;
  size_t parsed = 0;
  size_t end = 0;
  size_t turn = 0;
  bool stop = false;
  parser.begin(buffer + begin, limits, no_body);
  while (!stop) {
    if (parsed == end) {
      if (end == length) {
        // The upstream closed.
        const bool until_close = parser.head_complete() && parser.body_until_close();
        const ParseStatus status = parser.finish();
        if (until_close) check(status == ParseStatus::kMessageComplete);
        if (!parser.head_complete()) check(status == ParseStatus::kError);
        if (status == ParseStatus::kError) check(parser.error_status() == 502);
        break;
      }
      const size_t piece = pieces[turn++ % pieces.size()];
      const size_t n = piece == 0 ? length - end : std::min(piece, length - end);
      unpoison(buffer, end + n);
      end += n;
    }
    const bool head_was_complete = parser.head_complete();
    const size_t offered = end - parsed;
    const ParseStatus status = parser.feed(buffer + parsed, offered);
    if (status == ParseStatus::kError) {
      // The session answers the client 502 whatever the status; the adapter's own header checks
      // report 400 for responses too.
      const int code = parser.error_status();
      check(code == 502 || code == 431 || code == 400);
      check(parser.feed(buffer + parsed, offered) == ParseStatus::kError);
      break;
    }
    check(parser.consumed() <= offered);
    if (status == ParseStatus::kNeedMore) check(parser.consumed() == offered);
    parsed += parser.consumed();
    check(parsed <= end);
    if (status == ParseStatus::kNeedMore) continue;

    if (!head_was_complete) {
      check(parser.head_complete());
      check(parser.head_length() == parsed - begin);
      check_head(parser, end - begin);
      check_rewrite(parser, options, no_body);
      const int code = parser.status_code();
      const bool bodiless = no_body || code / 100 == 1 || code == 204 || code == 304;
      check(!bodiless || status == ParseStatus::kMessageComplete);
      if (bodiless) check(!parser.body_until_close());
    }
    if (status == ParseStatus::kHeadComplete) {
      check(!parser.message_complete());
      continue;
    }
    check(status == ParseStatus::kMessageComplete && parser.message_complete());
    check(!parser.body_until_close());  // only finish() ends those
    if (parser.has_content_length() && !parser.chunked() && !no_body &&
        parser.status_code() / 100 != 1 && parser.status_code() != 204 &&
        parser.status_code() != 304) {
      check(parser.body_bytes() == parser.content_length());
      check(parser.head_length() + parser.content_length() == parsed - begin);
    }
    // RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding is faulty framing; its
    // connection is never used again.
    if (parser.version_major() == 1 && parser.version_minor() == 0 && parser.chunked()) {
      check(!parser.keep_alive());
    }
    const int code = parser.status_code();
    if (code == 101) break;  // the rest is the tunnel
    if (code / 100 != 1 && !parser.keep_alive()) break;
    begin = parsed;
    parser.begin(buffer + begin, limits, no_body);
  }
  unpoison(buffer, length);
  return 0;
}
