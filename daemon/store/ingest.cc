#include "store/ingest.h"

#include <chrono>
#include <cstring>
#include <memory>

#include "common/clock.h"
#include "store/sqlite.h"
#include "store/store.h"

namespace tomstream::store {
namespace {


void PutU32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}

bool GetU32(std::string_view& in, uint32_t& v) {
  if (in.size() < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<unsigned char>(in[i])} << (8 * i);
  in.remove_prefix(4);
  return true;
}

constexpr uint32_t kNullValue = 0xFFFFFFFFu;

// The statements one ingest transaction uses, cached on the writer connection.
struct IngestStatements {
  Statement* insert_alert;
  Statement* find_alert;
  Statement* insert_quarantine;
  Statement* insert_hermes;
  Statement* insert_target;
  Statement* insert_alias;
  Statement* insert_photometry;
  Statement* insert_gcn;
  Statement* upsert_position;
  Statement* upsert_counters;
};

constexpr const char* kIngestSql[] = {
      "INSERT INTO alerts(stream, topic, partition, \"offset\", kafka_ts, stored_at, handler, "
      "message_id, format, payload, headers, summary, id_key) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
      // Not folded into the INSERT: INSERT ... SELECT ... WHERE NOT EXISTS on the same table
      // makes SQLite stage every row in a temporary table, which halves the insert rate.
      "SELECT 1 FROM alerts WHERE id_key = ? AND message_id = ?",
      "INSERT INTO quarantine(stream, topic, partition, \"offset\", handler, error, payload, "
      "headers, stored_at) VALUES (?,?,?,?,?,?,?,?,?)",
      "INSERT INTO hermes_messages(alert_id, title, topic, submitter, authors, message_text, "
      "event_id, references_json) VALUES (?,?,?,?,?,?,?,?)",
      "INSERT INTO targets(alert_id, name, ra, dec, json) VALUES (?,?,?,?,?)",
      "INSERT INTO target_aliases(target_id, alias) VALUES (?,?)",
      "INSERT INTO photometry(alert_id, target_name, date_obs, date_obs_jd, telescope, "
      "instrument, bandpass, brightness, brightness_error, brightness_unit, "
      "limiting_brightness, limiting_brightness_error, limiting_brightness_unit, exposure_time, "
      "observer, comments, catalog) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
      "INSERT INTO gcn_notices(alert_id, kind, notice_type, mission, instrument, event_id, "
      "ivorn, role, trigger_time, ra, dec, error_radius, title) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
      "INSERT INTO partition_offsets(stream, topic, partition, next_offset, last_message_at) "
      "VALUES (?,?,?,?,?) ON CONFLICT(stream, topic, partition) DO UPDATE SET "
      "next_offset = excluded.next_offset, "
      "last_message_at = coalesce(excluded.last_message_at, last_message_at)",
      "INSERT INTO stream_counters(stream, stored, duplicates, quarantined, skipped) "
      "VALUES (?,?,?,?,?) ON CONFLICT(stream) DO UPDATE SET "
      "stored = stored + excluded.stored, duplicates = duplicates + excluded.duplicates, "
      "quarantined = quarantined + excluded.quarantined, skipped = skipped + excluded.skipped",
};

Result<IngestStatements> PrepareIngest(Connection& db) {
  Statement* prepared[std::size(kIngestSql)];
  for (size_t i = 0; i < std::size(kIngestSql); ++i) {
    auto st = db.Cached(kIngestSql[i]);
    if (!st.ok()) return st.status();
    prepared[i] = *st;
  }
  return IngestStatements{prepared[0], prepared[1], prepared[2], prepared[3], prepared[4],
                          prepared[5], prepared[6], prepared[7], prepared[8], prepared[9]};
}

Status StoreHermes(IngestStatements& s, Connection& db, int64_t alert_id,
                   const handlers::HermesRecord& h) {
  s.insert_hermes->Reset();
  TOMSTREAM_RETURN_IF_ERROR(s.insert_hermes->Bind(1, alert_id)
                                .Bind(2, h.title)
                                .Bind(3, h.topic)
                                .Bind(4, h.submitter)
                                .Bind(5, h.authors)
                                .Bind(6, h.message_text)
                                .BindTextOrNull(7, h.event_id)
                                .BindTextOrNull(8, h.references_json)
                                .Run());
  for (const auto& t : h.targets) {
    s.insert_target->Reset();
    TOMSTREAM_RETURN_IF_ERROR(s.insert_target->Bind(1, alert_id)
                                  .Bind(2, t.name)
                                  .Bind(3, t.ra_deg)
                                  .Bind(4, t.dec_deg)
                                  .Bind(5, t.json)
                                  .Run());
    const int64_t target_id = db.LastInsertId();
    for (const auto& alias : t.aliases) {
      s.insert_alias->Reset();
      TOMSTREAM_RETURN_IF_ERROR(s.insert_alias->Bind(1, target_id).Bind(2, alias).Run());
    }
  }
  for (const auto& p : h.photometry) {
    s.insert_photometry->Reset();
    TOMSTREAM_RETURN_IF_ERROR(s.insert_photometry->Bind(1, alert_id)
                                  .Bind(2, p.target_name)
                                  .Bind(3, p.date_obs)
                                  .Bind(4, p.date_obs_jd)
                                  .BindTextOrNull(5, p.telescope)
                                  .BindTextOrNull(6, p.instrument)
                                  .Bind(7, p.bandpass)
                                  .Bind(8, p.brightness)
                                  .Bind(9, p.brightness_error)
                                  .BindTextOrNull(10, p.brightness_unit)
                                  .Bind(11, p.limiting_brightness)
                                  .Bind(12, p.limiting_brightness_error)
                                  .BindTextOrNull(13, p.limiting_brightness_unit)
                                  .Bind(14, p.exposure_time)
                                  .BindTextOrNull(15, p.observer)
                                  .BindTextOrNull(16, p.comments)
                                  .BindTextOrNull(17, p.catalog)
                                  .Run());
  }
  return Status::Ok();
}

Status StoreGcn(IngestStatements& s, int64_t alert_id, const handlers::GcnRecord& g) {
  s.insert_gcn->Reset();
  return s.insert_gcn->Bind(1, alert_id)
      .Bind(2, g.kind)
      .BindTextOrNull(3, g.notice_type)
      .BindTextOrNull(4, g.mission)
      .BindTextOrNull(5, g.instrument)
      .BindTextOrNull(6, g.event_id)
      .BindTextOrNull(7, g.ivorn)
      .BindTextOrNull(8, g.role)
      .Bind(9, g.trigger_time_ms)
      .Bind(10, g.ra_deg)
      .Bind(11, g.dec_deg)
      .Bind(12, g.error_radius_deg)
      .BindTextOrNull(13, g.title)
      .Run();
}

Status WriteBatch(Connection& db, const IngestBatch& batch, IngestCounts& counts) {
  auto prepared = PrepareIngest(db);
  if (!prepared.ok()) return prepared.status();
  IngestStatements& s = *prepared;
  const int64_t now = NowMillis();

  for (const IngestMessage& m : batch.messages) {
    switch (m.disposition) {
      case Disposition::kSkip:
        ++counts.skipped;
        break;
      case Disposition::kQuarantine:
        s.insert_quarantine->Reset();
        TOMSTREAM_RETURN_IF_ERROR(s.insert_quarantine->Bind(1, batch.stream)
                                      .Bind(2, m.topic)
                                      .Bind(3, int64_t{m.partition})
                                      .Bind(4, m.offset)
                                      .Bind(5, m.handler)
                                      .Bind(6, m.error)
                                      .BindBlob(7, m.payload)
                                      .BindBlob(8, m.headers)
                                      .Bind(9, now)
                                      .Run());
        ++counts.quarantined;
        break;
      case Disposition::kStore: {
        // The writer is the only one inserting, so looking first and then inserting is safe.
        const int64_t key = MessageIdKey(m.message_id());
        s.find_alert->Reset();
        auto found = s.find_alert->Bind(1, key).BindBlobNoCopy(2, m.message_id()).Step();
        s.find_alert->Reset();  // no read left open across the commit
        if (!found.ok()) return found.status();
        if (*found) {
          ++counts.duplicates;
          break;
        }
        s.insert_alert->Reset();
        // The batch outlives the statement's execution: no copies of the message's bytes.
        s.insert_alert->BindNoCopy(1, batch.stream)
            .BindNoCopy(2, m.topic)
            .Bind(3, int64_t{m.partition})
            .Bind(4, m.offset)
            .Bind(6, now)
            .BindNoCopy(7, m.handler)
            .BindBlobNoCopy(8, m.message_id())
            .BindNoCopy(9, m.format)
            .BindBlobNoCopy(10, m.payload)
            .BindBlobNoCopy(11, m.headers)
            .BindNoCopy(12, m.parsed.summary)
            .Bind(13, key);
        if (m.timestamp_ms >= 0) {
          s.insert_alert->Bind(5, m.timestamp_ms);
        } else {
          s.insert_alert->BindNull(5);
        }
        TOMSTREAM_RETURN_IF_ERROR(s.insert_alert->Run());
        const int64_t alert_id = db.LastInsertId();
        if (m.parsed.hermes) {
          TOMSTREAM_RETURN_IF_ERROR(StoreHermes(s, db, alert_id, *m.parsed.hermes));
        }
        if (m.parsed.gcn) TOMSTREAM_RETURN_IF_ERROR(StoreGcn(s, alert_id, *m.parsed.gcn));
        ++counts.stored;
        counts.last_alert_id = alert_id;
        break;
      }
    }
  }
  for (const PartitionPosition& p : batch.positions) {
    s.upsert_position->Reset();
    s.upsert_position->Bind(1, batch.stream)
        .Bind(2, p.topic)
        .Bind(3, int64_t{p.partition})
        .Bind(4, p.next_offset);
    if (p.last_message_ms >= 0) {
      s.upsert_position->Bind(5, p.last_message_ms);
    } else {
      s.upsert_position->BindNull(5);
    }
    TOMSTREAM_RETURN_IF_ERROR(s.upsert_position->Run());
  }
  s.upsert_counters->Reset();
  return s.upsert_counters->Bind(1, batch.stream)
      .Bind(2, counts.stored)
      .Bind(3, counts.duplicates)
      .Bind(4, counts.quarantined)
      .Bind(5, counts.skipped)
      .Run();
}

}  // namespace

