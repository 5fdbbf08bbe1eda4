// Unit tests for src/registry/registry: the instance lifecycle (register, update, heartbeat, TTL
// expiry, deregistration after being critical, drain, deregister), durability through a real
// SqliteStore, reload after a restart, modify indexes and the change listener. Time is a
// ManualClock.
#include "registry/registry.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "registry/clock.hpp"
#include "registry/sqlite_store.hpp"
#include "registry_test_support.hpp"

namespace sb::registry {
namespace {

using testing::FailingStore;
using testing::make_record;

using namespace std::chrono_literals;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    clock_.advance(1h);  // not at the epoch, so time_point{} is never a plausible value
    open();
  }
  void TearDown() override {
    registry_.reset();
    failing_.reset();
    store_.reset();
  }

  // Opens (or reopens, as after a restart) the store and a fresh, unloaded Registry over it.
  void open() {
    registry_.reset();
    failing_.reset();
    store_.reset();
    store_ = std::make_unique<SqliteStore>(dir_.string());
    failing_ = std::make_unique<FailingStore>(*store_);
    registry_ = std::make_unique<Registry>(*failing_, clock_, kDeregisterAfter);
  }

  // What a separate process would find on disk.
  std::vector<InstanceRecord> on_disk() const {
    SqliteStore other(dir_.string());
    return other.load_all();
  }

  InstanceState state(const std::string& service, const std::string& id) const {
    for (const InstanceView& view : registry_->instances(service)) {
      if (view.record.id == id) return view.state;
    }
    ADD_FAILURE() << service << "/" << id << " not found";
    return InstanceState::kPassing;
  }

  static constexpr std::chrono::milliseconds kDeregisterAfter = 60s;

  testing::TempDir tmp_;  // declared first: outlives the stores that use it
  std::filesystem::path dir_;
  ManualClock clock_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<FailingStore> failing_;
  std::unique_ptr<Registry> registry_;
};

InstanceRecord with_ttl(InstanceRecord record, std::chrono::milliseconds ttl) {
  record.ttl = ttl;
  return record;
}

TEST_F(RegistryTest, RegisterListsPassingInstanceAndPersists) {
  const InstanceRecord record = make_record("web", "w1");
  EXPECT_EQ(registry_->upsert(record), Result::kCreated);

  const auto views = registry_->instances("web");
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].record, record);
  EXPECT_EQ(views[0].state, InstanceState::kPassing);
  EXPECT_EQ(views[0].last_heartbeat, clock_.now());
  EXPECT_TRUE(registry_->contains("web", "w1"));

  const auto services = registry_->services();
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].name, "web");
  EXPECT_EQ(services[0].passing, 1u);
  EXPECT_EQ(services[0].total, 1u);

  EXPECT_EQ(on_disk(), std::vector<InstanceRecord>{record});
}

TEST_F(RegistryTest, UpdateKeepsOneInstance) {
  EXPECT_EQ(registry_->upsert(make_record("web", "w1", 8080)), Result::kCreated);
  EXPECT_EQ(registry_->upsert(make_record("web", "w1", 9090)), Result::kOk);

  const auto views = registry_->instances("web");
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].record.port, 9090);
  const auto disk = on_disk();
  ASSERT_EQ(disk.size(), 1u);
  EXPECT_EQ(disk[0].port, 9090);
}

TEST_F(RegistryTest, RegistrationBodyCannotSetDrainingAndUpdateKeepsIt) {
  InstanceRecord record = make_record("web", "w1");
  record.draining = true;
  registry_->upsert(record);
  EXPECT_EQ(state("web", "w1"), InstanceState::kPassing);

  registry_->drain("web", "w1");
  registry_->upsert(make_record("web", "w1", 9090));  // draining=false in the body: ignored
  EXPECT_EQ(state("web", "w1"), InstanceState::kDraining);
  EXPECT_TRUE(on_disk().at(0).draining);
}

TEST_F(RegistryTest, UnknownInstanceIsNotFound) {
  registry_->upsert(make_record("web", "w1"));
  EXPECT_EQ(registry_->heartbeat("web", "nope"), Result::kNotFound);
  EXPECT_EQ(registry_->heartbeat("nope", "w1"), Result::kNotFound);
  EXPECT_EQ(registry_->drain("web", "nope"), Result::kNotFound);
  EXPECT_EQ(registry_->undrain("web", "nope"), Result::kNotFound);
  EXPECT_EQ(registry_->deregister("web", "nope"), Result::kNotFound);
  EXPECT_TRUE(registry_->instances("nope").empty());
  EXPECT_FALSE(registry_->contains("web", "nope"));
}

