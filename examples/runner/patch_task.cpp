// PatchRunner::run, step by step; every failure becomes a TaskError whose message names the file
// and the cause, and the target lock is released by unwinding.
#include "patch_task.hpp"

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "atomic_file.hpp"
#include "file_lock.hpp"

namespace runner {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path resolve(const SandboxRoot& root, const std::string& what, const std::string& relative) {
  try {
    return root.resolve(relative);
  } catch (const PathRejected& e) {
    throw TaskError(400, what + ": " + e.what());
  } catch (const fs::filesystem_error& e) {
    throw TaskError(404, what + " '" + relative + "': " + e.code().message());
  }
}

// A missing or unreadable file is the caller's to fix (404); anything else is ours (500).
[[noreturn]] void throw_io(const std::string& what, const std::string& relative,
                           const std::system_error& e) {
  const int err = e.code().value();
  const bool callers = err == ENOENT || err == EACCES || err == EISDIR || err == ENOTDIR ||
                       err == ELOOP || err == ENAMETOOLONG;
  throw TaskError(callers ? 404 : 500, what + " '" + relative + "': " + e.code().message());
}

json parse_json(const std::string& what, const std::string& relative, const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw TaskError(400, what + " '" + relative + "' is not valid JSON: " + e.what());
  }
}

}  // namespace

PatchOutcome PatchRunner::run(const std::string& task_file) const {
  const fs::path task_path = resolve(root_, "task file", task_file);
  std::string task_text;
  try {
    task_text = read_file(task_path);
  } catch (const std::system_error& e) {
    throw_io("task file", task_file, e);
  }
  const json task = parse_json("task file", task_file, task_text);
  if (!task.is_object()) throw TaskError(400, "task file '" + task_file + "': not a JSON object");
  const auto target_it = task.find("target");
  if (target_it == task.end() || !target_it->is_string()) {
    throw TaskError(400, "task file '" + task_file + "': \"target\" must be a string");
  }
  const auto patch_it = task.find("patch");
  if (patch_it == task.end() || !patch_it->is_array()) {
    throw TaskError(400, "task file '" + task_file + "': \"patch\" must be an array (RFC 6902)");
  }
  PatchOutcome out;
  out.target = target_it->get<std::string>();
  const fs::path target_path = resolve(root_, "target", out.target);
  // Checked before locking, so a task naming a missing file leaves no lock sidecar behind.
  std::error_code exists_error;
  if (!fs::is_regular_file(target_path, exists_error)) {
    const std::string why = exists_error              ? exists_error.message()
                            : fs::exists(target_path) ? "not a regular file"
                                                      : "no such file";
    throw TaskError(404, "target '" + out.target + "': " + why);
  }

  std::optional<TargetLock> lock;
  try {
    lock.emplace(target_path);
  } catch (const std::system_error& e) {
    throw_io("target lock for", out.target, e);
  }
  std::string target_text;
  try {
    target_text = read_file(target_path);
  } catch (const std::system_error& e) {
    throw_io("target", out.target, e);
  }
  const json document = parse_json("target", out.target, target_text);
  try {
    out.result = document.patch(*patch_it);
  } catch (const json::exception& e) {
    // Covers malformed operations, missing paths and a failed "test" operation alike.
    throw TaskError(
        400, "patch from '" + task_file + "' does not apply to '" + out.target + "': " + e.what());
  }
  const std::string serialized = out.result.dump(2) + "\n";
  try {
    replace_file_atomically(target_path, serialized);
  } catch (const std::system_error& e) {
    throw TaskError(500, "cannot write target '" + out.target + "': " + e.what());
  }
  // Still under the lock, so the cache receives results in the order the file did and ends up
  // holding the latest one.
  if (cache_ != nullptr) out.cached = cache_->store(out.target, out.result.dump());
  return out;
}

}  // namespace runner
