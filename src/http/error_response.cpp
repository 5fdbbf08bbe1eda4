#include "http/error_response.hpp"

#include <fmt/format.h>

#include "http/http_date.hpp"

namespace sb::http {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void build_error_response(int status, std::string_view detail, bool close, bool head_request,
                          std::string& out) {
  const std::string_view reason = reason_phrase(status);
  // Body: "502 Bad Gateway: upstream refused the connection\n"
  const size_t body_length = 3 + 1 + reason.size() + (detail.empty() ? 0 : 2 + detail.size()) + 1;
  out.clear();
  fmt::format_to(std::back_inserter(out),
                 "HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n"
                 "Cache-Control: no-store\r\n{}\r\n",
                 status, reason, http_date_now(), body_length,
                 close ? "Connection: close\r\n" : "");
  if (head_request) return;
  fmt::format_to(std::back_inserter(out), "{} {}{}{}\n", status, reason, detail.empty() ? "" : ": ",
                 detail);
}

}  // namespace sb::http
