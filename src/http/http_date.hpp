// The Date field's value for now (RFC 9110 5.6.7 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"):
// RFC 9110 6.6.1 has a server date its own responses, and a proxy date a response that came
// without one. Formatted once a second per thread, as nginx caches its own.
#pragma once

#include <ctime>
#include <string_view>

namespace sb::http {

// The current time as IMF-fixdate; valid on this thread until the next call.
std::string_view http_date_now();
// `t` as IMF-fixdate into `out` (29 characters and a NUL).
void format_http_date(std::time_t t, char (&out)[30]);

}  // namespace sb::http
