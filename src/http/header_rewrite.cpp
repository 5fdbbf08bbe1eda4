#include "http/header_rewrite.hpp"

#include <array>
#include <charconv>

#include "http/http_date.hpp"
#include "http/request_target.hpp"
#include "http/transfer_coding.hpp"

namespace sb::http {

namespace {

// The field names a message's Connection fields list: hop-by-hop for this one message (RFC 9110
// 7.6.1). The first 16 are kept at hand; a message that names more is searched field by field, so
// a long list is slower but never lets a named field through.
class ConnectionTokens {
 public:
  explicit ConnectionTokens(const MessageParser& m) : m_(m) {
    for (uint32_t i = 0; i < m.header_count(); ++i) {
      if (!iequals(m.header_name(i), "connection")) continue;
      for_each_option(m.header_value(i), [this](std::string_view token) {
        if (count_ == tokens_.size()) {
          overflow_ = true;
          return true;
        }
        tokens_[count_++] = token;
        return false;
      });
      if (overflow_) break;
    }
  }
  bool contains(std::string_view name) const {
    if (overflow_) return listed_anywhere(name);
    for (size_t i = 0; i < count_; ++i) {
      if (iequals(tokens_[i], name)) return true;
    }
    return false;
  }

 private:
  // Calls `visit` with each option of a Connection value that may be dropped, until it returns
  // true. Framing and Host stay whatever Connection says: dropping them would let the next hop
  // read the forwarded body as another message (request smuggling).
  template <typename Visit>
  static bool for_each_option(std::string_view list, Visit visit) {
    while (!list.empty()) {
      const size_t comma = list.find(',');
      std::string_view token = list.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
        token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
        token.remove_suffix(1);
      if (!token.empty() && !iequals(token, "content-length") &&
          !iequals(token, "transfer-encoding") && !iequals(token, "host") && visit(token)) {
        return true;
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    return false;
  }
  bool listed_anywhere(std::string_view name) const {
    for (uint32_t i = 0; i < m_.header_count(); ++i) {
      if (iequals(m_.header_name(i), "connection") &&
          for_each_option(m_.header_value(i),
                          [name](std::string_view token) { return iequals(token, name); })) {
        return true;
      }
    }
    return false;
  }

  const MessageParser& m_;
  std::array<std::string_view, 16> tokens_{};
  size_t count_ = 0;
  bool overflow_ = false;
};

// Fields that describe one connection, never forwarded. Transfer-Encoding stays: bodies are
// forwarded with their original (validated) framing.
bool is_hop_by_hop(std::string_view name) {
  switch (name.size()) {
    case 2:
      return iequals(name, "te");
    case 7:
      return iequals(name, "trailer") || iequals(name, "upgrade");
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive");
    case 16:
      return iequals(name, "proxy-connection");
    default:
      return false;
  }
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

// Appends the fields kept from a parsed head. A field received as exactly "Name: value\r\n" is
// the bytes append_field would write, and kept fields usually sit next to each other in the
// received head, so runs of them are copied as they are: one append per run instead of four per
// field.
class KeptFields {
 public:
  KeptFields(const MessageParser& m, std::string& out) : m_(m), out_(out) {}
  KeptFields(const KeptFields&) = delete;
  KeptFields& operator=(const KeptFields&) = delete;

  void keep(uint32_t i) {
    const HeaderField& field = m_.header(i);
    const char* base = m_.base();
    const uint32_t colon = field.name.offset + field.name.length;
    const uint32_t end = field.value.offset + field.value.length;
    const bool as_written = field.value.length > 0 && field.value.offset == colon + 2 &&
                            base[colon] == ':' && base[colon + 1] == ' ' && base[end] == '\r';
    if (as_written && run_length_ > 0 && run_start_ + run_length_ == field.name.offset) {
      run_length_ = end + 2 - run_start_;
      return;
    }
    flush();
    if (as_written) {
      run_start_ = field.name.offset;
      run_length_ = end + 2 - run_start_;
    } else {
      append_field(out_, m_.header_name(i), m_.header_value(i));
    }
  }
  // Writes the pending run; call before appending anything else.
  void flush() {
    if (run_length_ > 0) out_.append(m_.base() + run_start_, run_length_);
    run_length_ = 0;
  }

 private:
  const MessageParser& m_;
  std::string& out_;
  uint32_t run_start_ = 0;
  uint32_t run_length_ = 0;
};

// Writes a Content-Length or Transfer-Encoding field in its canonical spelling, when it came in
// another; false for a field to keep as received. The proxy forwards a body as it framed it, so
// the next hop must read the framing fields as the proxy did: "Content-Length: 010" is ten bytes
// here and eight to a reader that takes a leading zero for octal (http-garden's server bug 32;
// nginx writes "10" too), and transfer_coding.hpp says why for the other.
bool wrote_canonical_framing(const MessageParser& m, uint32_t i, KeptFields& kept,
                             std::string& out) {
  const std::string_view name = m.header_name(i);
  if (name.size() == 14 && iequals(name, "content-length")) {
    const std::string_view value = m.header_value(i);
    if (value.size() < 2 || value.front() != '0') return false;  // no leading zero
    kept.flush();
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, m.content_length());
    (void)ec;
    append_field(out, "Content-Length", std::string_view(digits, end - digits));
    return true;
  }
  if (name.size() == 17 && iequals(name, "transfer-encoding")) {
    const std::string_view value = m.header_value(i);
    if (value == "chunked") return false;
    kept.flush();
    out.append("Transfer-Encoding: ");
    append_codings(value, out);
    out.append("\r\n");
    return true;
  }
  return false;
}

// RFC 9112 4: a reason phrase is HTAB, SP, VCHAR and obs-text. llhttp lets other bytes through
// (a NUL, an escape sequence); a phrase with one goes out empty, which RFC 9112 lets an
// intermediary do (a client must not rely on the phrase), so no client, terminal or log gets them.
bool is_reason_phrase(std::string_view reason) {
  for (const char c : reason) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && byte != '\t') || byte == 0x7f) return false;
  }
  return true;
}

// Whether `name` is `field` as a CGI-style backend reads it: case aside, '_' and '-' alike. PHP,
// WSGI and Rack make "X_Real_IP" and "X-Real-IP" the one variable HTTP_X_REAL_IP, so a client
// could send one of the fields the proxy sets under the other spelling (nginx drops every field
// with an underscore for this reason; only these are dropped here).
bool same_for_cgi(std::string_view name, std::string_view field) {
  if (name.size() != field.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i] == '_' ? '-' : ascii_lower(name[i]);
    if (c != field[i]) return false;
  }
  return true;
}

}  // namespace

