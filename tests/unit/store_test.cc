// Unit tests of the SQLite store (daemon/store): migrations, WAL and sync settings, the writer
// thread's group commit, queue limits, closing, metadata and the per-store lock.
#include "store/store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "raw_db.h"

#include "store/ingest.h"
#include "store/migrations.h"
#include "store/sqlite.h"

namespace tomstream::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Every wait in these tests is bounded by this.
constexpr std::chrono::seconds kWait{20};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------


std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Released once; waits on it are bounded. Shared with writer jobs through a shared_ptr so that
// a failing test never leaves a job referring to a destroyed object.
class Gate {
 public:
  Gate() : released_(promise_.get_future().share()) {}
  void Release() {
    std::call_once(once_, [this] { promise_.set_value(); });
  }
  bool Wait() const { return released_.wait_for(kWait) == std::future_status::ready; }

 private:
  std::promise<void> promise_;
  std::shared_future<void> released_;
  std::once_flag once_;
};

// Releases a gate when the test scope ends, whatever happened, before the store is destroyed.
struct ReleaseOnExit {
  std::shared_ptr<Gate> gate;
  ~ReleaseOnExit() { gate->Release(); }
};

// Records the outcome of every job (by id) and the order in which jobs ran and completed.
class JobLog {
 public:
  void Ran(int id) {
    std::lock_guard lock(mu_);
    events_.push_back("fn:" + std::to_string(id));
  }
  void Done(int id, const Status& st) {
    std::lock_guard lock(mu_);
    events_.push_back("done:" + std::to_string(id));
    results_.emplace(id, st);
    cv_.notify_all();
  }
  bool WaitForDone(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return results_.size() >= n; });
  }
  std::map<int, Status> results() {
    std::lock_guard lock(mu_);
    return results_;
  }
  std::vector<std::string> events() {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
  std::map<int, Status> results_;
};

Store::DoneFn DoneInto(const std::shared_ptr<JobLog>& log, int id) {
  return [log, id](const Status& st) { log->Done(id, st); };
}

// A job that inserts `id` into t.
Store::WriteFn InsertRow(int64_t id) {
  return [id](Connection& db) -> Status {
    auto stmt = db.Prepare("INSERT INTO t(id, v) VALUES (?, 'x')");
    if (!stmt.ok()) return stmt.status();
    return stmt->Bind(1, id).Run();
  };
}

// A job that records that it ran (as `id`) and inserts `id` into t.
Store::WriteFn LoggedInsert(const std::shared_ptr<JobLog>& log, int id) {
  return [log, id](Connection& db) -> Status {
    log->Ran(id);
    return InsertRow(id)(db);
  };
}

