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

#include "http/header_rewrite.hpp"
#include "http/message_parser.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define SB_FUZZ_ASAN 1
#endif
#endif

namespace {

using sb::http::iequals;
using sb::http::MessageKind;
using sb::http::MessageParser;
using sb::http::ParseLimits;
using sb::http::ParseStatus;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void poison(const char* p, size_t n) {
#ifdef SB_FUZZ_ASAN
  ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}

void unpoison(const char* p, size_t n) {
#ifdef SB_FUZZ_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}

struct Field {
  std::string_view name;
  std::string_view value;
};

// Splits a head the proxy wrote into its fields; traps unless it is start line, "name: value"
// lines and an empty line, and nothing after it.
std::vector<Field> written_fields(std::string_view head) {
  check(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n");
  check(head.substr(0, 9) == "HTTP/1.1 ");
  std::vector<Field> fields;
  size_t at = head.find("\r\n");
  check(at != std::string_view::npos);
  at += 2;
  for (;;) {
    const size_t eol = head.find("\r\n", at);
    check(eol != std::string_view::npos);
    const std::string_view line = head.substr(at, eol - at);
    at = eol + 2;
    if (line.empty()) break;
    const size_t colon = line.find(':');
    check(colon != std::string_view::npos && colon > 0);
    fields.push_back({line.substr(0, colon), line.substr(colon + 1)});
  }
  check(at == head.size());
  return fields;
}

bool is_hop_by_hop(std::string_view name) {
  for (const char* hop :
       {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"}) {
    if (iequals(name, hop)) return true;
  }
  return false;
}

// The field names the message's Connection fields list, as the rewriter honours them: framing
// and Host are never dropped, and only the first 16 names count.
std::vector<std::string_view> connection_tokens(const MessageParser& m) {
  std::vector<std::string_view> tokens;
  for (uint32_t i = 0; i < m.header_count(); ++i) {
    if (!iequals(m.header_name(i), "connection")) continue;
    std::string_view list = m.header_value(i);
    while (!list.empty() && tokens.size() < 16) {
      const size_t comma = list.find(',');
      std::string_view token = list.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
        token.remove_prefix(1);
      }
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
        token.remove_suffix(1);
      }
      if (!token.empty() && !iequals(token, "content-length") &&
          !iequals(token, "transfer-encoding") && !iequals(token, "host")) {
        tokens.push_back(token);
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return tokens;
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
  const std::vector<std::string_view> named = connection_tokens(response);
  for (const Field& field : fields) {
    if (upgrade && iequals(field.name, "upgrade")) continue;  // a 101 keeps Upgrade
    check(!is_hop_by_hop(field.name));
    for (std::string_view token : named) check(!iequals(field.name, token));
  }

  // The written head frames the body exactly as the upstream's did.
  MessageParser again(MessageKind::kResponse);
  ParseLimits generous;
  generous.header_block = 1 << 20;
  generous.header_count = MessageParser::kMaxHeaders;
  again.begin(out.data(), generous, no_body);
  const ParseStatus status = again.feed(out.data(), out.size());
  check(status == ParseStatus::kHeadComplete || status == ParseStatus::kMessageComplete);
  check(again.consumed() == out.size());
  check(again.status_code() == response.status_code());
  check(again.chunked() == response.chunked());
  check(again.has_content_length() == response.has_content_length());
  check(again.content_length() == response.content_length());
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
    const int code = parser.status_code();
    if (code == 101) break;  // the rest is the tunnel
    if (code / 100 != 1 && !parser.keep_alive()) break;
    begin = parsed;
    parser.begin(buffer + begin, limits, no_body);
  }
  unpoison(buffer, length);
  return 0;
}
