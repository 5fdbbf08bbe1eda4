// Reading a whole file, and replacing one atomically, so a reader never sees half a document.
#pragma once

#include <filesystem>
#include <string>

namespace runner {

// The file's bytes. Throws std::system_error with the errno of the failing call (ENOENT, EACCES).
std::string read_file(const std::filesystem::path& path);

// Writes `content` to a temporary file in the same directory, fsyncs it, renames it over `path`
// and fsyncs the directory, so after a crash `path` holds either the old or the new content.
// Keeps the mode of the file it replaces. Throws std::system_error; the temporary is removed.
void replace_file_atomically(const std::filesystem::path& path, const std::string& content);

}  // namespace runner
