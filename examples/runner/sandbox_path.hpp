// Turns a path from a request ("docs/a.json") into a file under the runner's root, refusing any
// path that could name a file outside it.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace runner {

// The request named a path the runner will not touch (answered with 400).
class PathRejected : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SandboxRoot {
 public:
  // `root` must exist; it is made absolute and canonical once, here.
  explicit SandboxRoot(const std::filesystem::path& root);

  // `relative` must be non-empty, relative, and free of ".." components; after symlinks are
  // resolved it must still lie under the root. Throws PathRejected otherwise. The file itself
  // need not exist. Returns the path with symlinks resolved.
  std::filesystem::path resolve(const std::string& relative) const;

  const std::filesystem::path& path() const { return root_; }

 private:
  std::filesystem::path root_;
};

}  // namespace runner
