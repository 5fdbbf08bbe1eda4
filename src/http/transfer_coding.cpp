#include "http/transfer_coding.hpp"

#include "http/text.hpp"

namespace sb::http {

namespace {

// Calls `visit` with each non-empty element of the list `value`, trimmed of OWS.
template <typename Visit>
void for_each_element(std::string_view value, Visit visit) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view element = value.substr(0, comma);
    while (!element.empty() && is_ows(element.front())) element.remove_prefix(1);
    while (!element.empty() && is_ows(element.back())) element.remove_suffix(1);
    if (!element.empty()) visit(element);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

bool is_chunked_alone(std::string_view value) {
  size_t elements = 0;
  bool chunked = false;
  for_each_element(value, [&](std::string_view element) {
    ++elements;
    chunked = iequals(element, "chunked");
  });
  return elements == 1 && chunked;
}

void append_codings(std::string_view value, std::string& out) {
  bool first = true;
  for_each_element(value, [&](std::string_view element) {
    if (!first) out.append(", ");
    first = false;
    out.append(iequals(element, "chunked") ? std::string_view("chunked") : element);
  });
}

}  // namespace sb::http
