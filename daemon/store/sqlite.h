// Thin RAII wrappers over the SQLite C API. Internal to the store module: no other module
// includes sqlite3.h.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace tomstream::store {

struct Sqlite3Closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

// Maps a SQLite result code to a Status, naming `what` and SQLite's message.
Status SqliteStatus(sqlite3* db, int rc, std::string_view what);

class Statement;

// One database connection. Not thread-safe: each connection belongs to one thread at a time.
// The dedupe key of a message id (hop _id or content hash): its first 8 bytes as a signed
// little-endian integer, zero-padded. Also callable from SQL as tomstream_id_key(blob).
int64_t MessageIdKey(std::string_view message_id);

class Connection {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // Opens `path` (creating it in kReadWrite mode) and applies the connection pragmas.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, Mode mode,
                                                  int busy_timeout_ms);

  // Runs one or more statements that return no rows.
  Status Exec(std::string_view sql);
  Result<Statement> Prepare(std::string_view sql);
  // The value of a single-integer query such as "PRAGMA user_version".
  Result<int64_t> QueryInt(std::string_view sql);

  // A statement prepared on first use and kept for the connection's lifetime, returned reset
  // with its bindings cleared. For hot statements; REQUIRES `sql` to be a string literal (its
  // address is the cache key).
  Result<Statement*> Cached(const char* sql);
  // Runs a cached statement that returns no rows (e.g. "SAVEPOINT job").
  Status RunCached(const char* sql);

  // Inside a transaction (SQLite may roll one back by itself after SQLITE_FULL or an I/O error).
  bool InTransaction() { return sqlite3_get_autocommit(db_.get()) == 0; }

  // Rows changed by the last INSERT, UPDATE or DELETE.
  int64_t Changes() { return sqlite3_changes64(db_.get()); }
  int64_t LastInsertId() { return sqlite3_last_insert_rowid(db_.get()); }
  sqlite3* raw() { return db_.get(); }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  std::unique_ptr<sqlite3, Sqlite3Closer> db_;
  std::unordered_map<const char*, std::unique_ptr<Statement>> cached_;  // finalized before db_ closes
};

// A prepared statement with 1-based bind helpers. Step() returns true while rows remain.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  Statement& Bind(int index, int64_t v) {
    sqlite3_bind_int64(stmt_.get(), index, v);
    return *this;
  }
  Statement& Bind(int index, std::string_view v) {
    sqlite3_bind_text(stmt_.get(), index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& Bind(int index, double v) {
    sqlite3_bind_double(stmt_.get(), index, v);
    return *this;
  }
  // An empty view binds an empty blob, never NULL (SQLite binds NULL for a null pointer).
  Statement& BindBlob(int index, std::string_view v) {
    sqlite3_bind_blob(stmt_.get(), index, NonNull(v), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // Without a copy: REQUIRES `v` to stay valid until the statement is reset or finalized.
  Statement& BindBlobNoCopy(int index, std::string_view v) {
    sqlite3_bind_blob(stmt_.get(), index, NonNull(v), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Statement& BindNoCopy(int index, std::string_view v) {
    sqlite3_bind_text(stmt_.get(), index, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  // Binds NULL for an empty optional.
  template <typename T>
  Statement& Bind(int index, const std::optional<T>& v) {
    if (!v) return BindNull(index);
    return Bind(index, *v);
  }
  // Binds NULL for an empty string.
  Statement& BindTextOrNull(int index, std::string_view v) {
    if (v.empty()) return BindNull(index);
    return Bind(index, v);
  }
  Statement& BindNull(int index) {
    sqlite3_bind_null(stmt_.get(), index);
    return *this;
  }

  Result<bool> Step();
  // Steps to completion, for statements that return no rows.
  Status Run();
  void Reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }

  int64_t ColumnInt(int col) { return sqlite3_column_int64(stmt_.get(), col); }
  double ColumnDouble(int col) { return sqlite3_column_double(stmt_.get(), col); }
  bool ColumnIsNull(int col) { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::optional<double> ColumnOptionalDouble(int col) {
    if (ColumnIsNull(col)) return std::nullopt;
    return ColumnDouble(col);
  }
  std::string ColumnText(int col);
  std::string ColumnBlob(int col);

 private:
  static const char* NonNull(std::string_view v) { return v.data() != nullptr ? v.data() : ""; }

  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, StmtFinalizer> stmt_;
};

// Appends read(stmt) for every row `stmt` returns.
template <typename Row, typename ReadRow>
Status CollectRows(Statement& stmt, std::vector<Row>& out, ReadRow read) {
  for (;;) {
    auto row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!row.value()) return Status::Ok();
    out.push_back(read(stmt));
  }
}

}  // namespace tomstream::store
