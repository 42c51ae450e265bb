// The SQLite store: the daemon's only durable state.
//
// Threading: one writer connection owned by one writer thread; every write is a job posted to
// a bounded queue and run there. The writer groups the jobs it finds queued into one
// transaction (each in its own savepoint, so one failing job does not undo the others) and
// syncs once for all of them: group commit. Reads use a small pool of read-only connections and
// may run on any thread concurrently with the writer (WAL).
//
// Failure: a full disk or database fails the jobs of that commit (RESOURCE_EXHAUSTED, nothing of
// them stored) and later commits succeed once there is room again. An I/O error while committing
// makes the store refuse further writes (write_error() says why) until it is reopened. Either
// way what was committed before stays intact.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/lock_file.h"
#include "common/status.h"
#include "store/migrations.h"

namespace tomstream::store {

class Connection;

// The SQLite library version in use, e.g. "3.40.1".
std::string SqliteVersion();

struct StoreOptions {
  std::string path;
  std::chrono::milliseconds busy_timeout{5000};
  int reader_connections = 2;
  // Jobs waiting for the writer, in each lane; a full lane makes Submit() fail with
  // RESOURCE_EXHAUSTED.
  size_t write_queue_capacity = 4096;
  // Jobs committed together at most.
  size_t max_jobs_per_commit = 1024;
  // The database file's size limit in bytes (SQLite's max_page_count); 0: none.
  int64_t max_size_bytes = 0;
};

struct StoreStats {
  std::string path;
  int schema_version = 0;
  int64_t size_bytes = 0;
  int64_t wal_size_bytes = 0;
  std::string write_error;  // empty while writes are accepted
};

// Tells waiting readers (e.g. a live tail) that alerts up to some id are committed.
class AlertSignal {
 public:
  void Publish(int64_t last_id);
  // Waits until an id greater than `after` is published or `limit` passes; returns the latest
  // published id.
  int64_t WaitBeyond(int64_t after, std::chrono::milliseconds limit);
  int64_t latest() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t last_id_ = 0;  // GUARDED_BY(mu_)
};

class Store {
 public:
  // A unit of work run on the writer thread inside a transaction. Returning an error undoes
  // the job's own changes only.
  using WriteFn = std::function<Status(Connection&)>;
  using DoneFn = std::function<void(const Status&)>;
  using ReadFn = std::function<Status(Connection&)>;

  // Opens or creates the store at options.path (creating missing parent directories with mode
  // 0750), locks it for this process ("<path>.lock"; ALREADY_EXISTS when another process has
  // it open), applies pending migrations and starts the writer thread.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  // As above with a custom migration list (tests of the migration mechanism).
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options,
                                             std::span<const Migration> migrations);

  // Drains queued writes, stops the writer and closes every connection.
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Which queue a job waits in. The writer commits interactive jobs (a client waits on them:
  // an outbox enqueue, a route change) before any bulk job (ingest batches, delivery results)
  // and in a transaction of their own, so that they wait for at most the commit under way, not
  // for a backlog of ingest; after 8 interactive commits in a row, waiting bulk jobs get one.
  // Within a lane, jobs commit in the order they were submitted.
  enum class Lane { kBulk, kInteractive };

  // Queues `fn`; `done` runs on the writer thread once the job's transaction committed (OK) or
  // failed. Returns an error without queueing when the queue is full, the store is closing, or
  // writes are refused. `done` must not block.
  Status Submit(WriteFn fn, DoneFn done, Lane lane = Lane::kBulk);
  // Submit() and wait for the commit.
  Status Write(WriteFn fn, Lane lane = Lane::kBulk);

  // Runs `fn` with a read-only connection from the pool (waits for a free one).
  Status Read(const ReadFn& fn);

  // Stops accepting writes, commits what is queued and joins the writer. Idempotent.
  void Close();

  // Records this start in store_meta (version and time); a first write that proves the writer.
  Status RecordStartup(std::string_view daemon_version);
  // A store_meta value, or NOT_FOUND.
  Result<std::string> GetMeta(std::string_view key);

  AlertSignal& new_alerts() { return new_alerts_; }
  const std::string& path() const { return options_.path; }
  int schema_version() const { return schema_version_; }
  StoreStats Stats() const;

 private:
  struct Job {
    WriteFn fn;
    DoneFn done;
  };

  explicit Store(StoreOptions options);
  void WriterLoop();
  void CommitBatch(std::vector<Job>& batch);

  // Constant after Open().
  const StoreOptions options_;
  LockFile lock_;
  int schema_version_ = 0;
  std::unique_ptr<Connection> writer_;  // used only by writer_thread_

  mutable std::mutex mu_;
  std::condition_variable queue_cv_;
  std::deque<Job> queue_;         // GUARDED_BY(mu_): the bulk lane
  std::deque<Job> interactive_;   // GUARDED_BY(mu_)
  bool closing_ = false;          // GUARDED_BY(mu_)
  std::string write_error_;       // GUARDED_BY(mu_)

  AlertSignal new_alerts_;

  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;  // GUARDED_BY(readers_mu_)

  std::thread writer_thread_;  // last: started after everything above exists
};

}  // namespace tomstream::store
