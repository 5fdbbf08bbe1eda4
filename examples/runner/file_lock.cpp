// TargetLock: open (or create) the sidecar, then flock(LOCK_EX), retrying on EINTR.
#include "file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace runner {

TargetLock::TargetLock(const std::filesystem::path& target) {
  const std::filesystem::path sidecar =
      target.parent_path() / ("." + target.filename().string() + ".lock");
  fd_ = ::open(sidecar.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "lock " + sidecar.string());
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    ::close(fd_);
    throw std::system_error(err, std::generic_category(), "flock " + sidecar.string());
  }
}

// Closing the descriptor drops the lock; the sidecar stays, since unlinking it would let a waiter
// that already opened the old sidecar lock a file nobody else sees.
TargetLock::~TargetLock() {
  ::close(fd_);
}

}  // namespace runner
