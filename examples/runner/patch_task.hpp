// One patch task: read the task file, lock its target, apply the RFC 6902 patch, replace the
// target atomically and (optionally) cache the result. Blocking; run it off the I/O threads.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "result_cache.hpp"
#include "sandbox_path.hpp"

namespace runner {

// A task that cannot run, with the HTTP status that says why (400: the request, task or patch is
// wrong; 404: a file is missing or unreadable; 500: the runner failed to write).
class TaskError : public std::runtime_error {
 public:
  TaskError(unsigned status, const std::string& reason)
      : std::runtime_error(reason), status_(status) {}
  unsigned status() const { return status_; }

 private:
  unsigned status_;
};

struct PatchOutcome {
  std::string target;          // as the task names it, relative to the root
  nlohmann::json result;       // the document after the patch
  std::optional<bool> cached;  // whether Redis took the result; empty without a cache
};

class PatchRunner {
 public:
  // `cache` may be null (no --redis); it must outlive the runner.
  PatchRunner(SandboxRoot root, ResultCache* cache) : root_(std::move(root)), cache_(cache) {}

  // Throws TaskError. Thread-safe: concurrent tasks on one target serialize on its file lock,
  // also against other runner processes sharing the root.
  PatchOutcome run(const std::string& task_file) const;

 private:
  SandboxRoot root_;
  ResultCache* cache_;
};

}  // namespace runner