Result<int64_t> CountRows(Store& store, const std::string& sql) {
  int64_t n = -1;
  Status st = store.Read([&](Connection& db) -> Status {
    auto v = db.QueryInt(sql);
    if (!v.ok()) return v.status();
    n = *v;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return n;
}

// A migration list whose first step is the real first migration (schema_migrations and
// store_meta, which the migration mechanism and the store rely on) followed by test steps.
std::vector<Migration> CustomMigrations(std::initializer_list<Migration> rest) {
  std::vector<Migration> list{{1, "store metadata", SchemaMigrations()[0].sql}};
  list.insert(list.end(), rest.begin(), rest.end());
  return list;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "store_test_XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr) << templ;
    dir_ = templ;
    options_.path = dir_ + "/tomstream.db";
    options_.busy_timeout = std::chrono::milliseconds(2000);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<Store> MustOpen(const StoreOptions& options) {
    auto store = Store::Open(options);
    if (!store.ok()) {
      ADD_FAILURE() << "Store::Open: " << store.status().ToString();
      return nullptr;
    }
    return std::move(store).value();
  }
  std::unique_ptr<Store> MustOpen() { return MustOpen(options_); }

  // Creates table t(id, v) through the store.
  void CreateTable(Store& store) {
    ASSERT_TRUE(store
                    .Write([](Connection& db) {
                      return db.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
                    })
                    .ok());
  }

  // Submits a job that signals when it starts and then holds the writer until `gate` opens.
  // Returns once the writer is inside the job (so it is no longer in the queue).
  void BlockWriter(Store& store, const std::shared_ptr<Gate>& gate,
                   const std::shared_ptr<JobLog>& log, int id) {
    auto started = std::make_shared<std::promise<void>>();
    auto started_future = started->get_future();
    ASSERT_TRUE(store
                    .Submit(
                        [gate, started](Connection&) -> Status {
                          started->set_value();
                          return gate->Wait() ? Status::Ok()
                                              : Status::Internal("test gate never opened");
                        },
                        DoneInto(log, id))
                    .ok());
    ASSERT_EQ(started_future.wait_for(kWait), std::future_status::ready)
        << "the writer never started the blocking job";
  }

  std::string dir_;
  StoreOptions options_;
};

// ---------------------------------------------------------------------------------------------
// Opening and migrations
// ---------------------------------------------------------------------------------------------

TEST_F(StoreTest, FreshStoreReachesLatestVersionWithWal) {
  const int64_t before = NowMillis();
  const mode_t old_umask = umask(022);
  options_.path = dir_ + "/a/b/tomstream.db";  // parents missing
  auto store = MustOpen();
  umask(old_umask);
  ASSERT_NE(store, nullptr);
  const int64_t after = NowMillis();

  EXPECT_GE(LatestSchemaVersion(), 1);
  EXPECT_EQ(LatestSchemaVersion(), SchemaMigrations().back().version);
  EXPECT_EQ(store->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(store->Stats().schema_version, LatestSchemaVersion());
  EXPECT_EQ(store->path(), options_.path);

  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  ASSERT_EQ(stat((dir_ + "/a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);

  RawDb raw(options_.path);
  EXPECT_EQ(raw.Int("PRAGMA user_version"), LatestSchemaVersion());
  EXPECT_EQ(raw.Text("PRAGMA journal_mode"), "wal");
  // One schema_migrations row per migration, named as in the list, stamped at open time.
  std::vector<std::string> expected_versions;
  std::vector<std::string> expected_names;
  for (const Migration& m : SchemaMigrations()) {
    expected_versions.push_back(std::to_string(m.version));
    expected_names.emplace_back(m.name);
  }
  EXPECT_EQ(raw.Column("SELECT version FROM schema_migrations ORDER BY version"),
            expected_versions);
  EXPECT_EQ(raw.Column("SELECT name FROM schema_migrations ORDER BY version"), expected_names);
  EXPECT_GE(raw.Int("SELECT min(applied_at) FROM schema_migrations"), before);
  EXPECT_LE(raw.Int("SELECT max(applied_at) FROM schema_migrations"), after);
  EXPECT_TRUE(raw.HasTable("store_meta"));
}

TEST_F(StoreTest, WriterConnectionUsesWalSynchronousFullAndForeignKeys) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  int64_t synchronous = -1;
  int64_t foreign_keys = -1;
  std::string journal_mode;
  Status st = store->Write([&](Connection& db) -> Status {
    auto sync = db.QueryInt("PRAGMA synchronous");
    if (!sync.ok()) return sync.status();
    synchronous = *sync;
    auto fk = db.QueryInt("PRAGMA foreign_keys");
    if (!fk.ok()) return fk.status();
    foreign_keys = *fk;
    auto mode = db.Prepare("PRAGMA journal_mode");
    if (!mode.ok()) return mode.status();
    auto row = mode->Step();
    if (!row.ok()) return row.status();
    journal_mode = mode->ColumnText(0);
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(synchronous, 2) << "synchronous must be FULL (2) on the writer";
  EXPECT_EQ(foreign_keys, 1);
  EXPECT_EQ(journal_mode, "wal");
}

TEST_F(StoreTest, ConnectionOpenAppliesPragmas) {
  auto conn = Connection::Open(options_.path, Connection::Mode::kReadWrite, 1000);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  auto sync = (*conn)->QueryInt("PRAGMA synchronous");
  ASSERT_TRUE(sync.ok());
  EXPECT_EQ(*sync, 2);
  auto timeout = (*conn)->QueryInt("PRAGMA busy_timeout");
  ASSERT_TRUE(timeout.ok());
  EXPECT_EQ(*timeout, 1000);
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Text("PRAGMA journal_mode"), "wal");
}

TEST_F(StoreTest, UpgradeFromPrefixOfMigrationsKeepsData) {
  const std::vector<Migration> all = CustomMigrations({
      {2, "items", "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL);"},
      {3, "items.colour", "ALTER TABLE items ADD COLUMN colour TEXT NOT NULL DEFAULT 'blue';"},
      {4, "items index", "CREATE INDEX items_colour ON items(colour);"},
  });
  {
    auto store = Store::Open(options_, std::span(all).first(2));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ((*store)->schema_version(), 2);
    ASSERT_TRUE((*store)
                    ->Write([](Connection& db) {
                      return db.Exec("INSERT INTO items(id, name) VALUES (1, 'one'), (2, 'two')");
                    })
                    .ok());
  }
  {
    RawDb raw(options_.path);
    EXPECT_EQ(raw.Int("PRAGMA user_version"), 2);
    EXPECT_THAT(raw.Column("SELECT version FROM schema_migrations ORDER BY version"), ElementsAre("1", "2"));
  }

  auto store = Store::Open(options_, all);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->schema_version(), 4);
  auto rows = CountRows(**store, "SELECT count(*) FROM items WHERE colour = 'blue'");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(*rows, 2);

  RawDb raw(options_.path);
  EXPECT_EQ(raw.Int("PRAGMA user_version"), 4);
  EXPECT_THAT(raw.Column("SELECT name FROM items ORDER BY id"), ElementsAre("one", "two"));
  EXPECT_THAT(raw.Column("SELECT version || ':' || name FROM schema_migrations ORDER BY version"), ElementsAre("1:store metadata", "2:items", "3:items.colour", "4:items index"));
  EXPECT_EQ(raw.Int("SELECT count(*) FROM sqlite_master WHERE name = 'items_colour'"), 1);
}

TEST_F(StoreTest, MessageIdKeyIsTheFirstEightBytesLittleEndian) {
  EXPECT_EQ(MessageIdKey(std::string("\x01\x02\x03\x04\x05\x06\x07\x08\xff\xff", 10)),
            0x0807060504030201);
  EXPECT_EQ(MessageIdKey(std::string("\x01\x02", 2)), 0x0201);
  EXPECT_EQ(MessageIdKey(""), 0);
  EXPECT_EQ(MessageIdKey(std::string(8, '\xff')), -1);
}

// Migration 3 replaces the unique message-id index by an integer key: rows stored before it get
// their key, and a message stored before the upgrade is still recognised as a duplicate after.
TEST_F(StoreTest, DedupeKeyMigrationKeepsOldAlertsDeduplicated) {
  const std::string old_id("0123456789abcdef", 16);
  {
    auto store = Store::Open(options_, SchemaMigrations().first(2));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)
                    ->Write([&](Connection& db) -> Status {
                      auto st = db.Prepare(
                          "INSERT INTO alerts(stream, topic, partition, \"offset\", stored_at, "
                          "handler, message_id, format, payload, headers, summary) "
                          "VALUES ('s', 't', 0, 0, 1, 'raw', ?, 'json', x'7b7d', x'', '')");
                      if (!st.ok()) return st.status();
                      return st->BindBlob(1, old_id).Run();
                    })
                    .ok());
  }
  auto store = Store::Open(options_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  {
    RawDb raw(options_.path);
    EXPECT_EQ(raw.Int("SELECT id_key FROM alerts"), MessageIdKey(old_id));
    EXPECT_EQ(raw.Int("SELECT count(*) FROM sqlite_master WHERE name = 'alerts_by_message_id'"), 0);
    EXPECT_EQ(raw.Int("SELECT count(*) FROM sqlite_master WHERE name = 'alerts_by_id_key'"), 1);
  }

  // Same first 8 bytes, different id: a key collision that must not count as a duplicate.
  const std::string colliding = old_id.substr(0, 8) + "ZZZZZZZZ";
  IngestStore ingest(**store);
  IngestBatch batch;
  batch.stream = "s";
  for (const std::string* id : {&old_id, &colliding, &colliding}) {
    IngestMessage m;
    m.topic = "t";
    m.offset = static_cast<int64_t>(batch.messages.size()) + 1;
    m.handler = "raw";
    std::memcpy(m.message_id_bytes.data(), id->data(), id->size());
    m.message_id_size = static_cast<uint8_t>(id->size());
    m.format = "json";
    m.payload = "{}";
    batch.messages.push_back(std::move(m));
  }
  batch.positions.push_back({"t", 0, 4, -1});
  auto done = std::make_shared<std::promise<std::pair<Status, IngestCounts>>>();
  auto result = done->get_future();
  ASSERT_TRUE(ingest
                  .Submit(std::move(batch),
                          [done](const Status& st, const IngestCounts& c, IngestBatch&&) {
                            done->set_value({st, c});
                          })
                  .ok());
  ASSERT_EQ(result.wait_for(kWait), std::future_status::ready);
  auto [st, counts] = result.get();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(counts.stored, 1);      // the colliding id, once
  EXPECT_EQ(counts.duplicates, 2);  // the id stored before the upgrade, and the repeat
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM alerts"), 2);
  EXPECT_EQ(raw.Int("SELECT count(DISTINCT message_id) FROM alerts"), 2);
}

// A Kafka message with no value (payload pointer null, as librdkafka gives it) is stored with an
// empty payload: the NOT NULL column must not turn it into a failed batch that stalls the stream.
TEST_F(StoreTest, MessageWithoutPayloadIsStoredEmpty) {
  auto store = Store::Open(options_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  IngestStore ingest(**store);
  IngestBatch batch;
  batch.stream = "s";
  IngestMessage m;
  m.topic = "t";
  m.handler = "raw";
  m.message_id_size = 32;
  m.format = "blob";
  m.payload = std::string_view();  // null data pointer
  m.headers = std::string_view();
  batch.messages.push_back(std::move(m));
  batch.positions.push_back({"t", 0, 1, -1});
  auto done = std::make_shared<std::promise<Status>>();
  auto result = done->get_future();
  ASSERT_TRUE(ingest
                  .Submit(std::move(batch),
                          [done](const Status& st, const IngestCounts&, IngestBatch&&) {
                            done->set_value(st);
                          })
                  .ok());
  ASSERT_EQ(result.wait_for(kWait), std::future_status::ready);
  const Status st = result.get();
  EXPECT_TRUE(st.ok()) << st.ToString();
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM alerts WHERE length(payload) = 0 AND headers = x''"), 1);
}

TEST_F(StoreTest, ReopenWithSameMigrationsChangesNothing) {
  { ASSERT_NE(MustOpen(), nullptr); }
  int64_t applied_at = 0;
  {
    RawDb raw(options_.path);
    applied_at = raw.Int("SELECT max(applied_at) FROM schema_migrations");
  }
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM schema_migrations"), LatestSchemaVersion());
  EXPECT_EQ(raw.Int("SELECT max(applied_at) FROM schema_migrations"), applied_at);
}

TEST_F(StoreTest, NewerSchemaVersionIsRefusedAndLeftUntouched) {
  {
    auto store = MustOpen();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->RecordStartup("1.0.0").ok());
  }
  const int newer = LatestSchemaVersion() + 5;
  {
    RawDb raw(options_.path);
    raw.Exec("PRAGMA user_version = " + std::to_string(newer));
  }
  const std::string before = ReadBytes(options_.path);
  ASSERT_FALSE(before.empty());

  auto store = Store::Open(options_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status().ToString();
  EXPECT_THAT(store.status().message(),
              HasSubstr("store schema version " + std::to_string(newer) + " is newer"));
  EXPECT_THAT(store.status().message(), HasSubstr("(" + std::to_string(LatestSchemaVersion()) + ")"));

  EXPECT_EQ(ReadBytes(options_.path), before) << "the database file was modified";
  {
    RawDb raw(options_.path);
    EXPECT_EQ(raw.Int("PRAGMA user_version"), newer);
    EXPECT_EQ(raw.Int("SELECT count(*) FROM schema_migrations"), LatestSchemaVersion());
    EXPECT_EQ(raw.Text("SELECT value FROM store_meta WHERE key = 'last_started_version'"),
              "1.0.0");
  }
  // The refusal released the store's lock: a second attempt is refused for the same reason.
  auto again = Store::Open(options_);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition) << again.status().ToString();
}

TEST_F(StoreTest, FailingMigrationLeavesPreviousVersion) {
  const std::vector<Migration> broken = CustomMigrations({
      {2, "alpha", "CREATE TABLE alpha(x INTEGER);"},
      // The first statement succeeds, the second fails: neither may remain.
      {3, "beta", "CREATE TABLE beta(x INTEGER); INSERT INTO no_such_table VALUES (1);"},
  });
  auto store = Store::Open(options_, broken);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("migration 3 (beta)"));
  {
    RawDb raw(options_.path);
    EXPECT_EQ(raw.Int("PRAGMA user_version"), 2);
    EXPECT_TRUE(raw.HasTable("alpha"));
    EXPECT_FALSE(raw.HasTable("beta")) << "migration 3 was half-applied";
    EXPECT_THAT(raw.Column("SELECT version FROM schema_migrations ORDER BY version"), ElementsAre("1", "2"));
  }

  // A corrected list continues from version 2.
  const std::vector<Migration> fixed = CustomMigrations({
      {2, "alpha", "CREATE TABLE alpha(x INTEGER);"},
      {3, "beta", "CREATE TABLE beta(x INTEGER);"},
  });
  auto reopened = Store::Open(options_, fixed);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->schema_version(), 3);
  RawDb raw(options_.path);
  EXPECT_TRUE(raw.HasTable("beta"));
  EXPECT_THAT(raw.Column("SELECT version FROM schema_migrations ORDER BY version"), ElementsAre("1", "2", "3"));
}

TEST_F(StoreTest, FailingFirstMigrationLeavesVersionZero) {
  const std::vector<Migration> broken = {
      {1, "broken", "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, name TEXT, "
                    "applied_at INTEGER); CREATE TABLE gamma(x); SELECT * FROM nope;"},
  };
  auto store = Store::Open(options_, broken);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("migration 1 (broken)"));
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Int("PRAGMA user_version"), 0);
  EXPECT_FALSE(raw.HasTable("gamma"));
  EXPECT_FALSE(raw.HasTable("schema_migrations"));
}

