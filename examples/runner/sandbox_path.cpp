// Path confinement for the runner: lexical checks first (clear messages), then a canonical check
// that catches symlinks pointing out of the root.
#include "sandbox_path.hpp"

#include <algorithm>

namespace runner {

namespace fs = std::filesystem;

SandboxRoot::SandboxRoot(const fs::path& root) : root_(fs::canonical(root)) {}

fs::path SandboxRoot::resolve(const std::string& relative) const {
  if (relative.empty()) throw PathRejected("empty path");
  if (relative.find('\0') != std::string::npos) throw PathRejected("path contains a NUL byte");
  const fs::path p(relative);
  if (p.is_absolute() || p.has_root_name() || p.has_root_directory()) {
    throw PathRejected("path '" + relative + "' is absolute; paths are relative to the root");
  }
  for (const fs::path& part : p) {
    if (part == "..") throw PathRejected("path '" + relative + "' escapes the root ('..')");
  }
  const fs::path full = root_ / p.lexically_normal();
  // A symlink inside the root may still point out of it; weakly_canonical resolves the parts
  // that exist, so a not-yet-existing file is judged by its directory.
  const fs::path real = fs::weakly_canonical(full);
  const auto mismatch = std::mismatch(root_.begin(), root_.end(), real.begin(), real.end());
  if (mismatch.first != root_.end()) {
    throw PathRejected("path '" + relative + "' resolves outside the root");
  }
  // The resolved path, so every alias of one file (a symlink, "./x") shares one lock sidecar and
  // the atomic rename replaces the file rather than a symlink to it.
  return real;
}

}  // namespace runner
