// Thin RAII wrappers over the SQLite C API. Internal to the store module: no other module
// includes sqlite3.h.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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

  sqlite3* raw() { return db_.get(); }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  std::unique_ptr<sqlite3, Sqlite3Closer> db_;
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
  std::string ColumnText(int col);

 private:
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, StmtFinalizer> stmt_;
};

}  // namespace tomstream::store