TEST_F(StoreTest, NonContiguousMigrationNumberingRejected) {
  const std::vector<std::vector<Migration>> bad_lists = {
      CustomMigrations({{3, "skips 2", "CREATE TABLE skip(x);"}}),
      CustomMigrations({{1, "repeats 1", "CREATE TABLE repeat(x);"}}),
      std::vector<Migration>{{2, "starts at 2", "CREATE TABLE two(x);"}},
  };
  for (const auto& list : bad_lists) {
    SCOPED_TRACE(std::string(list.back().name));
    auto store = Store::Open(options_, list);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), StatusCode::kInternal) << store.status().ToString();
    EXPECT_THAT(store.status().message(), HasSubstr("not numbered 1..N"));
    RawDb raw(options_.path);
    EXPECT_EQ(raw.Int("PRAGMA user_version"), 0) << "a rejected list must not run at all";
    EXPECT_EQ(raw.Int("SELECT count(*) FROM sqlite_master"), 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Writes and reads
// ---------------------------------------------------------------------------------------------

TEST_F(StoreTest, WriteCommitsAndIsVisibleToRead) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  CreateTable(*store);
  for (int64_t i = 1; i <= 3; ++i) ASSERT_TRUE(store->Write(InsertRow(i)).ok());
  auto rows = CountRows(*store, "SELECT count(*) FROM t");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(*rows, 3);
  // Committed, so another connection sees it too.
  RawDb raw(options_.path);
  EXPECT_THAT(raw.Column("SELECT id FROM t ORDER BY id"), ElementsAre("1", "2", "3"));
}

