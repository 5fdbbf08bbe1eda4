// Unit tests for src/registry/sqlite_store: round trip of every field, upsert, erase, drain flag,
// durability across reopen, and acknowledged writes surviving a child process killed mid-flood.
#include "registry/sqlite_store.hpp"
#include "registry_test_support.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace sb::registry {
namespace {

using testing::FailingStore;
using testing::make_record;

using namespace std::chrono_literals;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = tmp_.path(); }

  // A subdirectory that does not exist yet: the store must create it.
  std::string data_dir() const { return (dir_ / "data").string(); }

  testing::TempDir tmp_;  // declared first: outlives the stores that use it
  std::filesystem::path dir_;
};

InstanceRecord full_record() {
  InstanceRecord record = make_record("runner", "runner-1:10.0.0.1", 9001);
  record.weight = 250;
  record.tags = {"blue", "v2"};
  record.meta = {{"zone", "eu-1"}, {"quote", "he said \"hi\""}};
  record.ttl = 1500ms;
  record.routes = {{"", "/run"}, {"runner.example", "/"}};
  record.draining = true;
  return record;
}

std::vector<InstanceRecord> sorted(std::vector<InstanceRecord> records) {
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return std::tie(a.service, a.id) < std::tie(b.service, b.id);
  });
  return records;
}

TEST_F(SqliteStoreTest, CreatesDataDirAndStartsEmpty) {
  SqliteStore store(data_dir());
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(data_dir()) / "registry.db"));
  EXPECT_EQ(store.path(), (std::filesystem::path(data_dir()) / "registry.db").string());
  EXPECT_TRUE(store.load_all().empty());
}

TEST_F(SqliteStoreTest, RoundTripsEveryField) {
  SqliteStore store(data_dir());
  const InstanceRecord record = full_record();
  const InstanceRecord minimal = make_record("web", "w");
  store.put(record);
  store.put(minimal);
  EXPECT_EQ(sorted(store.load_all()), (std::vector<InstanceRecord>{record, minimal}));
}

TEST_F(SqliteStoreTest, PutIsAnUpsert) {
  SqliteStore store(data_dir());
  InstanceRecord record = full_record();
  store.put(record);
  record.port = 9002;
  record.tags.clear();
  record.ttl.reset();
  record.draining = false;
  store.put(record);
  store.put(record);  // idempotent
  EXPECT_EQ(store.load_all(), std::vector<InstanceRecord>{record});
}

TEST_F(SqliteStoreTest, KeyIsServiceAndId) {
  SqliteStore store(data_dir());
  store.put(make_record("a", "1"));
  store.put(make_record("a", "2"));
  store.put(make_record("b", "1"));
  EXPECT_EQ(store.load_all().size(), 3u);
}

TEST_F(SqliteStoreTest, Erase) {
  SqliteStore store(data_dir());
  store.put(make_record("web", "1"));
  store.put(make_record("web", "2"));
  EXPECT_TRUE(store.erase("web", "1"));
  EXPECT_FALSE(store.erase("web", "1"));
  EXPECT_FALSE(store.erase("other", "2"));
  EXPECT_EQ(store.load_all(), std::vector<InstanceRecord>{make_record("web", "2")});
}

TEST_F(SqliteStoreTest, SetDraining) {
  SqliteStore store(data_dir());
  InstanceRecord record = full_record();
  record.draining = false;
  store.put(record);
  EXPECT_TRUE(store.set_draining(record.service, record.id, true));
  record.draining = true;
  EXPECT_EQ(store.load_all(), std::vector<InstanceRecord>{record});  // other fields untouched
  EXPECT_TRUE(
      store.set_draining(record.service, record.id, true));  // already draining: still found
  EXPECT_TRUE(store.set_draining(record.service, record.id, false));
  record.draining = false;
  EXPECT_EQ(store.load_all(), std::vector<InstanceRecord>{record});
  EXPECT_FALSE(store.set_draining(record.service, "nope", true));
}

TEST_F(SqliteStoreTest, SurvivesReopen) {
  {
    SqliteStore store(data_dir());
    store.put(full_record());
    store.put(make_record("web", "1"));
    store.put(make_record("web", "2"));
    store.erase("web", "2");
    store.set_draining("web", "1", true);
  }
  SqliteStore reopened(data_dir());
  InstanceRecord web1 = make_record("web", "1");
  web1.draining = true;
  EXPECT_EQ(sorted(reopened.load_all()), (std::vector<InstanceRecord>{full_record(), web1}));
}

TEST_F(SqliteStoreTest, UsesWal) {
  SqliteStore store(data_dir());
  store.put(make_record("web", "1"));
  // The WAL file exists while a WAL-mode connection is open.
  EXPECT_TRUE(std::filesystem::exists(store.path() + "-wal"));
}

TEST_F(SqliteStoreTest, UnusableDataDirThrows) {
  const auto file = dir_ / "a-file";
  std::ofstream(file) << "not a directory";
  EXPECT_THROW(SqliteStore{(file / "sub").string()}, std::runtime_error);
}

TEST_F(SqliteStoreTest, NotADatabaseThrows) {
  std::filesystem::create_directories(data_dir());
  std::ofstream(std::filesystem::path(data_dir()) / "registry.db") << std::string(4096, 'x');
  EXPECT_THROW(SqliteStore{data_dir()}, std::runtime_error);
}

// A child writes records and dies without closing anything: every write it finished must be there.
TEST_F(SqliteStoreTest, WritesSurviveChildExitWithoutClose) {
  constexpr int kRecords = 50;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      SqliteStore store(data_dir());
      for (int i = 0; i < kRecords; ++i) store.put(make_record("web", "w" + std::to_string(i)));
      ::_exit(0);  // with the store still open: no destructor, no sqlite3_close, no checkpoint
    } catch (...) {
      ::_exit(1);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  SqliteStore reopened(data_dir());
  EXPECT_EQ(reopened.load_all().size(), static_cast<size_t>(kRecords));
}

// kill -9 in the middle of a flood: every put the child reported as returned (acknowledged) is on
// disk afterwards. The child reports each one over a pipe, as the API would answer 2xx.
TEST_F(SqliteStoreTest, AcknowledgedWritesSurviveKill9) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    try {
      SqliteStore store(data_dir());
      for (uint32_t i = 0;; ++i) {
        store.put(make_record("flood", "i" + std::to_string(i)));
        if (::write(pipe_fds[1], &i, sizeof i) != sizeof i) ::_exit(2);
      }
    } catch (...) {
      ::_exit(1);
    }
  }
  ::close(pipe_fds[1]);
  std::set<std::string> acknowledged;
  uint32_t index = 0;
  while (acknowledged.size() < 100 && ::read(pipe_fds[0], &index, sizeof index) == sizeof index) {
    acknowledged.insert("i" + std::to_string(index));
  }
  ::kill(child, SIGKILL);
  // Acks written before the kill landed are still in the pipe.
  while (::read(pipe_fds[0], &index, sizeof index) == sizeof index) {
    acknowledged.insert("i" + std::to_string(index));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with status " << WEXITSTATUS(status);
  ASSERT_GE(acknowledged.size(), 100u);

  SqliteStore reopened(data_dir());
  std::set<std::string> stored;
  for (const auto& record : reopened.load_all()) stored.insert(record.id);
  for (const auto& id : acknowledged) EXPECT_TRUE(stored.count(id)) << id << " was lost";
}

}  // namespace
}  // namespace sb::registry
