// The fast path of MessageParser: a whole head in the plain subset of HTTP/1.1 that nearly all
// traffic uses, read in one pass with no callbacks. Plain means: a request line
// "GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH /origin-form HTTP/1.x" or a status line
// "HTTP/1.x 2xx-5xx Reason"; fields "token: value" of printable ASCII; CRLF line ends; framing by
// one Content-Length or none; a Connection field that says only "close" or "keep-alive"; no
// Transfer-Encoding, Upgrade or Proxy-Connection. Anything else (a head not yet complete too) is
// declined, and llhttp reads the head as before, so every error and every unusual message keeps
// llhttp's handling. tests/fuzz/fuzz_plain_head.cpp checks that wherever this accepts a head,
// llhttp reads the same one.
//
// Why hand-written: llhttp runs a callback per span of each field, and with the adapter's checks
// behind them, parsing was 5 % of the proxy's CPU (about 620 ns per proxied request, BENCHMARKS.md,
// 2026-12-07); one pass over a plain head does the same in a fraction of that.
#pragma once

#include <cstddef>
#include <cstdint>

#include "http/message_parser.hpp"

namespace sb::http {

struct PlainHead {
  int method = 0;       // llhttp_method_t, for a request
  int status_code = 0;  // for a response
  int version_minor = 1;
  Span target;  // the request target, or the response's reason phrase
  uint32_t header_count = 0;
  uint32_t head_length = 0;  // bytes up to and including the blank line
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool connection_close = false;
  bool connection_keep_alive = false;
};

// Reads the head at the start of [data, data + length) into `head` and `headers` (spans from
// `data`; room for limits.header_count fields), or returns false when the head is not plain, is not
// complete in the input, or is over one of `limits` (the caller then leaves it to llhttp, which
// reports what is wrong).
bool parse_plain_head(MessageKind kind, const char* data, size_t length, const ParseLimits& limits,
                      HeaderField* headers, PlainHead& head);

}  // namespace sb::http