TEST_F(StoreTest, WriteReturnsTheJobsErrorAndUndoesIt) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  CreateTable(*store);
  Status st = store->Write([](Connection& db) -> Status {
    TOMSTREAM_RETURN_IF_ERROR(db.Exec("INSERT INTO t(id, v) VALUES (7, 'x')"));
    return Status::NotFound("job gives up");
  });
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_EQ(st.message(), "job gives up");
  auto rows = CountRows(*store, "SELECT count(*) FROM t");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, 0);
}

TEST_F(StoreTest, ReadConnectionsAreReadOnly) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  Status st = store->Read([](Connection& db) { return db.Exec("CREATE TABLE sneaky(x)"); });
  EXPECT_FALSE(st.ok());
  RawDb raw(options_.path);
  EXPECT_FALSE(raw.HasTable("sneaky"));
}

TEST_F(StoreTest, FailingJobInGroupCommitDoesNotUndoTheOthers) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  CreateTable(*store);
  auto log = std::make_shared<JobLog>();
  auto gate = std::make_shared<Gate>();
  ReleaseOnExit release{gate};
  ASSERT_NO_FATAL_FAILURE(BlockWriter(*store, gate, log, -1));

  // Queued while the writer is held, so all of them are committed as one batch.
  constexpr int kJobs = 100;
  for (int i = 0; i < kJobs; ++i) {
    Store::WriteFn fn;
    if (i == 30) {
      // Inserts, then fails: its insert must be undone.
      fn = [log, i](Connection& db) -> Status {
        log->Ran(i);
        TOMSTREAM_RETURN_IF_ERROR(InsertRow(i)(db));
        return Status::InvalidArgument("job 30 fails on purpose");
      };
    } else if (i == 60) {
      // Inserts 1000, then collides with job 5's row: a SQL error; 1000 must be undone.
      fn = [log, i](Connection& db) -> Status {
        log->Ran(i);
        TOMSTREAM_RETURN_IF_ERROR(InsertRow(1000)(db));
        return InsertRow(5)(db);
      };
    } else {
      fn = [log, i](Connection& db) -> Status {
        log->Ran(i);
        return InsertRow(i)(db);
      };
    }
    ASSERT_TRUE(store->Submit(std::move(fn), DoneInto(log, i)).ok()) << "job " << i;
  }
  gate->Release();
  ASSERT_TRUE(log->WaitForDone(kJobs + 1)) << "not every job completed";

  const auto results = log->results();
  EXPECT_TRUE(results.at(-1).ok()) << results.at(-1).ToString();
  for (int i = 0; i < kJobs; ++i) {
    if (i == 30) {
      EXPECT_EQ(results.at(i).code(), StatusCode::kInvalidArgument) << results.at(i).ToString();
      EXPECT_EQ(results.at(i).message(), "job 30 fails on purpose");
    } else if (i == 60) {
      EXPECT_EQ(results.at(i).code(), StatusCode::kAlreadyExists) << results.at(i).ToString();
    } else {
      EXPECT_TRUE(results.at(i).ok()) << "job " << i << ": " << results.at(i).ToString();
    }
  }

  // They were one batch: every job ran before any of them was reported done (done callbacks
  // follow the batch's COMMIT).
  const auto events = log->events();
  size_t last_fn = 0;
  size_t first_done = events.size();
  for (size_t k = 0; k < events.size(); ++k) {
    if (events[k] == "done:-1") continue;
    if (events[k].rfind("fn:", 0) == 0) last_fn = k;
    if (events[k].rfind("done:", 0) == 0) first_done = std::min(first_done, k);
  }
  EXPECT_LT(last_fn, first_done) << "the jobs were not committed as one batch";

  RawDb raw(options_.path);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM t"), kJobs - 2);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM t WHERE id IN (30, 60, 1000)"), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM t WHERE id IN (0, 5, 29, 31, 59, 61, 99)"), 7);
}

