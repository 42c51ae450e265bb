#include "store/store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "store/sqlite.h"

namespace tomstream::store {
namespace {

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

Status CreateParentDirectories(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return Status::Ok();
  std::error_code ec;
  if (std::filesystem::is_directory(parent, ec)) return Status::Ok();
  std::filesystem::path partial;
  for (const auto& part : parent) {
    partial /= part;
    if (mkdir(partial.c_str(), 0750) != 0 && errno != EEXIST) {
      return Status::IoError("cannot create directory " + partial.string() + ": " +
                             std::strerror(errno));
    }
  }
  return Status::Ok();
}


}  // namespace

void AlertSignal::Publish(int64_t last_id) {
  {
    std::lock_guard lock(mu_);
    if (last_id <= last_id_) return;
    last_id_ = last_id;
  }
  cv_.notify_all();
}

int64_t AlertSignal::WaitBeyond(int64_t after, std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, limit, [&] { return last_id_ > after; });
  return last_id_;
}

int64_t AlertSignal::latest() const {
  std::lock_guard lock(mu_);
  return last_id_;
}

std::string SqliteVersion() { return sqlite3_libversion(); }

Store::Store(StoreOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  return Open(options, SchemaMigrations());
}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options,
                                           std::span<const Migration> migrations) {
  TOMSTREAM_RETURN_IF_ERROR(CreateParentDirectories(options.path));
  auto lock = LockFile::Acquire(options.path + ".lock", "store " + options.path);
  if (!lock.ok()) return lock.status();
  const int busy_ms = static_cast<int>(options.busy_timeout.count());
  auto writer = Connection::Open(options.path, Connection::Mode::kReadWrite, busy_ms);
  if (!writer.ok()) return writer.status();
  TOMSTREAM_RETURN_IF_ERROR(Migrate(**writer, migrations));
  if (options.max_size_bytes > 0) {
    auto page_size = (*writer)->QueryInt("PRAGMA page_size");
    if (!page_size.ok()) return page_size.status();
    const int64_t pages = std::max<int64_t>(1, options.max_size_bytes / *page_size);
    TOMSTREAM_RETURN_IF_ERROR((*writer)->Exec("PRAGMA max_page_count = " + std::to_string(pages)));
  }
  auto version = (*writer)->QueryInt("PRAGMA user_version");
  if (!version.ok()) return version.status();

  std::unique_ptr<Store> store(new Store(options));
  store->lock_ = std::move(lock).value();
  store->schema_version_ = static_cast<int>(*version);
  store->writer_ = std::move(writer).value();
  for (int i = 0; i < options.reader_connections; ++i) {
    auto reader = Connection::Open(options.path, Connection::Mode::kReadOnly, busy_ms);
    if (!reader.ok()) return reader.status().WithContext("opening a reader connection");
    store->idle_readers_.push_back(std::move(reader).value());
  }
  store->writer_thread_ = std::thread([s = store.get()] { s->WriterLoop(); });
  return store;
}

Store::~Store() { Close(); }

void Store::Close() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  queue_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
}

Status Store::Submit(WriteFn fn, DoneFn done, Lane lane) {
  {
    std::lock_guard lock(mu_);
    if (closing_) return Status::Unavailable("store is closing");
    if (!write_error_.empty()) {
      return Status::Unavailable("store refuses writes after an earlier failure: " + write_error_);
    }
    // Each lane has the capacity: a bulk backlog must not refuse a client's job.
    std::deque<Job>& queue = lane == Lane::kInteractive ? interactive_ : queue_;
    if (queue.size() >= options_.write_queue_capacity) {
      return Status::ResourceExhausted("store write queue is full (" +
                                       std::to_string(options_.write_queue_capacity) + " jobs)");
    }
    queue.push_back(Job{std::move(fn), std::move(done)});
  }
  queue_cv_.notify_one();
  return Status::Ok();
}

Status Store::Write(WriteFn fn, Lane lane) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  TOMSTREAM_RETURN_IF_ERROR(
      Submit(std::move(fn), [promise](const Status& st) { promise->set_value(st); }, lane));
  return future.get();
}

void Store::WriterLoop() {
  // Interactive commits in a row while bulk jobs wait: a steady stream of client requests must
  // not stop ingest.
  constexpr int kMaxInteractiveInARow = 8;
  int interactive_in_a_row = 0;
  std::vector<Job> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      queue_cv_.wait(lock, [&] { return closing_ || !queue_.empty() || !interactive_.empty(); });
      if (queue_.empty() && interactive_.empty()) return;  // closing and drained
      // Interactive jobs first, in a transaction of their own (see Lane).
      const bool interactive =
          !interactive_.empty() &&
          (queue_.empty() || interactive_in_a_row < kMaxInteractiveInARow);
      interactive_in_a_row = interactive ? interactive_in_a_row + 1 : 0;
      std::deque<Job>& lane = interactive ? interactive_ : queue_;
      while (!lane.empty() && batch.size() < options_.max_jobs_per_commit) {
        batch.push_back(std::move(lane.front()));
        lane.pop_front();
      }
    }
    CommitBatch(batch);
    batch.clear();
  }
}

