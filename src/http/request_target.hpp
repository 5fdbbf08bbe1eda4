// Where a request goes, read from its request-target and Host field: the origin-form target, its
// path, the authority of an absolute-form target, whether a Host value is well-formed, and the
// path normalized (RFC 3986 6.2.2) so that routing and the upstream see the same path.
#pragma once

#include <string>
#include <string_view>

namespace sb::http {

// Whether a request-target is in absolute-form with the http or https scheme ("http://h/p").
bool is_absolute_form(std::string_view target);
// The request-target in origin form ("/path?q"): an absolute-form target loses scheme and
// authority.
std::string_view origin_form(std::string_view target);
// The path of a request-target, without the query.
std::string_view target_path(std::string_view target);
// The authority of an absolute-form target ("http://h:8080/p" -> "h:8080"), which stands in for
// the Host field (RFC 9112 3.2.2); empty for every other form.
std::string_view target_authority(std::string_view target);

// Whether `value` is a well-formed Host field value, uri-host [":" port] (RFC 9112 3.2, RFC 3986
// 3.2.2): no spaces, slashes, userinfo or controls that could make two readers see two hosts. An
// empty value is valid (RFC 9110 7.2: a target without an authority).
bool valid_host(std::string_view value);

// Whether `name` is a host a route can name: a non-empty uri-host with no port (ports are not
// matched).
bool valid_route_host(std::string_view name);

enum class PathCheck {
  kUnchanged,   // already normal: use the path as it came
  kNormalized,  // `out` holds the normal form
  kMalformed,   // a '%' not followed by two hex digits
  kAmbiguous,   // servers disagree on what it names: a backslash, or a dot segment with
                // parameters ("..;x", which Tomcat reads as "..")
};

// Normalizes an origin-form path (no query) as RFC 3986 6.2.2 says: percent-encoded unreserved
// characters decoded ("%61" -> "a", "%2E" -> "."), the other escapes' hex digits in upper case,
// and the "." and ".." segments removed (5.2.4; a ".." above the root stays at the root). An
// escaped slash ("%2F") stays escaped, so it never becomes a segment boundary. A path that needs
// nothing costs one scan and no copy. A path that does not start with '/' ("*") is left alone.
PathCheck normalize_path(std::string_view path, std::string& out);
// Why a path was refused, for the 400's body.
const char* path_problem(PathCheck check);

}  // namespace sb::http