// An interactive job queued behind a backlog of bulk jobs commits first, in a transaction of its
// own, and is reported done before any of the backlog; each lane keeps its own order.
TEST_F(StoreTest, InteractiveJobsCommitBeforeQueuedBulkJobsAndOnTheirOwn) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  CreateTable(*store);
  auto log = std::make_shared<JobLog>();
  auto gate = std::make_shared<Gate>();
  ReleaseOnExit release{gate};
  ASSERT_NO_FATAL_FAILURE(BlockWriter(*store, gate, log, -1));

  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(store->Submit(LoggedInsert(log, i), DoneInto(log, i)).ok());
  }
  for (int i = 100; i < 103; ++i) {
    ASSERT_TRUE(
        store->Submit(LoggedInsert(log, i), DoneInto(log, i), Store::Lane::kInteractive).ok());
  }
  gate->Release();
  ASSERT_TRUE(log->WaitForDone(50 + 3 + 1)) << "not every job completed";

  // After the blocker: the three interactive jobs run and are done, then the 50 bulk ones run.
  std::vector<std::string> events;
  for (const std::string& e : log->events()) {
    if (e != "fn:-1" && e != "done:-1") events.push_back(e);
  }
  ASSERT_EQ(events.size(), 2u * 53);
  const std::vector<std::string> first(events.begin(), events.begin() + 6);
  EXPECT_EQ(first, (std::vector<std::string>{"fn:100", "fn:101", "fn:102", "done:100", "done:101",
                                              "done:102"}));
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(events[6 + i], "fn:" + std::to_string(i));
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM t"), 53);
}

