// The embedded registry store: one SQLite database, <data_dir>/registry.db, in WAL mode with every
// commit fsynced, one row per instance keyed by (service, id) holding the record as JSON.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "registry/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace sb::registry {

// Runs on the registry's thread only: the connection is opened without SQLite's own mutexes.
// Do not carry an open SqliteStore across fork(); open a new one in the child.
class SqliteStore final : public Store {
 public:
  // Creates data_dir if missing, opens (or creates) registry.db in it and its table. Throws
  // std::runtime_error (std::filesystem::filesystem_error for the directory) on failure.
  explicit SqliteStore(const std::string& data_dir);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void put(const InstanceRecord& record) override;
  bool erase(std::string_view service, std::string_view id) override;
  bool set_draining(std::string_view service, std::string_view id, bool draining) override;
  std::vector<InstanceRecord> load_all() override;

  const std::string& path() const { return path_; }

 private:
  struct CloseDatabase {
    void operator()(sqlite3* db) const;
  };
  struct FinalizeStatement {
    void operator()(sqlite3_stmt* statement) const;
  };
  using Statement = std::unique_ptr<sqlite3_stmt, FinalizeStatement>;

  void exec(const char* sql);
  Statement prepare(const char* sql);
  // Steps a statement that returns no rows, then resets it. Throws on anything but SQLITE_DONE.
  void run(sqlite3_stmt* statement, const char* what);
  [[noreturn]] void fail(const std::string& what) const;

  std::string path_;
  // Declared first so it is closed after the statements are finalized.
  std::unique_ptr<sqlite3, CloseDatabase> db_;
  Statement put_;
  Statement erase_;
  Statement set_draining_;
  Statement load_all_;
};

}  // namespace sb::registry