std::string EncodeHeaders(std::span<const handlers::Header> headers) {
  std::string out;
  EncodeHeaders(headers, out);
  return out;
}

void EncodeHeaders(std::span<const handlers::Header> headers, std::string& out) {
  out.clear();
  size_t size = 0;
  for (const auto& h : headers) size += 8 + h.key.size() + h.value.size();
  out.reserve(size);
  for (const auto& h : headers) {
    PutU32(out, static_cast<uint32_t>(h.key.size()));
    out.append(h.key);
    if (h.null_value) {
      PutU32(out, kNullValue);
    } else {
      PutU32(out, static_cast<uint32_t>(h.value.size()));
      out.append(h.value);
    }
  }
}

std::vector<handlers::Header> DecodeHeaders(std::string_view blob) {
  std::vector<handlers::Header> out;
  uint32_t n = 0;
  while (!blob.empty()) {
    handlers::Header h;
    if (!GetU32(blob, n) || n > blob.size()) break;
    h.key = blob.substr(0, n);
    blob.remove_prefix(n);
    if (!GetU32(blob, n)) break;
    if (n == kNullValue) {
      h.null_value = true;
    } else {
      if (n > blob.size()) break;
      h.value = blob.substr(0, n);
      blob.remove_prefix(n);
    }
    out.push_back(h);
  }
  return out;
}

