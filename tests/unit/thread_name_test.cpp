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

TEST(ThreadName, TheKernelShowsTheName) {
  std::string seen;
  std::thread([&] {
    sb::name_this_thread("sb-worker-3");
    seen = kernel_name_of_this_thread();
  }).join();
  EXPECT_EQ(seen, "sb-worker-3");
}

TEST(ThreadName, ALongNameIsCutToFifteenCharacters) {
  std::string seen;
  std::thread([&] {
    sb::name_this_thread("sb-worker-1234567890");
    seen = kernel_name_of_this_thread();
  }).join();
  EXPECT_EQ(seen, "sb-worker-12345");
}

}  // namespace
