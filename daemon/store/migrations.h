// Versioned, forward-only schema migrations.
//
// The schema version is SQLite's PRAGMA user_version. Each migration runs in its own IMMEDIATE
// transaction that also bumps user_version and records itself in schema_migrations, so a crash
// leaves the store at the previous version or the next, never between. A store whose version is
// newer than this binary knows is refused rather than guessed at.
#pragma once

#include <span>
#include <string_view>

#include "common/status.h"

namespace tomstream::store {

class Connection;

struct Migration {
  int version;             // 1, 2, 3, ... with no gaps
  std::string_view name;   // short description, recorded in schema_migrations
  std::string_view sql;    // one or more statements
};

// The migrations of tomstream's schema, in order.
std::span<const Migration> SchemaMigrations();

// The version a fresh store reaches.
int LatestSchemaVersion();

// Brings the database to the last version of `migrations`.
// On success the database's user_version equals migrations.back().version.
// On failure the database is at the last version that committed; nothing is half-applied.
Status Migrate(Connection& db, std::span<const Migration> migrations);

}  // namespace tomstream::store
