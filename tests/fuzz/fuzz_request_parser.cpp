// libFuzzer target for the request side: feeds the input to a request MessageParser in pieces, into
// one contiguous buffer, the way the proxy's session does (the body after kHeadComplete, the next
// pipelined request from the consumed offset after kMessageComplete), rewrites every complete head
// with build_upstream_request, and traps on a broken invariant.
//
// Input layout: byte 0 = option bits, bytes 1-4 = piece sizes used in turn (0 = all the rest),
// then the bytes the client sends. Bytes not yet "received" are poisoned under ASan, so reading
// past the fed data is caught.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "http/header_rewrite.hpp"
#include "http/message_parser.hpp"
#include "http/request_target.hpp"
#include "proxy/forwarded_client.hpp"

namespace {

using sb::fuzz::check;
using sb::fuzz::connection_tokens;
using sb::fuzz::Field;
using sb::fuzz::is_hop_by_hop;
using sb::fuzz::poison;
using sb::fuzz::unpoison;
using sb::fuzz::written_fields;
using sb::http::iequals;
using sb::http::MessageKind;
using sb::http::MessageParser;
using sb::http::ParseLimits;
using sb::http::ParseStatus;

// The spans of a complete head lie inside the bytes fed for this message.
void check_head(const MessageParser& m, size_t fed) {
  check(m.head_length() > 0 && m.head_length() <= fed);
  const auto inside = [&](const sb::http::Span& s) {
    check(static_cast<size_t>(s.offset) + s.length <= m.head_length());
  };
  check(m.header_count() <= MessageParser::kMaxHeaders);
  for (uint32_t i = 0; i < m.header_count(); ++i) {
    inside(m.header(i).name);
    inside(m.header(i).value);
    check(m.header(i).name.length > 0);
  }
  check(m.target().data() >= m.base() && m.target().data() + m.target().size() <= m.base() + fed);
}

void check_rewrite(const MessageParser& request, uint8_t options) {
  if (request.method() == HTTP_CONNECT) return;  // the session refuses CONNECT before rewriting
  const bool upgrade = (options & 0x20) != 0 || (request.upgrade() && request.method() == HTTP_GET);
  // An absolute-form target's authority goes out as the Host, in place of the client's.
  const std::string_view authority = sb::http::target_authority(request.target());
  // Option 0x40: the peer is a trusted proxy, whose X-Forwarded-For and -Proto are believed.
  static const std::vector<sb::Cidr> trusted{*sb::Cidr::parse("192.0.2.0/24")};
  static const sb::IpAddress peer = *sb::IpAddress::parse("192.0.2.1");
  std::array<char, sb::IpAddress::kTextSize> text{};
  const sb::proxy::ForwardedClient client = sb::proxy::forwarded_client(
      peer, "192.0.2.1", request,
      (options & 0x40) != 0 ? std::span<const sb::Cidr>(trusted) : std::span<const sb::Cidr>(),
      text);
  const sb::http::RequestRewrite rewrite{"192.0.2.1", (options & 0x02) != 0 ? "/override?q=1" : "",
                                         upgrade,     "fuzz-service",
                                         authority,   client.real_ip,
                                         client.proto};
  std::string out;
  sb::http::build_upstream_request(request, rewrite, out);
  std::vector<Field> fields = written_fields(out);
  // One X-Real-IP, an address, and one X-Forwarded-Proto, http or https, whatever the client sent.
  size_t real_ips = 0;
  size_t protos = 0;
  for (const Field& field : fields) {
    if (iequals(field.name, "x-real-ip")) {
      ++real_ips;
      check(sb::IpAddress::parse(field.value.substr(1)).has_value());  // the value follows ": "
    } else if (iequals(field.name, "x-forwarded-proto")) {
      ++protos;
      check(field.value == " http" || field.value == " https");
    }
  }
  check(real_ips == 1 && protos == 1);
  if (!authority.empty()) {
    size_t hosts = 0;
    for (const Field& field : fields) {
      if (!iequals(field.name, "host")) continue;
      ++hosts;
      check(field.value.substr(1) == authority);  // the value follows ": "
    }
    check(hosts == 1);
  }

  // The Connection and Upgrade fields the proxy adds itself for a WebSocket handshake.
  if (upgrade && fields.size() >= 2 && iequals(fields[fields.size() - 2].name, "connection") &&
      fields[fields.size() - 2].value == " upgrade" &&
      iequals(fields[fields.size() - 1].name, "upgrade")) {
    fields.resize(fields.size() - 2);
  }
  const std::vector<std::string_view> named = connection_tokens(request);
  for (const Field& field : fields) {
    check(!is_hop_by_hop(field.name));
    check(!iequals(field.name, "expect"));
    // The proxy writes its own X-Forwarded-*/X-Real-IP whatever the client's Connection names.
    if (iequals(field.name, "x-forwarded-for") || iequals(field.name, "x-real-ip") ||
        iequals(field.name, "x-forwarded-proto")) {
      continue;
    }
    for (std::string_view token : named) check(!iequals(field.name, token));
    // The framing fields go out in the one spelling every next hop reads (transfer_coding.hpp).
    if (iequals(field.name, "transfer-encoding")) check(field.value == " chunked");
    if (iequals(field.name, "content-length")) {
      check(field.value == " 0" || (field.value.size() > 1 && field.value[1] != '0'));
    }
    // No other spelling of the fields the proxy sets ("X_Real_IP") gets through.
    std::string dashed(field.name);
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    if (dashed != field.name) {
      check(!iequals(dashed, "x-forwarded-for") && !iequals(dashed, "x-real-ip") &&
            !iequals(dashed, "x-forwarded-proto"));
    }
  }

  // The written head frames the body exactly as the client's did: the proxy forwards the body
  // bytes as they came.
  MessageParser again(MessageKind::kRequest);
  ParseLimits generous;
  generous.request_line = 1 << 20;
  generous.header_block = 1 << 20;
  generous.header_count = MessageParser::kMaxHeaders;
  again.begin(out.data(), generous);
  const ParseStatus status = again.feed(out.data(), out.size());
  check(status == ParseStatus::kHeadComplete || status == ParseStatus::kMessageComplete);
  check(again.consumed() == out.size());
  check(again.head_length() == out.size());
  check(again.chunked() == request.chunked());
  check(again.has_content_length() == request.has_content_length());
  check(again.content_length() == request.content_length());
  check(again.method() == request.method());
  check(again.method_name() == request.method_name());
}

// What routing sees of the path is normal: it starts with '/', and normalizing it again changes
// nothing (an escape that must stay escaped is rewritten to itself).
void check_normal_path(const MessageParser& request) {
  using sb::http::PathCheck;
  const std::string_view path = sb::http::target_path(sb::http::origin_form(request.target()));
  std::string once;
  if (sb::http::normalize_path(path, once) != PathCheck::kNormalized) return;
  check(!once.empty() && once.front() == '/');
  std::string twice;
  const PathCheck again = sb::http::normalize_path(once, twice);
  check(again == PathCheck::kUnchanged || (again == PathCheck::kNormalized && twice == once));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kPreamble = 5;
  if (size < kPreamble) return 0;
  const uint8_t options = data[0];
  const std::array<uint8_t, 4> pieces{data[1], data[2], data[3], data[4]};
  const size_t length = size - kPreamble;

  // Heap copy of exactly the input, so ASan sees reads past its end; unreceived bytes poisoned.
  std::vector<char> storage(data + kPreamble, data + size);
  const char* buffer = storage.data();
  poison(buffer, length);

  ParseLimits limits;  // the defaults, or small ones that the fuzzer can reach
  if ((options & 0x01) != 0) {
    limits.request_line = 64;
    limits.header_block = 256;
    limits.header_count = 8;
    limits.body_size = 64;
  }

  MessageParser parser(MessageKind::kRequest);
  size_t begin = 0;   // first byte of the current message
  size_t parsed = 0;  // bytes the parser has consumed
  size_t end = 0;     // bytes received so far
  size_t turn = 0;
  bool stop = false;
  parser.begin(buffer + begin, limits);
  while (!stop) {
    if (parsed == end) {
      if (end == length) break;
      const size_t piece = pieces[turn++ % pieces.size()];
      const size_t n = piece == 0 ? length - end : std::min(piece, length - end);
      unpoison(buffer, end + n);
      end += n;
    }
    const bool head_was_complete = parser.head_complete();
    const size_t offered = end - parsed;
    const ParseStatus status = parser.feed(buffer + parsed, offered);
    if (status == ParseStatus::kError) {
      const int code = parser.error_status();
      check(code == 400 || code == 413 || code == 414 || code == 431 || code == 501 || code == 505);
      check(parser.error_reason() != nullptr && parser.error_reason()[0] != '\0');
      check(parser.feed(buffer + parsed, offered) == ParseStatus::kError);  // sticky
      break;  // the session answers and closes
    }
    check(parser.consumed() <= offered);
    if (status == ParseStatus::kNeedMore) check(parser.consumed() == offered);
    parsed += parser.consumed();
    check(parsed <= end);
    if (status == ParseStatus::kNeedMore) continue;

    if (!head_was_complete) {
      check(parser.head_complete());
      // The head ends exactly where the parser paused.
      check(parser.head_length() == parsed - begin);
      check_head(parser, end - begin);
      check_rewrite(parser, options);
      check_normal_path(parser);
      if (parser.method() == HTTP_CONNECT) break;
    }
    if (status == ParseStatus::kHeadComplete) {
      check(!parser.message_complete());
      check(parser.has_body());
      continue;
    }
    check(status == ParseStatus::kMessageComplete && parser.message_complete());
    check(parser.head_length() <= parsed - begin);
    if (parser.has_content_length() && !parser.chunked()) {
      check(parser.body_bytes() == parser.content_length());
      check(parser.head_length() + parser.content_length() == parsed - begin);
    }
    if (limits.body_size != 0) check(parser.body_bytes() <= limits.body_size);
    if (parser.upgrade()) stop = true;  // the rest belongs to the tunnel
    if (!parser.keep_alive()) stop = true;
    begin = parsed;
    parser.begin(buffer + begin, limits);
  }
  unpoison(buffer, length);
  return 0;
}
