#include "core/thread_name.hpp"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

namespace {

// What `ps -L` and `top -H` show for the calling thread.
std::string kernel_name_of_this_thread() {
  std::ifstream comm("/proc/self/task/" + std::to_string(::syscall(SYS_gettid)) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

// What a new thread that names itself `name` is shown as.
std::string shown_for(const std::string& name) {
  std::string seen;
  std::thread([&] {
    sb::name_this_thread(name);
    seen = kernel_name_of_this_thread();
  }).join();
  return seen;
}

TEST(ThreadName, TheKernelShowsTheName) {
  EXPECT_EQ(shown_for("sb-worker-3"), "sb-worker-3");
}

TEST(ThreadName, ALongNameIsCutToFifteenCharacters) {
  EXPECT_EQ(shown_for("sb-worker-1234567890"), "sb-worker-12345");
}

}  // namespace
