#include "core/thread_name.hpp"

#include <pthread.h>

namespace sb {

void name_this_thread(const std::string& name) {
  // Longer names are refused (ERANGE), not cut: cut them here. A name is a help, never a failure.
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace sb