TEST_F(RegistryTest, HeartbeatDoesNotTouchTheStore) {
  registry_->upsert(with_ttl(make_record("web", "w1"), 10s));
  const int calls = failing_->calls;
  EXPECT_EQ(registry_->heartbeat("web", "w1"), Result::kOk);
  EXPECT_EQ(failing_->calls, calls);
}

TEST_F(RegistryTest, TtlExpiryTurnsCriticalOnlyAfterTtl) {
  registry_->upsert(with_ttl(make_record("web", "w1"), 10s));

  clock_.advance(10s - 1ms);
  registry_->tick();
  EXPECT_EQ(state("web", "w1"), InstanceState::kPassing);

  clock_.advance(2ms);  // ttl + 1ms
  registry_->tick();
  EXPECT_EQ(state("web", "w1"), InstanceState::kCritical);
  EXPECT_EQ(registry_->services().at(0).passing, 0u);
  EXPECT_EQ(registry_->services().at(0).total, 1u);

  EXPECT_EQ(registry_->heartbeat("web", "w1"), Result::kOk);
  EXPECT_EQ(state("web", "w1"), InstanceState::kPassing);
  EXPECT_EQ(registry_->instances("web").at(0).last_heartbeat, clock_.now());
}

TEST_F(RegistryTest, HeartbeatsKeepInstancePassing) {
  registry_->upsert(with_ttl(make_record("web", "w1"), 10s));
  for (int i = 0; i < 10; ++i) {
    clock_.advance(9s);
    registry_->tick();
    EXPECT_EQ(registry_->heartbeat("web", "w1"), Result::kOk);
  }
  registry_->tick();
  EXPECT_EQ(state("web", "w1"), InstanceState::kPassing);
}

TEST_F(RegistryTest, ReRegistrationMakesCriticalInstancePassing) {
  registry_->upsert(with_ttl(make_record("web", "w1"), 10s));
  clock_.advance(11s);
  registry_->tick();
  ASSERT_EQ(state("web", "w1"), InstanceState::kCritical);
  EXPECT_EQ(registry_->upsert(with_ttl(make_record("web", "w1"), 10s)), Result::kOk);
  EXPECT_EQ(state("web", "w1"), InstanceState::kPassing);
}

TEST_F(RegistryTest, CriticalForDeregisterAfterIsDeregisteredFromMemoryAndStore) {
  registry_->upsert(with_ttl(make_record("web", "w1"), 10s));
  registry_->upsert(make_record("web", "static"));

  clock_.advance(10s + 1ms);
  registry_->tick();
  ASSERT_EQ(state("web", "w1"), InstanceState::kCritical);

  // Critical since the ttl ran out (at 10s): still there at 10s + 60s - 1ms ...
  clock_.advance(kDeregisterAfter - 2ms);
  registry_->tick();
  EXPECT_TRUE(registry_->contains("web", "w1"));
  EXPECT_EQ(on_disk().size(), 2u);

  // ... gone at 10s + 60s + 1ms.
  clock_.advance(2ms);
  registry_->tick();
  EXPECT_FALSE(registry_->contains("web", "w1"));
  EXPECT_EQ(registry_->heartbeat("web", "w1"), Result::kNotFound);
  const auto disk = on_disk();
  ASSERT_EQ(disk.size(), 1u);
  EXPECT_EQ(disk[0].id, "static");
}

TEST_F(RegistryTest, LastInstanceExpiredRemovesService) {
  registry_->upsert(with_ttl(make_record("web", "w1"), 1s));
  clock_.advance(1h);
  registry_->tick();  // expires and deregisters in one tick
  EXPECT_TRUE(registry_->services().empty());
  EXPECT_TRUE(registry_->instances("web").empty());
  EXPECT_TRUE(on_disk().empty());
}

TEST_F(RegistryTest, InstanceWithoutTtlNeverExpires) {
  registry_->upsert(make_record("web", "w1"));
  for (int i = 0; i < 5; ++i) {
    clock_.advance(24h);
    registry_->tick();
  }
  EXPECT_EQ(state("web", "w1"), InstanceState::kPassing);
  EXPECT_EQ(on_disk().size(), 1u);
}

TEST_F(RegistryTest, DrainAndUndrainArePersisted) {
  registry_->upsert(make_record("web", "w1"));
  registry_->upsert(make_record("web", "w2"));

  EXPECT_EQ(registry_->drain("web", "w1"), Result::kOk);
  EXPECT_EQ(state("web", "w1"), InstanceState::kDraining);
  EXPECT_EQ(registry_->services().at(0).passing, 1u);
  EXPECT_EQ(registry_->services().at(0).total, 2u);
  {
    const auto disk = on_disk();
    ASSERT_EQ(disk.size(), 2u);
    for (const auto& record : disk) EXPECT_EQ(record.draining, record.id == "w1") << record.id;
  }

  EXPECT_EQ(registry_->undrain("web", "w1"), Result::kOk);
  EXPECT_EQ(state("web", "w1"), InstanceState::kPassing);
  for (const auto& record : on_disk()) EXPECT_FALSE(record.draining) << record.id;
}

