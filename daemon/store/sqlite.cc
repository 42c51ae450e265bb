#include "store/sqlite.h"

#include <algorithm>
#include <mutex>

namespace tomstream::store {

Status SqliteStatus(sqlite3* db, int rc, std::string_view what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::Ok();
  std::string msg(what);
  msg += ": ";
  msg += (db != nullptr) ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_FULL: return Status::ResourceExhausted(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Status::Unavailable(msg);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM: return Status::IoError(msg);
    case SQLITE_CONSTRAINT: return Status::AlreadyExists(msg);
    default: return Status::Internal(msg);
  }
}

int64_t MessageIdKey(std::string_view message_id) {
  uint64_t key = 0;
  const size_t n = std::min<size_t>(message_id.size(), 8);
  for (size_t i = 0; i < n; ++i) {
    key |= uint64_t{static_cast<unsigned char>(message_id[i])} << (8 * i);
  }
  return static_cast<int64_t>(key);
}

namespace {

void SqlMessageIdKey(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  const void* blob = sqlite3_value_blob(argv[0]);
  const int size = sqlite3_value_bytes(argv[0]);
  sqlite3_result_int64(
      ctx, MessageIdKey(std::string_view(static_cast<const char*>(blob), static_cast<size_t>(size))));
}

}  // namespace

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, Mode mode,
                                                     int busy_timeout_ms) {
  static std::once_flag configured;
  std::call_once(configured, [] {
    // Memory statistics take a global mutex on every allocation; nothing here reads them.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  });
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_NOMUTEX | (mode == Mode::kReadOnly
                                               ? SQLITE_OPEN_READONLY
                                               : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  std::unique_ptr<Connection> conn(new Connection(raw));  // owns raw even on failure
  if (rc != SQLITE_OK) return SqliteStatus(raw, rc, "cannot open store " + path);
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  const int fn = sqlite3_create_function(raw, "tomstream_id_key", 1,
                                         SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                                         nullptr, SqlMessageIdKey, nullptr, nullptr);
  if (fn != SQLITE_OK) return SqliteStatus(raw, fn, "registering tomstream_id_key");
  if (mode == Mode::kReadWrite) {
    // Takes effect when the database is created: fewer, fuller pages for rows of ~0.5-10 KB.
    TOMSTREAM_RETURN_IF_ERROR(conn->Exec("PRAGMA page_size=16384"));
    // WAL lets readers run beside the single writer; FULL syncs the WAL on every commit so a
    // committed transaction survives power loss, not only a process crash.
    TOMSTREAM_RETURN_IF_ERROR(conn->Exec("PRAGMA journal_mode=WAL"));
    TOMSTREAM_RETURN_IF_ERROR(conn->Exec("PRAGMA synchronous=FULL"));
    TOMSTREAM_RETURN_IF_ERROR(conn->Exec("PRAGMA foreign_keys=ON"));
    // The writer's page cache holds the hot parts of the indexes (random message ids); larger
    // WAL checkpoints mean fewer, bigger writes to the database file.
    TOMSTREAM_RETURN_IF_ERROR(conn->Exec("PRAGMA cache_size=-16384"));
    TOMSTREAM_RETURN_IF_ERROR(conn->Exec("PRAGMA wal_autocheckpoint=4096"));
    TOMSTREAM_RETURN_IF_ERROR(conn->Exec("PRAGMA temp_store=MEMORY"));
  }
  return conn;
}

Status Connection::Exec(std::string_view sql) {
  std::string owned(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db_.get(), owned.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return SqliteStatus(nullptr, rc, msg);
  }
  return Status::Ok();
}

Result<Statement> Connection::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db_.get(), rc, "prepare");
  return Statement(db_.get(), stmt);
}

Result<Statement*> Connection::Cached(const char* sql) {
  auto it = cached_.find(sql);
  if (it == cached_.end()) {
    auto stmt = Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    it = cached_.emplace(sql, std::make_unique<Statement>(std::move(stmt).value())).first;
  } else {
    it->second->Reset();
  }
  return it->second.get();
}

Status Connection::RunCached(const char* sql) {
  auto stmt = Cached(sql);
  if (!stmt.ok()) return stmt.status();
  Status st = (*stmt)->Run();
  (*stmt)->Reset();
  return st;
}

Result<int64_t> Connection::QueryInt(std::string_view sql) {
  auto stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!row.value()) return Status::Internal("query returned no row: " + std::string(sql));
  return stmt->ColumnInt(0);
}

Result<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(db_, rc, "step");
}

Status Statement::Run() {
  for (;;) {
    auto row = Step();
    if (!row.ok()) return row.status();
    if (!row.value()) return Status::Ok();
  }
}

std::string Statement::ColumnText(int col) {
  const auto* p = sqlite3_column_text(stmt_.get(), col);
  const int n = sqlite3_column_bytes(stmt_.get(), col);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

}  // namespace tomstream::store

namespace tomstream::store {

std::string Statement::ColumnBlob(int col) {
  const void* p = sqlite3_column_blob(stmt_.get(), col);
  const int n = sqlite3_column_bytes(stmt_.get(), col);
  return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
}

}  // namespace tomstream::store
