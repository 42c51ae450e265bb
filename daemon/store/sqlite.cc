#include "store/sqlite.h"

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
