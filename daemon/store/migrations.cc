#include "store/migrations.h"

#include <chrono>
#include <string>

#include "store/sqlite.h"

namespace tomstream::store {
namespace {

// Append only. Never edit a migration that has been released: add a new one.
constexpr Migration kMigrations[] = {
    {1, "store metadata",
     R"sql(
CREATE TABLE schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL,
  applied_at INTEGER NOT NULL  -- Unix epoch milliseconds
);
CREATE TABLE store_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql"},
};

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::span<const Migration> SchemaMigrations() { return kMigrations; }

int LatestSchemaVersion() { return SchemaMigrations().back().version; }

Status Migrate(Connection& db, std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return Status::Internal("migration list is not numbered 1..N at index " + std::to_string(i));
    }
  }
  auto current = db.QueryInt("PRAGMA user_version");
  if (!current.ok()) return current.status().WithContext("reading schema version");
  const int64_t latest = migrations.empty() ? 0 : migrations.back().version;
  if (*current > latest) {
    return Status::FailedPrecondition(
        "store schema version " + std::to_string(*current) +
        " is newer than this tomstreamd supports (" + std::to_string(latest) +
        "); refusing to open it. Run a newer tomstreamd.");
  }
  for (const Migration& m : migrations) {
    if (m.version <= *current) continue;
    const std::string what = "migration " + std::to_string(m.version) + " (" + std::string(m.name) + ")";
    TOMSTREAM_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    Status st = db.Exec(m.sql);
    if (st.ok()) {
      auto record = db.Prepare(
          "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)");
      st = record.ok() ? record->Bind(1, int64_t{m.version}).Bind(2, m.name).Bind(3, NowMillis()).Run()
                       : record.status();
    }
    if (st.ok()) st = db.Exec("PRAGMA user_version = " + std::to_string(m.version));
    if (st.ok()) st = db.Exec("COMMIT");
    if (!st.ok()) {
      (void)db.Exec("ROLLBACK");
      return st.WithContext(what);
    }
  }
  return Status::Ok();
}

}  // namespace tomstream::store
