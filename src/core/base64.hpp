// Base64 (RFC 4648, standard alphabet, padded), as etcd's JSON gateway writes keys and values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sb {

std::string base64_encode(std::string_view bytes);
// std::nullopt for anything that is not padded standard base64 (wrong length, a foreign
// character, padding in the middle).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace sb
