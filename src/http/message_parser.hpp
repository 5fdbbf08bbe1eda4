// Incremental HTTP/1.1 message parser: an adapter over llhttp that records the head as offsets into
// the caller's read buffer (no copies) and stops after the head and after the message, so the proxy
// can forward raw bytes and knows exactly where each message ends. Enforces the size limits. A
// whole head in the plain subset of HTTP/1.1 skips llhttp (plain_head.hpp), with the same result.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sb::http {

// A run of bytes inside the buffer the head was parsed from.
struct Span {
  uint32_t offset = 0;
  uint32_t length = 0;
  std::string_view in(const char* base) const { return {base + offset, length}; }
};

struct HeaderField {
  Span name;
  Span value;  // leading and trailing whitespace excluded
};

struct ParseLimits {
  uint32_t request_line = 8 * 1024;
  uint32_t header_block = 32 * 1024;  // also bounds a chunked body's extensions and trailers
  uint32_t header_count = 100;
  uint64_t body_size = 0;  // 0 = unlimited
};

enum class ParseStatus {
  kNeedMore,         // all input consumed, message not finished
  kHeadComplete,     // paused right after the head; the body follows
  kMessageComplete,  // paused right after the last byte of the message
  kError,            // malformed or over a limit: see error_status() / error_reason()
};

enum class MessageKind { kRequest, kResponse };

// Which heads llhttp reads: all, or those the plain fast path (plain_head.hpp) declines.
enum class HeadPath { kPlainFirst, kLlhttpOnly };

class MessageParser {
 public:
  static constexpr uint32_t kMaxHeaders = 256;

  explicit MessageParser(MessageKind kind, HeadPath path = HeadPath::kPlainFirst);
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  // Starts a new message whose first byte is at `base`; spans are offsets from it. For a response,
  // `no_body` says the request was HEAD (the head alone makes the message).
  void begin(const char* base, const ParseLimits& limits, bool no_body = false);

  // Parses the next bytes. While the head is incomplete, `data` must continue exactly where the
  // previous call's input ended (same buffer). Afterwards `consumed()` says how many bytes of this
  // call belong to the message; the rest belongs to whatever follows.
  ParseStatus feed(const char* data, size_t length);
  // As feed(), and also moves the decoded body bytes (chunk framing removed) to the front of
  // `data`: afterwards [data, data + decoded()) is the body content of this call's input. For
  // HTTP/1.0 clients, who cannot read chunked coding.
  ParseStatus feed_decoding(char* data, size_t length);
  size_t decoded() const { return decoded_; }
  // The peer closed: ends a message delimited by the connection's close.
  ParseStatus finish();
  size_t consumed() const { return consumed_; }
  // The head's bytes moved (same offsets from a new start), e.g. when the buffer is compacted.
  void rebase(const char* base) { base_ = base; }

  bool head_complete() const { return head_complete_; }
  bool message_complete() const { return message_complete_; }
  // Whether the plain fast path read this message's head (and so counts its body).
  bool head_was_plain() const { return plain_; }

  // Head fields, valid after kHeadComplete until the buffer is reused.
  const char* base() const { return base_; }
  std::string_view method_name() const;
  // An extension method llhttp does not know (request_method.hpp) is HTTP_POST here: framed by
  // its fields, not idempotent, neither GET nor HEAD. method_name() says which it is.
  llhttp_method_t method() const { return static_cast<llhttp_method_t>(parser_.method); }
  bool extension_method() const { return extension_method_length_ > 0; }
  std::string_view target() const { return url_.in(base_); }
  // The host a request names, found and checked with its head: an absolute-form target's
  // authority, which stands in for the Host field (RFC 9112 3.2.2), or else the Host field (empty
  // without one).
  std::string_view host() const { return host_.in(base_); }
  // Whether host() is the target's authority, which the upstream is then sent as its Host.
  bool host_from_target() const { return host_from_target_; }
  std::string_view reason() const { return status_.in(base_); }
  int status_code() const { return parser_.status_code; }
  int version_major() const { return parser_.http_major; }
  int version_minor() const { return parser_.http_minor; }
  uint32_t header_count() const { return header_count_; }
  const HeaderField& header(uint32_t i) const { return headers_[i]; }
  std::string_view header_name(uint32_t i) const { return headers_[i].name.in(base_); }
  std::string_view header_value(uint32_t i) const { return headers_[i].value.in(base_); }
  // The value of the first field named `name` (case-insensitive), empty without one.
  std::string_view field(std::string_view name) const;
  // Bytes from `base` to the end of the head (the blank line included).
  size_t head_length() const { return head_length_; }

  // The framing the head declared. llhttp keeps updating its flags while it reads a chunked
  // body's trailer section, where a "Content-Length" field means nothing, so once the head is
  // complete the values it had then are the answer.
  bool chunked() const { return head_complete_ ? head_chunked_ : (parser_.flags & F_CHUNKED) != 0; }
  bool has_content_length() const {
    return head_complete_ ? head_content_length_ : (parser_.flags & F_CONTENT_LENGTH) != 0;
  }
  uint64_t content_length() const { return content_length_; }
  bool has_body() const { return chunked() || (has_content_length() && content_length_ > 0); }
  // Whether the message's own framing permits another message on this connection.
  bool keep_alive() const { return keep_alive_; }
  bool upgrade() const { return parser_.upgrade != 0; }
  // A response body that ends only when the connection closes.
  bool body_until_close() const { return until_close_; }
  uint64_t body_bytes() const { return body_bytes_; }

