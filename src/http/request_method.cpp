#include "http/request_method.hpp"

#include <llhttp.h>

namespace sb::http {

bool llhttp_knows_method(std::string_view method) {
#define SB_KNOWN_METHOD(number, name, text) \
  if (method == #text) return true;
  HTTP_ALL_METHOD_MAP(SB_KNOWN_METHOD)
#undef SB_KNOWN_METHOD
  return false;
}

}  // namespace sb::http
