// The responses the proxy makes itself (400, 404, 413, 414, 431, 502, 503, 504, ...): a status
// line, a short plain-text body saying why, and Connection: close when the connection will be
// closed.
#pragma once

#include <string>
#include <string_view>

namespace sb::http {

std::string_view reason_phrase(int status);

// Writes a complete response into `out` (cleared first). HEAD responses get no body.
void build_error_response(int status, std::string_view detail, bool close, bool head_request,
                          std::string& out);

}  // namespace sb::http