  // The status to answer a rejected request with (400, 413, 414, 431) and a short reason.
  int error_status() const { return error_status_; }
  const char* error_reason() const { return error_reason_; }

 private:
  enum class HeaderState { kNone, kInField, kFieldDone, kInValue, kValueDone };

  static int on_url(llhttp_t* p, const char* at, size_t length);
  static int on_status(llhttp_t* p, const char* at, size_t length);
  static int on_header_field(llhttp_t* p, const char* at, size_t length);
  static int on_header_field_complete(llhttp_t* p);
  static int on_header_value(llhttp_t* p, const char* at, size_t length);
  static int on_header_value_complete(llhttp_t* p);
  static int on_headers_complete(llhttp_t* p);
  // The checks and framing decisions at the end of any head, on parser_'s fields: 0 or 1 (1 for a
  // response) when the head ends the message, HPE_PAUSED when a body follows, -1 after fail().
  int complete_head();
  static int on_body(llhttp_t* p, const char* at, size_t length);
  static int on_chunk_header(llhttp_t* p);
  // Trailer fields, checked as they pass as a head's fields are (they are forwarded with the
  // body): the pieces of a name and of a value as llhttp hands them over, and what is left of an
  // input that ends between a name and its value.
  int check_trailer_name(const char* at, size_t length);
  int check_trailer_value(const char* at, size_t length);
  void check_trailer_gap_at_input_end();
  static int on_message_complete(llhttp_t* p);

  static MessageParser& self(llhttp_t* p) { return *static_cast<MessageParser*>(p->data); }
  static void extend(Span& span, const char* base, const char* at, size_t length);
  int fail(int status, const char* reason);
  // The status for a malformed message: 400 to a client's request, 502 for an upstream's response.
  int malformed_status() const { return kind_ == MessageKind::kRequest ? 400 : 502; }
  uint32_t count_fields(std::string_view name) const;
  // Whether the connection may carry another message after this one.
  bool keeps_alive() const;
  ParseStatus after_execute(llhttp_errno_t err, const char* data, size_t length);
  // The fast path's halves: a whole plain head at the start of a message, and a body of known
  // length after it.
  bool try_plain_head(const char* data, size_t length, ParseStatus& status);
  // Reads a request's method ahead of llhttp (request_method.hpp). True when feed() returns
  // `status` at once; else `data` and `length` are what llhttp reads, after `skipped` bytes.
  bool read_method(const char*& data, size_t& length, size_t& skipped, ParseStatus& status);
  ParseStatus feed_plain_body(const char* data, size_t length);
  // After each run of a chunked body: refuses framing beyond what its chunks need (extensions,
  // padding, trailers) over limits_.header_block, and, at its end, a body not ended by CRLF.
  ParseStatus check_chunked_body(const char* data, uint64_t data_before, ParseStatus status);

  llhttp_t parser_{};
  llhttp_settings_t settings_{};
  MessageKind kind_;
  HeadPath path_;
  ParseLimits limits_;
  const char* base_ = nullptr;
  bool no_body_ = false;

  Span url_;
  Span host_;
  bool host_from_target_ = false;
  Span status_;
  HeaderField headers_[kMaxHeaders];
  uint32_t header_count_ = 0;
  HeaderState header_state_ = HeaderState::kNone;
  size_t head_length_ = 0;
  size_t head_fed_ = 0;  // bytes fed while the head was incomplete
  // A request's method, read ahead of llhttp: whether its end has been seen, how many of its
  // bytes have come before that (held at base_, not yet given to llhttp), and the length of the
  // method, which starts at base_, when llhttp does not know it.
  bool method_read_ = false;
  size_t method_seen_ = 0;
  size_t extension_method_length_ = 0;

  bool head_complete_ = false;
  bool plain_ = false;
  bool head_chunked_ = false;         // chunked() as of the end of the head
  bool head_content_length_ = false;  // has_content_length() as of the end of the head
  bool message_complete_ = false;
  bool keep_alive_ = false;
  bool until_close_ = false;
  uint64_t content_length_ = 0;
  uint64_t body_bytes_ = 0;
  uint32_t chunked_tail_ = 0;   // the last four bytes of a chunked body so far, the newest lowest
  uint64_t chunks_ = 0;         // chunk-size lines read, the last chunk's included
  uint64_t chunk_framing_ = 0;  // bytes of a chunked body that are not data
  // The input of the llhttp_execute in progress, and its number.
  const char* feed_begin_ = nullptr;
  const char* feed_end_ = nullptr;
  uint64_t inputs_ = 0;
  // The trailer field being read: where its name's last piece ended and in which input; whether
  // it is between its colon and its value, and a line break came there (a fold); whether its
  // value has begun, and the input at whose very end its last piece ended (0: none did).
  const char* trailer_name_end_ = nullptr;
  uint64_t trailer_name_input_ = 0;
  bool trailer_in_gap_ = false;
  bool trailer_gap_broke_ = false;
  bool trailer_in_value_ = false;
  uint64_t trailer_value_broken_at_ = 0;
  size_t consumed_ = 0;
  char* decode_to_ = nullptr;  // set during feed_decoding()
  size_t decoded_ = 0;

  int error_status_ = 0;
  const char* error_reason_ = "";
};

}  // namespace sb::http
