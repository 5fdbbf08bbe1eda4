#include "http/message_parser.hpp"

#include <algorithm>
#include <cstring>

#include "http/plain_head.hpp"
#include "http/request_method.hpp"
#include "http/request_target.hpp"
#include "http/text.hpp"
#include "http/transfer_coding.hpp"

namespace sb::http {

namespace {

// Whether [from, to) holds a CR or an LF.
bool has_line_break(const char* from, const char* to) {
  for (; from < to; ++from) {
    if (*from == '\r' || *from == '\n') return true;
  }
  return false;
}

// Whether a field value's bytes hold a line break (obs-fold, RFC 9112 5.2, a classic smuggling
// vector) or a NUL.
bool has_break_or_nul(const char* from, const char* to) {
  return has_line_break(from, to) ||
         std::memchr(from, '\0', static_cast<size_t>(to - from)) != nullptr;
}

// Whether the message ends with its head: llhttp knows it too, but deciding it here lets the
// parser pause only where a body follows.
bool head_ends_message(const llhttp_t& p, MessageKind kind, bool no_body) {
  const bool chunked = (p.flags & F_CHUNKED) != 0;
  const bool length = (p.flags & F_CONTENT_LENGTH) != 0;
  if (kind == MessageKind::kRequest) return !chunked && (!length || p.content_length == 0);
  const int status = p.status_code;
  if (no_body || status / 100 == 1 || status == 204 || status == 304) return true;
  return !chunked && length && p.content_length == 0;
}

}  // namespace

MessageParser::MessageParser(MessageKind kind, HeadPath path) : kind_(kind), path_(path) {
  llhttp_settings_init(&settings_);
  settings_.on_url = on_url;
  settings_.on_status = on_status;
  settings_.on_header_field = on_header_field;
  settings_.on_header_field_complete = on_header_field_complete;
  settings_.on_header_value = on_header_value;
  settings_.on_header_value_complete = on_header_value_complete;
  settings_.on_headers_complete = on_headers_complete;
  settings_.on_body = on_body;
  settings_.on_chunk_header = on_chunk_header;
  settings_.on_message_complete = on_message_complete;
}

void MessageParser::begin(const char* base, const ParseLimits& limits, bool no_body) {
  llhttp_init(&parser_, kind_ == MessageKind::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
  parser_.data = this;
  limits_ = limits;
  limits_.header_count = std::min(limits_.header_count, kMaxHeaders);
  base_ = base;
  no_body_ = no_body;
  url_ = {};
  host_ = {};
  host_from_target_ = false;
  status_ = {};
  header_count_ = 0;
  header_state_ = HeaderState::kNone;
  head_length_ = 0;
  head_fed_ = 0;
  method_read_ = kind_ != MessageKind::kRequest;
  method_seen_ = 0;
  extension_method_length_ = 0;
  head_complete_ = false;
  plain_ = false;
  message_complete_ = false;
  keep_alive_ = false;
  until_close_ = false;
  content_length_ = 0;
  body_bytes_ = 0;
  chunked_tail_ = 0;
  chunks_ = 0;
  chunk_framing_ = 0;
  trailer_in_gap_ = false;
  trailer_in_value_ = false;
  consumed_ = 0;
  error_status_ = 0;
  error_reason_ = "";
}

std::string_view MessageParser::method_name() const {
  if (extension_method()) return {base_, extension_method_length_};
  return llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
}

ParseStatus MessageParser::feed(const char* data, size_t length) {
  if (error_status_ != 0) return ParseStatus::kError;
  if (plain_ && !message_complete_) return feed_plain_body(data, length);
  // The fast path is tried once, on a message's first input: a head that arrives in pieces is
  // llhttp's (which keeps a slow sender from costing a rescan per piece).
  ParseStatus status;
  if (path_ == HeadPath::kPlainFirst && !head_complete_ && head_fed_ == 0 && data == base_ &&
      try_plain_head(data, length, status)) {
    return status;
  }
  size_t skipped = 0;
  if (!method_read_ && read_method(data, length, skipped, status)) return status;
  const bool in_body = head_complete_;
  const uint64_t data_before = body_bytes_;
  feed_begin_ = data;
  feed_end_ = data + length;
  ++inputs_;
  status = after_execute(llhttp_execute(&parser_, data, length), data, length);
  consumed_ += skipped;
  if (!in_body || !head_chunked_) return status;
  check_trailer_gap_at_input_end();
  return check_chunked_body(data, data_before, status);
}

bool MessageParser::read_method(const char*& data, size_t& length, size_t& skipped,
                                ParseStatus& status) {
  // The method's bytes lie at base_, those of earlier inputs included (the head's input is one
  // run of the caller's buffer).
  const size_t available = method_seen_ + length;
  const size_t scan_end = std::min(available, kMaxExtensionMethod + 1);
  size_t end = method_seen_;
  while (end < scan_end && is_extension_method_char(base_[end])) ++end;
  if (end == available && available <= kMaxExtensionMethod) {
    // The method may go on in the next input: these bytes are held until its end shows.
    method_seen_ = available;
    head_fed_ += length;
    consumed_ = length;
    status = ParseStatus::kNeedMore;
    return true;
  }
  method_read_ = true;
  const std::string_view method(base_, end);
  if (end > 0 && end <= kMaxExtensionMethod && end < available && base_[end] == ' ' &&
      !llhttp_knows_method(method)) {
    // llhttp reads "POST" in its place, then the request line from the space on.
    extension_method_length_ = end;
    if (llhttp_execute(&parser_, "POST", 4) != HPE_OK) {
      fail(400, "malformed request line");
      status = ParseStatus::kError;
      return true;
    }
    skipped = end - method_seen_;
    data += skipped;
    length -= skipped;
    head_fed_ += skipped;
    return false;
  }
  // A method llhttp knows, or bytes it is to refuse: it reads the held ones first.
  if (method_seen_ > 0) {
    const llhttp_errno_t err = llhttp_execute(&parser_, base_, method_seen_);
    if (err != HPE_OK) {
      status = after_execute(err, base_, method_seen_);
      return true;
    }
  }
  return false;
}

ParseStatus MessageParser::check_chunked_body(const char* data, uint64_t data_before,
                                              ParseStatus status) {
  if (status == ParseStatus::kError) return status;
  // The body is forwarded as it came, framing and all, and body_size counts only its data. So
  // what the framing carries beyond its chunks' needs (chunk extensions, zeros before a size,
  // trailer fields) is held to the header block limit: else a client could pass any amount of
  // bytes past body_size, or send one endless chunk-size line (Node.js's CVE-2024-22019).
  // Checked after each run and before it is forwarded, so at most one read goes past the limit
  // and none of it reaches the upstream.
  constexpr uint64_t kFramingPerChunk = 20;  // up to 16 hex digits, its CRLF, the CRLF after data
  chunk_framing_ += consumed_ - (body_bytes_ - data_before);
  if (chunk_framing_ > limits_.header_block + kFramingPerChunk * chunks_) {
    fail(kind_ == MessageKind::kRequest ? 413 : 502, "chunk extensions or trailer fields too long");
    return ParseStatus::kError;
  }
  for (size_t i = consumed_ > 4 ? consumed_ - 4 : 0; i < consumed_; ++i) {
    chunked_tail_ = (chunked_tail_ << 8) | static_cast<uint8_t>(data[i]);
  }
  // llhttp, even in strict mode, ends a trailer section at a bare LF ("0\r\n\n"). The body is
  // forwarded as it came, so a server that reads it strictly would wait for the CRLF, or find
  // another end of the message: such a body is refused. (The last four bytes of a whole chunked
  // message are framing, after every data byte, so decoding in place never overwrote them.)
  constexpr uint32_t kCrLfCrLf = 0x0d0a0d0a;
  if (status == ParseStatus::kMessageComplete && chunked_tail_ != kCrLfCrLf) {
    fail(malformed_status(), "chunked body not ended by CRLF");
    return ParseStatus::kError;
  }
  return status;
}

bool MessageParser::try_plain_head(const char* data, size_t length, ParseStatus& status) {
  PlainHead head;
  if (!parse_plain_head(kind_, data, length, limits_, headers_, head)) return false;
  // A response body that ends at the close is llhttp's to read (the counting below needs a
  // length); so is every head with Transfer-Encoding, which the subset leaves out.
  if (kind_ == MessageKind::kResponse && !head.has_content_length && !no_body_ &&
      head.status_code != 204 && head.status_code != 304) {
    return false;
  }
  // parser_ gets the fields llhttp would have set, so the accessors and complete_head() read
  // them as they would after llhttp.
  parser_.http_major = 1;
  parser_.http_minor = static_cast<uint8_t>(head.version_minor);
  if (kind_ == MessageKind::kRequest) {
    parser_.method = static_cast<uint8_t>(head.method);
    url_ = head.target;
  } else {
    parser_.status_code = static_cast<uint16_t>(head.status_code);
    status_ = head.target;
  }
  if (head.has_content_length) {
    parser_.flags |= F_CONTENT_LENGTH;
    parser_.content_length = head.content_length;
  }
  if (head.connection_close) parser_.flags |= F_CONNECTION_CLOSE;
  if (head.connection_keep_alive) parser_.flags |= F_CONNECTION_KEEP_ALIVE;
  header_count_ = head.header_count;
  head_length_ = head.head_length;

  const int next = complete_head();
  if (next < 0) {
    status = ParseStatus::kError;
    return true;
  }
  consumed_ = head_length_;
  plain_ = true;
  if (next == HPE_PAUSED) {
    status = ParseStatus::kHeadComplete;
    return true;
  }
  if (next == 1) parser_.flags |= F_SKIPBODY;  // as llhttp marks a response it reads no body of
  message_complete_ = true;
  keep_alive_ = llhttp_should_keep_alive(&parser_) != 0;
  status = ParseStatus::kMessageComplete;
  return true;
}

ParseStatus MessageParser::feed_plain_body(const char* data, size_t length) {
  const uint64_t left = content_length_ - body_bytes_;
  const size_t n = left < length ? static_cast<size_t>(left) : length;
  body_bytes_ += n;
  consumed_ = n;
  if (decode_to_ != nullptr) {
    // Content-Length framing has nothing to decode: the body is the bytes as they came.
    std::memmove(decode_to_ + decoded_, data, n);
    decoded_ += n;
  }
  if (body_bytes_ < content_length_) return ParseStatus::kNeedMore;
  message_complete_ = true;
  keep_alive_ = llhttp_should_keep_alive(&parser_) != 0;
  return ParseStatus::kMessageComplete;
}

ParseStatus MessageParser::feed_decoding(char* data, size_t length) {
  decode_to_ = data;
  decoded_ = 0;
  const ParseStatus status = feed(data, length);
  decode_to_ = nullptr;
  return status;
}

ParseStatus MessageParser::finish() {
  // The close ends such a body even when llhttp has not entered it yet (no body byte came).
  if (until_close_ && error_status_ == 0) message_complete_ = true;
  if (message_complete_) return ParseStatus::kMessageComplete;
  const llhttp_errno_t err = llhttp_finish(&parser_);
  if ((err == HPE_OK || err == HPE_PAUSED) && message_complete_) {
    return ParseStatus::kMessageComplete;
  }
  fail(502, head_complete_ ? "connection closed before the message ended"
                           : "connection closed before a complete head");
  return ParseStatus::kError;
}

ParseStatus MessageParser::after_execute(llhttp_errno_t err, const char* data, size_t length) {
  if (err == HPE_OK) {
    consumed_ = length;
    if (!head_complete_) {
      head_fed_ += length;
      if (head_fed_ > limits_.header_block) {
        fail(url_.length > 0 && header_count_ == 0 && kind_ == MessageKind::kRequest &&
                     url_.length > limits_.request_line
                 ? 414
                 : 431,
             "request header block too large");
        return ParseStatus::kError;
      }
    }
    return ParseStatus::kNeedMore;
  }
  if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
    const char* pos = llhttp_get_error_pos(&parser_);
    consumed_ = static_cast<size_t>(pos - data);
    if (head_length_ == 0) head_length_ = head_fed_ + consumed_;
    if (err == HPE_PAUSED) llhttp_resume(&parser_);
    if (head_length_ > limits_.header_block) {
      fail(431, "request header block too large");
      return ParseStatus::kError;
    }
    return message_complete_ ? ParseStatus::kMessageComplete : ParseStatus::kHeadComplete;
  }
  if (error_status_ == 0) {
    const char* reason = llhttp_get_error_reason(&parser_);
    fail(malformed_status(), reason != nullptr ? reason : "malformed");
  }
  return ParseStatus::kError;
}

bool MessageParser::keeps_alive() const {
  // RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; the message is
  // read (as chunked, the only coding let through) and the connection closed after it.
  const bool http10_chunked = parser_.http_major == 1 && parser_.http_minor == 0 && head_chunked_;
  return llhttp_should_keep_alive(&parser_) != 0 && !http10_chunked;
}

std::string_view MessageParser::field(std::string_view name) const {
  for (uint32_t i = 0; i < header_count_; ++i) {
    if (iequals(header_name(i), name)) return header_value(i);
  }
  return {};
}

uint32_t MessageParser::count_fields(std::string_view name) const {
  uint32_t count = 0;
  for (uint32_t i = 0; i < header_count_; ++i) count += iequals(header_name(i), name);
  return count;
}

int MessageParser::fail(int status, const char* reason) {
  error_status_ = status;
  error_reason_ = reason;
  return -1;
}

void MessageParser::extend(Span& span, const char* base, const char* at, size_t length) {
  if (span.length == 0) span.offset = static_cast<uint32_t>(at - base);
  span.length += static_cast<uint32_t>(length);
}

int MessageParser::on_url(llhttp_t* p, const char* at, size_t length) {
  MessageParser& m = self(p);
  extend(m.url_, m.base_, at, length);
  if (m.url_.length > m.limits_.request_line) return m.fail(414, "request line too long");
  return 0;
}

int MessageParser::on_status(llhttp_t* p, const char* at, size_t length) {
  MessageParser& m = self(p);
  extend(m.status_, m.base_, at, length);
  return 0;
}

int MessageParser::on_header_field(llhttp_t* p, const char* at, size_t length) {
  MessageParser& m = self(p);
  if (m.head_complete_) return m.check_trailer_name(at, length);
  if (m.header_state_ != HeaderState::kInField) {
    if (m.header_count_ >= m.limits_.header_count) return m.fail(431, "too many header fields");
    m.headers_[m.header_count_++] = {};
    m.header_state_ = HeaderState::kInField;
  }
  extend(m.headers_[m.header_count_ - 1].name, m.base_, at, length);
  return 0;
}

int MessageParser::on_header_field_complete(llhttp_t* p) {
  MessageParser& m = self(p);
  if (m.head_complete_) {
    m.trailer_in_gap_ = true;
    m.trailer_gap_broke_ = false;
  }
  m.header_state_ = HeaderState::kFieldDone;
  if (m.head_complete_ || m.header_count_ == 0) return 0;
  // llhttp tolerates "Name :" and "Bad Name:"; RFC 9112 5.1 says to reject them, since servers
  // disagree on where such a name ends.
  const Span& name = m.headers_[m.header_count_ - 1].name;
  if (name.length == 0) return m.fail(400, "empty header field name");
  for (uint32_t i = 0; i < name.length; ++i) {
    if (!is_token_char(m.base_[name.offset + i])) {
      return m.fail(400, is_ows(m.base_[name.offset + i])
                             ? "whitespace in a header field name"
                             : "invalid character in a header field name");
    }
  }
  return 0;
}

int MessageParser::on_header_value(llhttp_t* p, const char* at, size_t length) {
  MessageParser& m = self(p);
  if (m.head_complete_) return m.check_trailer_value(at, length);
  m.header_state_ = HeaderState::kInValue;
  extend(m.headers_[m.header_count_ - 1].value, m.base_, at, length);
  return 0;
}

int MessageParser::on_header_value_complete(llhttp_t* p) {
  MessageParser& m = self(p);
  m.header_state_ = HeaderState::kValueDone;
  m.trailer_in_gap_ = false;
  m.trailer_in_value_ = false;
  if (m.head_complete_ || m.header_count_ == 0) return 0;
  Span& value = m.headers_[m.header_count_ - 1].value;
  const char* v = m.base_ + value.offset;
  while (value.length > 0 && is_ows(v[value.length - 1])) --value.length;
  // llhttp takes a fold right after the colon ("X:\r\n b") for leading whitespace: the value
  // span then starts after it, so the bytes between the name and the value are checked too.
  if (value.length > 0) {
    const Span& name = m.headers_[m.header_count_ - 1].name;
    if (has_line_break(m.base_ + name.offset + name.length, v)) {
      return m.fail(400, "line folding or control character in header value");
    }
  }
  if (has_break_or_nul(v, v + value.length)) {
    return m.fail(400, "line folding or control character in header value");
  }
  // An empty Transfer-Encoding is no framing to llhttp, which then reads no body; a next hop that
  // takes the field for chunked would read the next message as chunks (HAProxy answers 400, nginx
  // 501). Refused as a coding list that does not end in chunked.
  if (value.length == 0 && iequals(m.header_name(m.header_count_ - 1), "transfer-encoding")) {
    return m.fail(m.malformed_status(), "Transfer-Encoding is not chunked-last");
  }
  return 0;
}

int MessageParser::on_headers_complete(llhttp_t* p) {
  return self(p).complete_head();
}

int MessageParser::complete_head() {
  head_complete_ = true;
  head_chunked_ = (parser_.flags & F_CHUNKED) != 0;
  head_content_length_ = (parser_.flags & F_CONTENT_LENGTH) != 0;
  content_length_ = parser_.content_length;
  keep_alive_ = keeps_alive();
  // One Transfer-Encoding field at most, as nginx allows: llhttp reads "chunked \t" then
  // "chunked" as chunked once, but the two fields forwarded (trimmed) are chunked twice, which a
  // strict next hop refuses (found by the request fuzzer).
  if ((parser_.flags & F_TRANSFER_ENCODING) != 0 && count_fields("transfer-encoding") > 1) {
    return fail(malformed_status(), "more than one Transfer-Encoding field");
  }
  if (kind_ == MessageKind::kRequest) {
    if (limits_.body_size != 0 && (parser_.flags & F_CONTENT_LENGTH) != 0 &&
        parser_.content_length > limits_.body_size) {
      return fail(413, "request body too large");
    }
    uint32_t hosts = 0;
    for (uint32_t i = 0; i < header_count_; ++i) {
      if (iequals(header_name(i), "host") && hosts++ == 0) host_ = headers_[i].value;
    }
    if (hosts > 1) return fail(400, "more than one Host header");
    // RFC 9112 3.2: a Host value that is not uri-host [":" port] is a 400. Readers split a
    // malformed one differently ("a.example/x", "a b", "user@a"), and the route is chosen by it.
    if (hosts == 1 && !valid_host(host())) return fail(400, "invalid Host header");
    // RFC 9112 3.2: a request-target has no fragment. Servers that take '#' for its start see
    // another path than a router that does not ("/public#/../admin"); HAProxy refuses it too.
    if (target().find('#') != std::string_view::npos) {
      return fail(400, "fragment in the request-target");
    }
    // An absolute-form target's authority replaces the Host field (RFC 9112 3.2.2), so it is
    // held to the same form; an empty one or one with userinfo is refused (RFC 9110 4.2.1, 4.2.4).
    if (is_absolute_form(target())) {
      const std::string_view authority = target_authority(target());
      if (authority.empty() || !valid_host(authority)) {
        return fail(400, "invalid authority in the request-target");
      }
      host_ = {static_cast<uint32_t>(authority.data() - base_),
               static_cast<uint32_t>(authority.size())};
      host_from_target_ = true;
    }
    // A request without a version (HTTP/0.9) expects a bare body back, and its method and target
    // were never checked as an HTTP/1.x request's are (llhttp took "SETUP /", an RTSP method, so;
    // found by the request fuzzer): the head forwarded for it would not parse. Refused as nginx
    // refuses anything but an HTTP/0.9 GET, and Jetty all of them.
    if (parser_.http_major == 0) return fail(400, "HTTP/0.9 request");
    // "HTTP/2.0" on an HTTP/1 request line: nginx answers 505 too (RFC 9110 15.6.6).
    if (parser_.http_major > 1) return fail(505, "HTTP version not supported");
    // HTTP/1.0 has no Transfer-Encoding (RFC 9112 6.1: its framing is faulty): a 1.0 server
    // behind the proxy would read the chunks as the body. nginx refuses it too.
    if (parser_.http_minor == 0 && (parser_.flags & F_TRANSFER_ENCODING) != 0) {
      return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    }
    // PRI is HTTP/2's connection preface (RFC 9113 3.4), never a request to forward: llhttp can
    // let one through (found by the request fuzzer), and the upstream would refuse the head the
    // proxy wrote for it.
    if (parser_.method == HTTP_PRI) return fail(400, "HTTP/2 connection preface");
    // RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked cannot be framed.
    // llhttp refuses it itself, except in a request it takes for an upgrade (found by the
    // request fuzzer); the proxy may not forward it as one, so it is refused here for all.
    if ((parser_.flags & (F_TRANSFER_ENCODING | F_CHUNKED)) == F_TRANSFER_ENCODING) {
      return fail(400, "Transfer-Encoding is not chunked-last");
    }
    // A coding before chunked ("gzip, chunked") is one the proxy cannot check and hardly any
    // server decodes: 501, as nginx and Envoy answer (RFC 9112 6.1). Empty elements and any case
    // of "chunked" pass; the field goes upstream as plain "chunked" (header_rewrite.cpp).
    if (head_chunked_ && !is_chunked_alone(field("transfer-encoding"))) {
      return fail(501, "transfer coding other than chunked");
    }
    if (hosts == 0 && parser_.http_major == 1 && parser_.http_minor >= 1)
      return fail(400, "missing Host header");
  } else {
    if (parser_.status_code < 100) return fail(502, "status code below 100");  // llhttp allows "10"
    until_close_ = !no_body_ && llhttp_message_needs_eof(&parser_) != 0;
    // RFC 9112 6.3 lets a response whose Transfer-Encoding does not end in chunked run to the
    // close, but readers disagree on such a field: "chunked<TAB>" and "chunkedX" are not chunked
    // to llhttp, yet a lenient client takes them for chunked and reads the body as chunks llhttp
    // never checked (the response fuzzer and the random-response test found both). Refused, as
    // nginx refuses every coding but chunked from an upstream.
    if ((parser_.flags & (F_TRANSFER_ENCODING | F_CHUNKED)) == F_TRANSFER_ENCODING) {
      return fail(502, "Transfer-Encoding is not chunked-last");
    }
  }
  // 1 tells llhttp there is no body: it would otherwise read one after a 304 with Content-Length.
  if (head_ends_message(parser_, kind_, no_body_)) return kind_ == MessageKind::kResponse ? 1 : 0;
  return HPE_PAUSED;
}

int MessageParser::on_body(llhttp_t* p, const char* at, size_t length) {
  MessageParser& m = self(p);
  m.body_bytes_ += length;
  if (m.decode_to_ != nullptr) {
    // Body runs arrive in input order and the write position never passes the read position.
    std::memmove(m.decode_to_ + m.decoded_, at, length);
    m.decoded_ += length;
  }
  if (m.kind_ == MessageKind::kRequest && m.limits_.body_size != 0 &&
      m.body_bytes_ > m.limits_.body_size) {
    return m.fail(413, "request body too large");
  }
  return 0;
}

int MessageParser::on_chunk_header(llhttp_t* p) {
  ++self(p).chunks_;
  return 0;
}

// Trailer fields are not interpreted, but they are forwarded, so they are held to the rules the
// head's fields are: a server that reads "Bad Name" or a folded line otherwise than llhttp does
// would disagree on the fields, and llhttp itself lets both pass in a trailer section. A trailer
// section may arrive over several inputs, of which only the current one can still be read.
int MessageParser::check_trailer_name(const char* at, size_t length) {
  for (size_t i = 0; i < length; ++i) {
    if (!is_token_char(at[i])) {
      return fail(malformed_status(), "invalid character in a trailer field name");
    }
  }
  trailer_name_end_ = at + length;
  trailer_name_input_ = inputs_;
  return 0;
}

// llhttp hands a value over in one piece per input, except around obs-fold: a fold right after
// the colon passes for leading whitespace (the value's first piece comes after it), and one
// inside a value starts a new piece. So a line break between the colon and the first piece is a
// fold, and so is a second piece, unless the first ended at the very end of an input and the
// second starts the next one.
int MessageParser::check_trailer_value(const char* at, size_t length) {
  // llhttp reports an empty value as an empty piece at the start of the next line.
  if (length == 0) return 0;
  const int status = malformed_status();
  if (trailer_in_gap_) {
    const char* gap = trailer_name_input_ == inputs_ ? trailer_name_end_ : feed_begin_;
    if (trailer_gap_broke_ || has_line_break(gap, at)) {
      return fail(status, "line folding in a trailer field");
    }
    trailer_in_gap_ = false;
  } else if (trailer_in_value_ && !(trailer_value_broken_at_ != 0 &&
                                    trailer_value_broken_at_ + 1 == inputs_ && at == feed_begin_)) {
    return fail(status, "line folding in a trailer field");
  }
  if (has_break_or_nul(at, at + length)) {
    return fail(status, "control character in a trailer field");
  }
  trailer_in_value_ = true;
  trailer_value_broken_at_ = at + length == feed_end_ ? inputs_ : 0;
  return 0;
}

// An input that ends between a trailer field's colon and its value: whether a line break came
// in what it held of that gap, which the next input can no longer look at.
void MessageParser::check_trailer_gap_at_input_end() {
  if (!trailer_in_gap_ || error_status_ != 0) return;
  const char* gap = trailer_name_input_ == inputs_ ? trailer_name_end_ : feed_begin_;
  trailer_gap_broke_ = trailer_gap_broke_ || has_line_break(gap, feed_end_);
}

int MessageParser::on_message_complete(llhttp_t* p) {
  MessageParser& m = self(p);
  m.message_complete_ = true;
  m.keep_alive_ = m.keeps_alive();
  return HPE_PAUSED;
}

}  // namespace sb::http
