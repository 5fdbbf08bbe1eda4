// SqliteStore: the durable embedded store behind the registry (see sqlite_store.hpp).
#include "registry/sqlite_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace sb::registry {
namespace {

constexpr int kSchemaVersion = 1;

// Makes a directory entry (a new file or subdirectory in it) survive a power loss; SQLite syncs the
// directory for its journal and WAL files but not for the database file it creates.
void fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    throw std::system_error(error, std::generic_category(), "fsync " + dir.string());
  }
  ::close(fd);
}

// Clears a statement's state and bindings however the call using it ends, so the next call (and
// SQLITE_STATIC bindings pointing into the caller's strings) start clean.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* statement) : statement_(statement) {}
  ~ResetOnExit() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite3_stmt* statement_;
};

// The text stays owned by the caller until the statement is reset (ResetOnExit).
int bind_text(sqlite3_stmt* statement, int index, std::string_view text) {
  return sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()),
                           SQLITE_STATIC);
}

std::string_view column_text(sqlite3_stmt* statement, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
  return {text == nullptr ? "" : text,
          static_cast<size_t>(sqlite3_column_bytes(statement, column))};
}

}  // namespace

void SqliteStore::CloseDatabase::operator()(sqlite3* db) const {
  sqlite3_close_v2(db);
}

void SqliteStore::FinalizeStatement::operator()(sqlite3_stmt* statement) const {
  sqlite3_finalize(statement);
}

SqliteStore::SqliteStore(const std::string& data_dir) {
  const std::filesystem::path dir(data_dir);
  const bool created_dir = std::filesystem::create_directories(dir);
  path_ = (dir / "registry.db").string();
  const bool new_file = !std::filesystem::exists(path_);

  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path_.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  db_.reset(db);  // sqlite3_open_v2 hands back a handle (to close) even when it fails
  if (rc != SQLITE_OK) {
    if (db_ == nullptr) throw std::runtime_error("sqlite " + path_ + ": open: out of memory");
    fail("open");
  }
  sqlite3_extended_result_codes(db_.get(), 1);
  // Another process (a backup, the sqlite3 shell) may hold a lock for a moment.
  sqlite3_busy_timeout(db_.get(), 5'000);

  // WAL: a commit appends to the log instead of rewriting pages, and readers never block the
  // writer. synchronous=FULL fsyncs the WAL at every commit; WAL's default (NORMAL) syncs only at
  // checkpoints, which survives kill -9 (the bytes are in the page cache) but can lose the last
  // commits on power loss or a kernel crash. The API acknowledges a write with 2xx only after the
  // commit, so it must be on stable storage by then. Costs one fsync per registration, drain or
  // deregistration, which is why heartbeats are not stored.
  {
    Statement mode = prepare("PRAGMA journal_mode=WAL");
    if (sqlite3_step(mode.get()) != SQLITE_ROW) fail("PRAGMA journal_mode=WAL");
    if (column_text(mode.get(), 0) != "wal") {
      throw std::runtime_error("sqlite " + path_ + ": cannot use WAL journal mode, got " +
                               std::string(column_text(mode.get(), 0)));
    }
  }
  exec("PRAGMA synchronous=FULL");

  {
    Statement version = prepare("PRAGMA user_version");
    if (sqlite3_step(version.get()) != SQLITE_ROW) fail("PRAGMA user_version");
    const int found = sqlite3_column_int(version.get(), 0);
    if (found > kSchemaVersion) {
      throw std::runtime_error("sqlite " + path_ + ": schema version " + std::to_string(found) +
                               " is newer than this switchboard's " +
                               std::to_string(kSchemaVersion));
    }
  }
  // `record` is to_stored_json(): every field but service and id, draining included.
  exec(
      "CREATE TABLE IF NOT EXISTS instances ("
      " service TEXT NOT NULL,"
      " id TEXT NOT NULL,"
      " record TEXT NOT NULL,"
      " PRIMARY KEY (service, id)"
      ") WITHOUT ROWID");
  exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());

  if (new_file) fsync_directory(dir);
  if (created_dir) fsync_directory(std::filesystem::absolute(dir).parent_path());

  put_ = prepare(
      "INSERT INTO instances (service, id, record) VALUES (?1, ?2, ?3)"
      " ON CONFLICT (service, id) DO UPDATE SET record = excluded.record");
  erase_ = prepare("DELETE FROM instances WHERE service = ?1 AND id = ?2");
  // json_set edits the flag in place: one statement, so no read-modify-write to go stale.
  set_draining_ = prepare(
      "UPDATE instances SET record = json_set(record, '$.draining', json(?3))"
      " WHERE service = ?1 AND id = ?2");
  load_all_ = prepare("SELECT service, id, record FROM instances ORDER BY service, id");
}

SqliteStore::~SqliteStore() = default;

void SqliteStore::put(const InstanceRecord& record) {
  const std::string json = to_stored_json(record);
  ResetOnExit reset(put_.get());
  if (bind_text(put_.get(), 1, record.service) != SQLITE_OK ||
      bind_text(put_.get(), 2, record.id) != SQLITE_OK ||
      bind_text(put_.get(), 3, json) != SQLITE_OK) {
    fail("put: bind");
  }
  run(put_.get(), "put");
}

bool SqliteStore::erase(std::string_view service, std::string_view id) {
  ResetOnExit reset(erase_.get());
  if (bind_text(erase_.get(), 1, service) != SQLITE_OK ||
      bind_text(erase_.get(), 2, id) != SQLITE_OK) {
    fail("erase: bind");
  }
  run(erase_.get(), "erase");
  return sqlite3_changes(db_.get()) > 0;
}

bool SqliteStore::set_draining(std::string_view service, std::string_view id, bool draining) {
  ResetOnExit reset(set_draining_.get());
  if (bind_text(set_draining_.get(), 1, service) != SQLITE_OK ||
      bind_text(set_draining_.get(), 2, id) != SQLITE_OK ||
      bind_text(set_draining_.get(), 3, draining ? "true" : "false") != SQLITE_OK) {
    fail("set_draining: bind");
  }
  run(set_draining_.get(), "set_draining");
  return sqlite3_changes(db_.get()) > 0;
}

std::vector<InstanceRecord> SqliteStore::load_all() {
  ResetOnExit reset(load_all_.get());
  std::vector<InstanceRecord> records;
  for (;;) {
    const int rc = sqlite3_step(load_all_.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) fail("load_all");
    records.push_back(from_stored_json(column_text(load_all_.get(), 0),
                                       column_text(load_all_.get(), 1),
                                       column_text(load_all_.get(), 2)));
  }
  return records;
}

void SqliteStore::exec(const char* sql) {
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(sql);
}

SqliteStore::Statement SqliteStore::prepare(const char* sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr) !=
      SQLITE_OK) {
    fail(std::string("prepare ") + sql);
  }
  return Statement(statement);
}

void SqliteStore::run(sqlite3_stmt* statement, const char* what) {
  if (sqlite3_step(statement) != SQLITE_DONE) fail(what);
}

void SqliteStore::fail(const std::string& what) const {
  throw std::runtime_error("sqlite " + path_ + ": " + what + ": " + sqlite3_errmsg(db_.get()));
}

}  // namespace sb::registry
