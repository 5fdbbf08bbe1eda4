// Names the calling thread, so `top -H`, `ps -L`, perf and gdb tell the threads apart (a worker,
// the access-log writer, the control plane, the health checker). Linux keeps 15 characters.
#pragma once

#include <string>

namespace sb {

void name_this_thread(const std::string& name);

}  // namespace sb