TEST_F(RegistryTest, DrainingWinsOverCriticalInView) {
  registry_->upsert(with_ttl(make_record("web", "w1"), 1s));
  registry_->drain("web", "w1");
  clock_.advance(2s);
  registry_->tick();
  EXPECT_EQ(state("web", "w1"), InstanceState::kDraining);
  registry_->undrain("web", "w1");
  EXPECT_EQ(state("web", "w1"), InstanceState::kCritical);
}

TEST_F(RegistryTest, DeregisterIsPersisted) {
  registry_->upsert(make_record("web", "w1"));
  registry_->upsert(make_record("web", "w2"));
  EXPECT_EQ(registry_->deregister("web", "w1"), Result::kOk);
  EXPECT_FALSE(registry_->contains("web", "w1"));
  const auto disk = on_disk();
  ASSERT_EQ(disk.size(), 1u);
  EXPECT_EQ(disk[0].id, "w2");

  EXPECT_EQ(registry_->deregister("web", "w2"), Result::kOk);
  EXPECT_TRUE(registry_->services().empty());
  EXPECT_TRUE(on_disk().empty());
  EXPECT_EQ(registry_->deregister("web", "w2"), Result::kNotFound);
}

TEST_F(RegistryTest, LoadAfterRestartRestoresInstancesWithFreshTtlClocks) {
  registry_->upsert(with_ttl(make_record("web", "w1"), 10s));
  registry_->upsert(make_record("web", "w2"));
  registry_->upsert(with_ttl(make_record("api", "a1"), 10s));
  registry_->drain("web", "w2");
  clock_.advance(9s);

  open();              // "restart": new store connection, new registry on the same dir
  clock_.advance(5s);  // 14s after registration: past the ttl if clocks had not restarted
  registry_->load();
  const auto restarted_at = clock_.now();

  const auto services = registry_->services();
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[0].name, "api");
  EXPECT_EQ(services[1].name, "web");
  const auto web = registry_->instances("web");
  ASSERT_EQ(web.size(), 2u);
  EXPECT_EQ(web[0].record, with_ttl(make_record("web", "w1"), 10s));
  EXPECT_EQ(web[0].state, InstanceState::kPassing);
  EXPECT_EQ(web[0].last_heartbeat, restarted_at);
  EXPECT_EQ(web[1].state, InstanceState::kDraining);
  EXPECT_GT(registry_->global_index(), 0u);
  EXPECT_EQ(registry_->index("web"), registry_->global_index());

  clock_.advance(10s);  // exactly the ttl since the restart: not yet
  registry_->tick();
  EXPECT_EQ(state("web", "w1"), InstanceState::kPassing);
  clock_.advance(1ms);
  registry_->tick();
  EXPECT_EQ(state("web", "w1"), InstanceState::kCritical);
  EXPECT_EQ(state("api", "a1"), InstanceState::kCritical);
}

TEST_F(RegistryTest, IndexBumpsOnChangesOnly) {
  EXPECT_EQ(registry_->global_index(), 0u);
  EXPECT_EQ(registry_->index("web"), 0u);

  registry_->upsert(with_ttl(make_record("web", "w1"), 10s));
  EXPECT_EQ(registry_->global_index(), 1u);
  EXPECT_EQ(registry_->index("web"), 1u);

  registry_->upsert(make_record("api", "a1"));
  EXPECT_EQ(registry_->global_index(), 2u);
  EXPECT_EQ(registry_->index("web"), 1u);
  EXPECT_EQ(registry_->index("api"), 2u);

  // No-op heartbeat, identical re-registration, drain of an undrained-then-no-op: no bump.
  registry_->heartbeat("web", "w1");
  registry_->upsert(with_ttl(make_record("web", "w1"), 10s));
  registry_->undrain("web", "w1");
  clock_.advance(5s);
  registry_->tick();
  EXPECT_EQ(registry_->global_index(), 2u);
  EXPECT_EQ(registry_->index("web"), 1u);

  uint64_t last = registry_->global_index();
  auto expect_bump = [&](const char* what) {
    EXPECT_GT(registry_->global_index(), last) << what;
    EXPECT_EQ(registry_->index("web"), registry_->global_index()) << what;
    last = registry_->global_index();
  };

  registry_->upsert(with_ttl(make_record("web", "w1", 9090), 10s));
  expect_bump("update");
  registry_->drain("web", "w1");
  expect_bump("drain");
  registry_->drain("web", "w1");
  EXPECT_EQ(registry_->global_index(), last) << "second drain";
  registry_->undrain("web", "w1");
  expect_bump("undrain");
  clock_.advance(11s);
  registry_->tick();
  expect_bump("expiry");
  registry_->heartbeat("web", "w1");
  expect_bump("critical -> passing");
  registry_->deregister("web", "w1");
  expect_bump("deregister");
  // The service is gone, but remembers the index of its last change for blocking queries.
  EXPECT_TRUE(registry_->instances("web").empty());
  EXPECT_EQ(registry_->index("api"), 2u);
}