void Store::CommitBatch(std::vector<Job>& batch) {
  Connection& db = *writer_;
  std::vector<Status> results(batch.size());
  Status txn = db.RunCached("BEGIN IMMEDIATE");
  for (size_t i = 0; txn.ok() && i < batch.size(); ++i) {
    Status st = db.RunCached("SAVEPOINT job");
    if (st.ok()) {
      st = batch[i].fn(db);
      if (st.ok()) {
        st = db.RunCached("RELEASE job");
      } else if (db.InTransaction()) {
        (void)db.RunCached("ROLLBACK TO job");
        (void)db.RunCached("RELEASE job");
      }
    }
    results[i] = st;
    if (!st.ok() && !db.InTransaction()) {
      // SQLite rolled the whole transaction back by itself (a full disk or database, an I/O
      // error): the jobs before this one in it are undone too. The jobs after it are not run:
      // a later batch of a stream must never commit past an undone earlier one.
      for (size_t j = 0; j < batch.size(); ++j) {
        if (j != i) results[j] = Status(st.code(), "not stored, with a failed write: " + st.message());
      }
      break;  // no transaction is open any more: nothing to commit
    }
  }
  if (txn.ok() && db.InTransaction()) {
    txn = db.RunCached("COMMIT");
    if (!txn.ok() && db.InTransaction()) (void)db.RunCached("ROLLBACK");
  }
  if (!txn.ok()) {
    // A full disk or database (RESOURCE_EXHAUSTED) undoes the transaction and leaves the
    // database intact: later writes succeed once there is room again. After an I/O error the
    // state of the files is unknown: no more writes until the store is reopened.
    if (txn.code() == StatusCode::kIoError) {
      spdlog::error("store: commit failed, refusing further writes: {}", txn.message());
      std::lock_guard lock(mu_);
      write_error_ = txn.message();
    } else {
      spdlog::error("store: commit failed, nothing of it stored: {}", txn.message());
    }
    for (auto& r : results) r = txn;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].done) batch[i].done(results[i]);
  }
}

Status Store::Read(const ReadFn& fn) {
  std::unique_ptr<Connection> conn;
  {
    std::unique_lock lock(readers_mu_);
    readers_cv_.wait(lock, [&] { return !idle_readers_.empty(); });
    conn = std::move(idle_readers_.back());
    idle_readers_.pop_back();
  }
  Status st = fn(*conn);
  {
    std::lock_guard lock(readers_mu_);
    idle_readers_.push_back(std::move(conn));
  }
  readers_cv_.notify_one();
  return st;
}

Status Store::RecordStartup(std::string_view daemon_version) {
  const std::string version(daemon_version);
  return Write([version](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "INSERT INTO store_meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    if (!stmt.ok()) return stmt.status();
    TOMSTREAM_RETURN_IF_ERROR(stmt->Bind(1, "last_started_version").Bind(2, version).Run());
    stmt->Reset();
    TOMSTREAM_RETURN_IF_ERROR(
        stmt->Bind(1, "last_started_at_ms").Bind(2, std::to_string(NowMillis())).Run());
    auto created = db.Prepare(
        "INSERT INTO store_meta(key, value) VALUES ('created_by_version', ?) "
        "ON CONFLICT(key) DO NOTHING");
    if (!created.ok()) return created.status();
    return created->Bind(1, version).Run();
  });
}

Result<std::string> Store::GetMeta(std::string_view key) {
  std::string value;
  bool found = false;
  const std::string k(key);
  Status st = Read([&](Connection& db) -> Status {
    auto stmt = db.Prepare("SELECT value FROM store_meta WHERE key = ?");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, k);
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    found = row.value();
    if (found) value = stmt->ColumnText(0);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  if (!found) return Status::NotFound("no store_meta key " + k);
  return value;
}

StoreStats Store::Stats() const {
  StoreStats s;
  s.path = options_.path;
  s.schema_version = schema_version_;
  s.size_bytes = FileSize(options_.path);
  s.wal_size_bytes = FileSize(options_.path + "-wal");
  std::lock_guard lock(mu_);
  s.write_error = write_error_;
  return s;
}

}  // namespace tomstream::store