// A steady stream of interactive jobs does not stop the bulk lane: after 8 interactive commits
// in a row, a waiting bulk job gets one (one job per commit here, to count commits).
TEST_F(StoreTest, BulkJobsGetACommitAfterEightInteractiveOnes) {
  StoreOptions one = options_;
  one.max_jobs_per_commit = 1;
  auto store = MustOpen(one);
  ASSERT_NE(store, nullptr);
  CreateTable(*store);
  auto log = std::make_shared<JobLog>();
  auto gate = std::make_shared<Gate>();
  ReleaseOnExit release{gate};
  ASSERT_NO_FATAL_FAILURE(BlockWriter(*store, gate, log, -1));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(store->Submit(LoggedInsert(log, i), DoneInto(log, i)).ok());
  }
  for (int i = 100; i < 120; ++i) {
    ASSERT_TRUE(
        store->Submit(LoggedInsert(log, i), DoneInto(log, i), Store::Lane::kInteractive).ok());
  }
  gate->Release();
  ASSERT_TRUE(log->WaitForDone(2 + 20 + 1)) << "not every job completed";
  std::vector<std::string> ran;
  for (const std::string& e : log->events()) {
    if (e.rfind("fn:", 0) == 0 && e != "fn:-1") ran.push_back(e.substr(3));
  }
  std::vector<std::string> expected;
  for (int i = 100; i < 108; ++i) expected.push_back(std::to_string(i));
  expected.push_back("0");
  for (int i = 108; i < 116; ++i) expected.push_back(std::to_string(i));
  expected.push_back("1");
  for (int i = 116; i < 120; ++i) expected.push_back(std::to_string(i));
  EXPECT_EQ(ran, expected);
}