TEST_F(RegistryTest, OnChangeCalledWithServiceName) {
  std::vector<std::string> changes;
  registry_->set_on_change([&](std::string_view service) {
    changes.emplace_back(service);
    // The listener sees the change already applied and may read the registry.
    EXPECT_EQ(registry_->index(service), registry_->global_index());
  });

  registry_->upsert(with_ttl(make_record("web", "w1"), 1s));
  registry_->upsert(with_ttl(make_record("web", "w2"), 1s));
  registry_->upsert(make_record("api", "a1"));
  EXPECT_EQ(changes, (std::vector<std::string>{"web", "web", "api"}));

  changes.clear();
  registry_->heartbeat("web", "w1");                          // no change
  registry_->upsert(with_ttl(make_record("web", "w1"), 1s));  // identical: no change
  EXPECT_TRUE(changes.empty());

  registry_->drain("api", "a1");
  registry_->undrain("api", "a1");
  EXPECT_EQ(changes, (std::vector<std::string>{"api", "api"}));

  changes.clear();
  clock_.advance(2s);
  registry_->tick();  // two expiries in "web": notified once
  EXPECT_EQ(changes, (std::vector<std::string>{"web"}));

  changes.clear();
  registry_->heartbeat("web", "w1");  // critical -> passing
  registry_->deregister("api", "a1");
  EXPECT_EQ(changes, (std::vector<std::string>{"web", "api"}));

  changes.clear();
  clock_.advance(kDeregisterAfter + 2s);
  registry_->tick();  // w1 expires and is deregistered, w2 is deregistered
  EXPECT_EQ(changes, (std::vector<std::string>{"web"}));
  EXPECT_TRUE(registry_->services().empty());
}

TEST_F(RegistryTest, StoreFailureLeavesMemoryUnchanged) {
  registry_->upsert(make_record("web", "w1", 8080));
  int notified = 0;
  registry_->set_on_change([&](std::string_view) { ++notified; });
  const uint64_t index = registry_->global_index();

  failing_->fail = true;
  EXPECT_THROW(registry_->upsert(make_record("web", "w2")), std::runtime_error);
  EXPECT_THROW(registry_->upsert(make_record("web", "w1", 9090)), std::runtime_error);
  EXPECT_THROW(registry_->drain("web", "w1"), std::runtime_error);
  EXPECT_THROW(registry_->deregister("web", "w1"), std::runtime_error);

  EXPECT_FALSE(registry_->contains("web", "w2"));
  const auto views = registry_->instances("web");
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].record.port, 8080);
  EXPECT_EQ(views[0].state, InstanceState::kPassing);
  EXPECT_EQ(registry_->global_index(), index);
  EXPECT_EQ(notified, 0);
  // A heartbeat never needs the store.
  EXPECT_EQ(registry_->heartbeat("web", "w1"), Result::kOk);
}

TEST_F(RegistryTest, StoreFailureDuringTickKeepsInstanceAndRetries) {
  registry_->upsert(with_ttl(make_record("web", "w1"), 1s));
  registry_->upsert(with_ttl(make_record("api", "a1"), 1s));
  clock_.advance(1s + kDeregisterAfter + 1s);

  failing_->fail = true;
  EXPECT_THROW(registry_->tick(), std::runtime_error);
  // Both turned critical (memory only), neither could be erased.
  EXPECT_EQ(state("web", "w1"), InstanceState::kCritical);
  EXPECT_EQ(state("api", "a1"), InstanceState::kCritical);

  failing_->fail = false;
  registry_->tick();
  EXPECT_TRUE(registry_->services().empty());
  EXPECT_TRUE(on_disk().empty());
}

TEST_F(RegistryTest, LoadFailureLeavesMemoryUnchanged) {
  registry_->upsert(make_record("web", "w1"));
  failing_->fail = true;
  EXPECT_THROW(registry_->load(), std::runtime_error);
  EXPECT_TRUE(registry_->contains("web", "w1"));
}

TEST(RegistryStateTest, Names) {
  EXPECT_EQ(to_string(InstanceState::kPassing), "passing");
  EXPECT_EQ(to_string(InstanceState::kCritical), "critical");
  EXPECT_EQ(to_string(InstanceState::kDraining), "draining");
}

}  // namespace
}  // namespace sb::registry
