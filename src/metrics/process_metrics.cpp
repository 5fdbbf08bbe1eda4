#include "metrics/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace sb::metrics {

namespace {

// When the process started, in seconds since the epoch: the clock when this module was loaded.
const double kStartTime =
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

}  // namespace

void write_process_metrics(Exposition& out) {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                     static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  out.family("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
  out.sample("process_cpu_seconds_total", cpu);

  uint64_t pages = 0, resident = 0;
  std::ifstream("/proc/self/statm") >> pages >> resident;
  out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  out.sample("process_resident_memory_bytes",
             resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));

  std::error_code ec;
  uint64_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  out.family("process_open_fds", "gauge", "Number of open file descriptors.");
  out.sample("process_open_fds", fds);
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  out.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
  out.sample("process_max_fds", static_cast<uint64_t>(limit.rlim_cur));

  out.family("process_start_time_seconds", "gauge",
             "Start time of the process since unix epoch in seconds.");
  out.sample("process_start_time_seconds", kStartTime);
}

}  // namespace sb::metrics