Status IngestStore::Submit(IngestBatch batch, DoneFn done) {
  auto shared = std::make_shared<IngestBatch>(std::move(batch));
  auto counts = std::make_shared<IngestCounts>();
  return store_.Submit(
      [this, shared, counts](Connection& db) {
        *counts = IngestCounts{};
        if (failed_streams_.count(shared->stream) != 0) {
          return Status::FailedPrecondition("an earlier batch of stream " + shared->stream +
                                            " failed; waiting for the consumer to rewind");
        }
        return WriteBatch(db, *shared, *counts);
      },
      [this, shared, counts, done = std::move(done)](const Status& st) {
        // Runs on the writer thread, after the commit or its failure.
        if (!st.ok()) failed_streams_.insert(shared->stream);
        // Watchers learn about new alerts only once they are committed.
        if (st.ok() && counts->last_alert_id > 0) store_.new_alerts().Publish(counts->last_alert_id);
        done(st, st.ok() ? *counts : IngestCounts{}, std::move(*shared));
      });
}

Result<std::vector<PartitionPosition>> IngestStore::Positions(const std::string& stream,
                                                           const std::string& topic) {
  std::vector<PartitionPosition> out;
  Status st = store_.Read([&](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "SELECT topic, partition, next_offset, coalesce(last_message_at, -1) "
        "FROM partition_offsets WHERE stream = ?1 AND (?2 = '' OR topic = ?2) "
        "ORDER BY topic, partition");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, stream).Bind(2, topic);
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!row.value()) break;
      out.push_back({stmt->ColumnText(0), static_cast<int32_t>(stmt->ColumnInt(1)),
                     stmt->ColumnInt(2), stmt->ColumnInt(3)});
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Status IngestStore::SetPositions(const std::string& stream,
                                 const std::vector<PartitionPosition>& positions) {
  return store_.Write([stream, positions](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "INSERT INTO partition_offsets(stream, topic, partition, next_offset) VALUES (?,?,?,?) "
        "ON CONFLICT(stream, topic, partition) DO UPDATE SET next_offset = excluded.next_offset");
    if (!stmt.ok()) return stmt.status();
    for (const auto& p : positions) {
      stmt->Reset();
      TOMSTREAM_RETURN_IF_ERROR(
          stmt->Bind(1, stream).Bind(2, p.topic).Bind(3, int64_t{p.partition}).Bind(4, p.next_offset).Run());
    }
    return Status::Ok();
  });
}

}  // namespace tomstream::store

namespace tomstream::store {

Status IngestStore::Resume(const std::string& stream) {
  return store_.Write([this, stream](Connection&) {
    failed_streams_.erase(stream);
    return Status::Ok();
  });
}

Result<IngestCounts> IngestStore::Counters(const std::string& stream) {
  IngestCounts c;
  Status st = store_.Read([&](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "SELECT stored, duplicates, quarantined, skipped FROM stream_counters WHERE stream = ?");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, stream);
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (row.value()) {
      c.stored = stmt->ColumnInt(0);
      c.duplicates = stmt->ColumnInt(1);
      c.quarantined = stmt->ColumnInt(2);
      c.skipped = stmt->ColumnInt(3);
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return c;
}

}  // namespace tomstream::store
