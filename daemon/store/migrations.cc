#include "store/migrations.h"

#include <chrono>
#include <string>

#include "common/clock.h"
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
    {2, "alerts, offsets, quarantine, routes, hermes and gcn records",
     R"sql(
-- Every stored message. id increases in storage order (alert ids in the API).
CREATE TABLE alerts (
  id         INTEGER PRIMARY KEY,
  stream     TEXT    NOT NULL,
  topic      TEXT    NOT NULL,
  partition  INTEGER NOT NULL,
  "offset"   INTEGER NOT NULL,
  kafka_ts   INTEGER,           -- Unix epoch ms, NULL when the message had none
  stored_at  INTEGER NOT NULL,  -- Unix epoch ms
  handler    TEXT    NOT NULL,
  message_id BLOB    NOT NULL,  -- hop _id (16 bytes) or SHA-256 of topic and payload (32)
  format     TEXT    NOT NULL,
  payload    BLOB    NOT NULL,
  headers    BLOB    NOT NULL,  -- see store/ingest.h EncodeHeaders()
  summary    TEXT    NOT NULL
);
CREATE UNIQUE INDEX alerts_by_message_id ON alerts(message_id);
CREATE INDEX alerts_by_topic ON alerts(stream, topic);

-- The next offset to consume per partition, written in the same transaction as the messages.
CREATE TABLE partition_offsets (
  stream          TEXT    NOT NULL,
  topic           TEXT    NOT NULL,
  partition       INTEGER NOT NULL,
  next_offset     INTEGER NOT NULL,
  last_message_at INTEGER,
  PRIMARY KEY (stream, topic, partition)
) WITHOUT ROWID;

CREATE TABLE stream_counters (
  stream       TEXT PRIMARY KEY,
  stored       INTEGER NOT NULL DEFAULT 0,
  duplicates   INTEGER NOT NULL DEFAULT 0,
  quarantined  INTEGER NOT NULL DEFAULT 0,
  skipped      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Messages a handler could not parse, kept whole.
CREATE TABLE quarantine (
  id        INTEGER PRIMARY KEY,
  stream    TEXT    NOT NULL,
  topic     TEXT    NOT NULL,
  partition INTEGER NOT NULL,
  "offset"  INTEGER NOT NULL,
  handler   TEXT    NOT NULL,
  error     TEXT    NOT NULL,
  payload   BLOB    NOT NULL,
  headers   BLOB    NOT NULL,
  stored_at INTEGER NOT NULL
);

-- Routes added at run time (config-file routes live in the config).
CREATE TABLE routes (
  id           INTEGER PRIMARY KEY,
  stream       TEXT    NOT NULL,
  match        TEXT    NOT NULL CHECK (match IN ('exact', 'pattern', 'regex')),
  topic        TEXT    NOT NULL,
  handler      TEXT    NOT NULL,
  start        TEXT    NOT NULL,  -- earliest | latest | last:N | time:<epoch ms>
  include_test INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL,
  UNIQUE (stream, match, topic)
);

CREATE TABLE hermes_messages (
  alert_id     INTEGER PRIMARY KEY REFERENCES alerts(id),
  title        TEXT NOT NULL,
  topic        TEXT NOT NULL,
  submitter    TEXT NOT NULL,
  authors      TEXT NOT NULL,
  message_text TEXT NOT NULL,
  event_id     TEXT,
  references_json TEXT
);

CREATE TABLE targets (
  id       INTEGER PRIMARY KEY,
  alert_id INTEGER NOT NULL REFERENCES alerts(id),
  name     TEXT    NOT NULL,
  ra       REAL,
  dec      REAL,
  json     TEXT    NOT NULL
);
CREATE INDEX targets_by_name ON targets(name);

CREATE TABLE target_aliases (
  target_id INTEGER NOT NULL REFERENCES targets(id),
  alias     TEXT    NOT NULL
);
CREATE INDEX target_aliases_by_alias ON target_aliases(alias);

CREATE TABLE photometry (
  id                        INTEGER PRIMARY KEY,
  alert_id                  INTEGER NOT NULL REFERENCES alerts(id),
  target_name               TEXT    NOT NULL,
  date_obs                  TEXT    NOT NULL,
  date_obs_jd               REAL    NOT NULL,
  telescope                 TEXT,
  instrument                TEXT,
  bandpass                  TEXT    NOT NULL,
  brightness                REAL,
  brightness_error          REAL,
  brightness_unit           TEXT,
  limiting_brightness       REAL,
  limiting_brightness_error REAL,
  limiting_brightness_unit  TEXT,
  exposure_time             REAL,
  observer                  TEXT,
  comments                  TEXT,
  catalog                   TEXT
);
CREATE INDEX photometry_by_target ON photometry(target_name, date_obs_jd);

CREATE TABLE gcn_notices (
  alert_id      INTEGER PRIMARY KEY REFERENCES alerts(id),
  kind          TEXT NOT NULL,
  notice_type   TEXT,
  mission       TEXT,
  instrument    TEXT,
  event_id      TEXT,
  ivorn         TEXT,
  role          TEXT,
  trigger_time  INTEGER,  -- Unix epoch ms
  ra            REAL,
  dec           REAL,
  error_radius  REAL,
  title         TEXT
);
CREATE INDEX gcn_notices_by_trigger_time ON gcn_notices(trigger_time);
)sql"},
    {3, "dedupe alerts by an integer key; drop the unused topic index",
     R"sql(
-- Message ids are random, so every insert lands on a random page of the dedupe index and the
-- commit rewrites that page. An 8-byte integer key makes the index about half as big and
-- ingest correspondingly faster; the writer checks the full message id itself
-- (store/ingest.cc). tomstream_id_key() is registered on every connection (store/sqlite.cc).
ALTER TABLE alerts ADD COLUMN id_key INTEGER NOT NULL DEFAULT 0;
UPDATE alerts SET id_key = tomstream_id_key(message_id);
DROP INDEX alerts_by_message_id;
CREATE INDEX alerts_by_id_key ON alerts(id_key);
-- Alert listings walk ids newest first and filter as they go (store/queries.cc); no query used
-- this index, and every insert paid for it.
DROP INDEX alerts_by_topic;
)sql"},
    {4, "outbox",
     R"sql(
-- Photometry messages accepted for publishing, one row each, kept after delivery. See
-- store/outbox.h for the life of an entry.
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY,
  uuid            BLOB    NOT NULL,  -- 16 bytes, the message's hop _id (UUIDv7: time-ordered)
  destination     TEXT    NOT NULL,
  topic           TEXT    NOT NULL,
  title           TEXT    NOT NULL,
  idempotency_key TEXT    NOT NULL,  -- '' when the client gave none
  dedupe_key      BLOB    NOT NULL,  -- SHA-256 of the idempotency key, else of the body
  dedupe_id       INTEGER NOT NULL,  -- its first 8 bytes (tomstream_id_key), the indexed part
  body            TEXT    NOT NULL,  -- the Hermes JSON exactly as sent
  state           INTEGER NOT NULL,  -- control.proto OutboxState: 1 pending, 2 sending,
                                     -- 3 delivered, 4 dead, 5 cancelled
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,  -- Unix epoch ms
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  delivered_at    INTEGER,
  last_error      TEXT    NOT NULL DEFAULT '',
  hermes_uuid     TEXT    NOT NULL DEFAULT '',
  response_body   TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX outbox_by_uuid ON outbox(uuid);
-- Repeat detection: an 8-byte key instead of (destination, topic, 32-byte hash), several times
-- smaller; the writer compares the rest (store/outbox.cc), as for alerts (migration 3).
CREATE INDEX outbox_by_dedupe_id ON outbox(dedupe_id);
-- Listing by state, newest first; the oldest pending entry.
CREATE INDEX outbox_by_state ON outbox(state, id);
-- What a destination's publisher claims next, and when.
CREATE INDEX outbox_due ON outbox(destination, next_attempt_at) WHERE state = 1;
)sql"},
};


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