void build_upstream_request(const MessageParser& request, const RequestRewrite& rewrite,
                            std::string& out) {
  out.clear();
  const std::string_view target =
      rewrite.target.empty() ? origin_form(request.target()) : rewrite.target;
  out.append(request.method_name()).append(" ");
  if (!target.empty() && target.front() == '?') out.push_back('/');  // "http://h?q" -> "/?q"
  out.append(target).append(" HTTP/1.1\r\n");

  const ConnectionTokens named(request);
  KeptFields kept(request, out);
  bool has_host = false;  // HTTP/1.1 requires one; an HTTP/1.0 client may have sent none
  for (uint32_t i = 0; i < request.header_count(); ++i) {
    const std::string_view name = request.header_name(i);
    if (name.size() == 4 && iequals(name, "host")) {
      has_host = true;
      if (!rewrite.host.empty()) continue;  // replaced below
    }
    if (is_hop_by_hop(name) || named.contains(name)) continue;
    // The proxy answers "Expect: 100-continue" itself, so the upstream never sends a second 100.
    // X-Forwarded-For is written once, below, as the joined list plus this client; its other
    // spellings are dropped with those of the fields the proxy sets.
    if (iequals(name, "expect") || same_for_cgi(name, "x-real-ip") ||
        same_for_cgi(name, "x-forwarded-proto") || same_for_cgi(name, "x-forwarded-for")) {
      continue;
    }
    if (wrote_canonical_framing(request, i, kept, out)) continue;
    kept.keep(i);
  }
  kept.flush();
  // Without a Host, the service's name goes (nginx sends its upstream name).
  if (!rewrite.host.empty()) {
    append_field(out, "Host", rewrite.host);
  } else if (!has_host && !rewrite.default_host.empty()) {
    append_field(out, "Host", rewrite.default_host);
  }
  out.append("X-Forwarded-For: ");
  for (uint32_t i = 0; i < request.header_count(); ++i) {
    if (iequals(request.header_name(i), "x-forwarded-for") && !named.contains("x-forwarded-for")) {
      out.append(request.header_value(i)).append(", ");
    }
  }
  out.append(rewrite.client_ip).append("\r\n");
  append_field(out, "X-Real-IP", rewrite.real_ip.empty() ? rewrite.client_ip : rewrite.real_ip);
  append_field(out, "X-Forwarded-Proto", rewrite.proto.empty() ? "http" : rewrite.proto);
  if (rewrite.upgrade) {
    // The session tunnels WebSocket alone, so this is the one protocol the upstream may pick,
    // whatever else the client's Upgrade fields offered.
    append_field(out, "Connection", "upgrade");
    append_field(out, "Upgrade", "websocket");
  }
  out.append("\r\n");
}

void build_client_response(const MessageParser& response, const ResponseRewrite& rewrite,
                           std::string& out) {
  out.clear();
  char code[8];
  const auto [end, ec] = std::to_chars(code, code + sizeof code, response.status_code());
  (void)ec;
  const std::string_view reason = response.reason();
  out.append("HTTP/1.1 ").append(code, end).append(" ");
  if (is_reason_phrase(reason)) out.append(reason);
  out.append("\r\n");

  const ConnectionTokens named(response);
  KeptFields kept(response, out);
  // A 1xx or 204 has no body, and its sender must not send Content-Length or Transfer-Encoding
  // (RFC 9110 8.6, RFC 9112 6.1): a backend's stray one is dropped, as HAProxy 2.6 drops both
  // (nginx 1.22 drops Transfer-Encoding there and keeps Content-Length).
  const bool no_length = response.status_code() < 200 || response.status_code() == 204;
  bool has_date = false;
  for (uint32_t i = 0; i < response.header_count(); ++i) {
    const std::string_view name = response.header_name(i);
    has_date = has_date || (name.size() == 4 && iequals(name, "date"));
    if (rewrite.upgrade && iequals(name, "upgrade")) {
      kept.keep(i);
      continue;
    }
    if (is_hop_by_hop(name) || named.contains(name)) continue;
    if ((rewrite.dechunk || no_length) && iequals(name, "transfer-encoding")) continue;
    if (no_length && iequals(name, "content-length")) continue;
    if (wrote_canonical_framing(response, i, kept, out)) continue;
    kept.keep(i);
  }
  kept.flush();
  // RFC 9110 6.6.1: a final response forwarded without a Date gets the time it was received.
  if (!has_date && response.status_code() >= 200) append_field(out, "Date", http_date_now());
  if (rewrite.upgrade) {
    append_field(out, "Connection", "upgrade");
  } else if (rewrite.close) {
    append_field(out, "Connection", "close");
  } else if (rewrite.keep_alive_10) {
    append_field(out, "Connection", "keep-alive");
  }
  out.append("\r\n");
}

}  // namespace sb::http