// A full database (max_size_bytes, as a full disk) makes SQLite roll the whole transaction back
// by itself: every job of that group commit is reported failed (the ones before the failing job
// were undone; the ones after it are not run, so that no later batch commits past an undone
// one), none is reported committed, and the store goes on with the next jobs.
TEST_F(StoreTest, FullDatabaseInGroupCommitFailsTheWholeGroupAndGoesOn) {
  StoreOptions small = options_;
  small.max_size_bytes = 2 * 1024 * 1024;
  auto store = MustOpen(small);
  ASSERT_NE(store, nullptr);
  CreateTable(*store);
  auto log = std::make_shared<JobLog>();
  auto gate = std::make_shared<Gate>();
  ReleaseOnExit release{gate};
  ASSERT_NO_FATAL_FAILURE(BlockWriter(*store, gate, log, -1));
  ASSERT_TRUE(store->Submit(InsertRow(1), DoneInto(log, 1)).ok());
  ASSERT_TRUE(store
                  ->Submit(
                      [](Connection& db) -> Status {
                        // 4 MiB into a 2 MiB database.
                        auto stmt = db.Prepare("INSERT INTO t(id, v) VALUES (2, ?)");
                        if (!stmt.ok()) return stmt.status();
                        return stmt->Bind(1, std::string(4 << 20, 'x')).Run();
                      },
                      DoneInto(log, 2))
                  .ok());
  ASSERT_TRUE(store->Submit(InsertRow(3), DoneInto(log, 3)).ok());
  gate->Release();
  ASSERT_TRUE(log->WaitForDone(4));
  const auto results = log->results();
  EXPECT_EQ(results.at(1).code(), StatusCode::kResourceExhausted) << results.at(1).ToString();
  EXPECT_THAT(results.at(1).message(), HasSubstr("not stored"));
  EXPECT_EQ(results.at(2).code(), StatusCode::kResourceExhausted) << results.at(2).ToString();
  EXPECT_EQ(results.at(3).code(), StatusCode::kResourceExhausted) << results.at(3).ToString();
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM t"), 0);
  EXPECT_TRUE(store->Stats().write_error.empty()) << "a full database is not a broken store";
  // The next write that fits is stored.
  EXPECT_TRUE(store->Write(InsertRow(4)).ok());
  EXPECT_EQ(raw.Int("SELECT group_concat(id) FROM t"), 4);
}

TEST_F(StoreTest, SubmitAfterCloseIsUnavailable) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  store->Close();
  bool ran = false;
  Status st = store->Submit(
      [&ran](Connection&) {
        ran = true;
        return Status::Ok();
      },
      nullptr);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_EQ(store->Write([](Connection&) { return Status::Ok(); }).code(),
            StatusCode::kUnavailable);
  store->Close();  // idempotent
  EXPECT_FALSE(ran);
}

TEST_F(StoreTest, FullQueueIsResourceExhausted) {
  options_.write_queue_capacity = 3;
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  CreateTable(*store);
  auto log = std::make_shared<JobLog>();
  auto gate = std::make_shared<Gate>();
  ReleaseOnExit release{gate};
  ASSERT_NO_FATAL_FAILURE(BlockWriter(*store, gate, log, 0));  // running, no longer queued

  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(store->Submit(InsertRow(i), DoneInto(log, i)).ok());
  bool ran = false;
  Status full = store->Submit(
      [&ran](Connection&) {
        ran = true;
        return Status::Ok();
      },
      nullptr);
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted) << full.ToString();
  EXPECT_THAT(full.message(), HasSubstr("3 jobs"));
  // Write() does not wait for room either.
  EXPECT_EQ(store->Write(InsertRow(99)).code(), StatusCode::kResourceExhausted);

  gate->Release();
  ASSERT_TRUE(log->WaitForDone(4));
  for (const auto& [id, st] : log->results()) EXPECT_TRUE(st.ok()) << id << ": " << st.ToString();
  EXPECT_FALSE(ran);
  // Room again once the writer caught up.
  EXPECT_TRUE(store->Write(InsertRow(4)).ok());
  RawDb raw(options_.path);
  EXPECT_THAT(raw.Column("SELECT id FROM t ORDER BY id"), ElementsAre("1", "2", "3", "4"));
}

