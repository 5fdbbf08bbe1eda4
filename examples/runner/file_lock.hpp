// An exclusive flock(2) on a sidecar file, held for one read-patch-write of a target document.
#pragma once

#include <filesystem>

namespace runner {

// Locks "<dir>/.<name>.lock" next to `target`. The lock is on a sidecar, not on the target,
// because the target is replaced by rename(2): a lock on the old inode would not exclude a writer
// that opened the new one. flock locks belong to the open file description, so two threads of
// one process exclude each other just as two processes do. Released by the destructor (also when
// an exception unwinds) or by the kernel if the process dies.
class TargetLock {
 public:
  // Blocks until the lock is held. Throws std::system_error (ENOENT when the directory is missing).
  explicit TargetLock(const std::filesystem::path& target);
  ~TargetLock();
  TargetLock(const TargetLock&) = delete;
  TargetLock& operator=(const TargetLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace runner
