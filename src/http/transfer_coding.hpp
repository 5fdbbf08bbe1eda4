// The Transfer-Encoding field read as the list of codings it is (RFC 9112 7, RFC 9110 5.6.1).
// The proxy forwards a chunked body's framing as it came, so the field announcing that framing
// is written in the one spelling every next hop reads: ",chunked", " chunked" and "ChUnKeD" all
// say chunked to this parser, but a next hop that reads one of them as an unknown coding also
// reads the chunks as the start of another message (http-garden's transducer bugs 9 and 18).
#pragma once

#include <string>
#include <string_view>

namespace sb::http {

// Whether `value` names the chunked coding and nothing else, empty elements and OWS aside.
bool is_chunked_alone(std::string_view value);

// Appends the codings of `value` as "gzip, chunked": each element trimmed of OWS, empty elements
// dropped, and "chunked" in lower case (coding names are case-insensitive; RFC 9112 7).
void append_codings(std::string_view value, std::string& out);

}  // namespace sb::http