TEST_F(StoreTest, CloseDrainsQueuedJobs) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  CreateTable(*store);
  auto log = std::make_shared<JobLog>();
  auto gate = std::make_shared<Gate>();
  ReleaseOnExit release{gate};
  ASSERT_NO_FATAL_FAILURE(BlockWriter(*store, gate, log, 0));

  constexpr int kQueued = 25;
  for (int i = 1; i <= kQueued; ++i) {
    ASSERT_TRUE(store->Submit(InsertRow(i), DoneInto(log, i)).ok());
  }
  // Close while the jobs are still queued behind the blocked writer.
  Store* raw_store = store.get();
  auto closed = std::async(std::launch::async, [raw_store] { raw_store->Close(); });
  // Close() refuses new work at once, before it waits for the writer.
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  int extra = 0;
  for (;;) {
    Status st = store->Submit(InsertRow(1000 + extra), DoneInto(log, 1000 + extra));
    if (!st.ok()) {
      EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
      break;
    }
    ++extra;  // Close() had not started yet; this job counts as queued too.
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "Close() never refused a Submit";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(log->results().size(), 0u) << "the writer should still be held";
  gate->Release();
  ASSERT_EQ(closed.wait_for(kWait), std::future_status::ready) << "Close() did not return";

  // Every queued job ran and committed before Close() returned.
  const auto results = log->results();
  EXPECT_EQ(results.size(), static_cast<size_t>(kQueued + extra + 1));
  for (const auto& [id, st] : results) EXPECT_TRUE(st.ok()) << id << ": " << st.ToString();
  store.reset();
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM t"), kQueued + extra);
}

// ---------------------------------------------------------------------------------------------
// Metadata, stats and the lock
// ---------------------------------------------------------------------------------------------

TEST_F(StoreTest, RecordStartupAndGetMetaSurviveReopen) {
  {
    auto store = MustOpen();
    ASSERT_NE(store, nullptr);
    auto missing = store->GetMeta("last_started_version");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

    const int64_t before = NowMillis();
    ASSERT_TRUE(store->RecordStartup("0.1.0").ok());
    const int64_t after = NowMillis();
    auto version = store->GetMeta("last_started_version");
    ASSERT_TRUE(version.ok()) << version.status().ToString();
    EXPECT_EQ(*version, "0.1.0");
    auto created = store->GetMeta("created_by_version");
    ASSERT_TRUE(created.ok());
    EXPECT_EQ(*created, "0.1.0");
    auto at = store->GetMeta("last_started_at_ms");
    ASSERT_TRUE(at.ok());
    EXPECT_GE(std::stoll(*at), before);
    EXPECT_LE(std::stoll(*at), after);
  }
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  auto kept = store->GetMeta("last_started_version");
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(*kept, "0.1.0");

  ASSERT_TRUE(store->RecordStartup("0.2.0").ok());
  EXPECT_EQ(store->GetMeta("last_started_version").value(), "0.2.0");
  EXPECT_EQ(store->GetMeta("created_by_version").value(), "0.1.0") << "must keep the first";
  auto unknown = store->GetMeta("no-such-key");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(unknown.status().message(), HasSubstr("no-such-key"));
}

TEST_F(StoreTest, SecondOpenOfTheSamePathIsAlreadyExists) {
  auto first = MustOpen();
  ASSERT_NE(first, nullptr);
  auto second = Store::Open(options_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists) << second.status().ToString();
  EXPECT_THAT(second.status().message(), HasSubstr(options_.path));
  EXPECT_THAT(second.status().message(), HasSubstr("pid " + std::to_string(getpid())));
  // The first store is unaffected.
  EXPECT_TRUE(first->RecordStartup("x").ok());

  first.reset();
  auto third = Store::Open(options_);
  ASSERT_TRUE(third.ok()) << "the lock was not released: " << third.status().ToString();
  EXPECT_EQ((*third)->GetMeta("last_started_version").value(), "x");
}

TEST_F(StoreTest, StatsDescribeTheStore) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->RecordStartup("1").ok());
  const StoreStats stats = store->Stats();
  EXPECT_EQ(stats.path, options_.path);
  EXPECT_EQ(stats.schema_version, LatestSchemaVersion());
  EXPECT_GT(stats.size_bytes, 0);
  EXPECT_GT(stats.wal_size_bytes, 0) << "a committed write goes to the WAL";
  EXPECT_EQ(stats.write_error, "");
  EXPECT_FALSE(SqliteVersion().empty());
  EXPECT_EQ(SqliteVersion(), sqlite3_libversion());
}

}  // namespace
}  // namespace tomstream::store
