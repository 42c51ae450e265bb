#include "store/outbox.h"

#include <algorithm>
#include <memory>

#include "common/clock.h"
#include "store/sqlite.h"
#include "store/store.h"

namespace tomstream::store {
namespace {

constexpr const char* kEntryColumns =
    "id, uuid, destination, topic, title, state, attempts, last_error, created_at, updated_at, "
    "next_attempt_at, coalesce(delivered_at, -1), hermes_uuid, response_body, idempotency_key";

OutboxEntry ReadEntry(Statement& s, bool with_body) {
  OutboxEntry e;
  e.id = s.ColumnInt(0);
  e.uuid = s.ColumnBlob(1);
  e.destination = s.ColumnText(2);
  e.topic = s.ColumnText(3);
  e.title = s.ColumnText(4);
  e.state = static_cast<OutboxState>(s.ColumnInt(5));
  e.attempts = static_cast<int>(s.ColumnInt(6));
  e.last_error = s.ColumnText(7);
  e.created_at_ms = s.ColumnInt(8);
  e.updated_at_ms = s.ColumnInt(9);
  e.next_attempt_at_ms = s.ColumnInt(10);
  e.delivered_at_ms = s.ColumnInt(11);
  e.hermes_uuid = s.ColumnText(12);
  e.response_body = s.ColumnText(13);
  e.idempotency_key = s.ColumnText(14);
  if (with_body) e.body = s.ColumnText(15);
  return e;
}

Result<std::optional<OutboxEntry>> FindByUuid(Connection& db, const std::string& uuid,
                                              bool with_body) {
  auto stmt = db.Prepare(std::string("SELECT ") + kEntryColumns +
                         (with_body ? ", body" : "") + " FROM outbox WHERE uuid = ?");
  if (!stmt.ok()) return stmt.status();
  stmt->BindBlob(1, uuid);
  std::vector<OutboxEntry> rows;
  TOMSTREAM_RETURN_IF_ERROR(
      CollectRows(*stmt, rows, [&](Statement& s) { return ReadEntry(s, with_body); }));
  if (rows.empty()) return std::optional<OutboxEntry>();
  return std::optional<OutboxEntry>(std::move(rows.front()));
}

}  // namespace

const char* OutboxStateName(OutboxState state) {
  switch (state) {
    case OutboxState::kPending: return "pending";
    case OutboxState::kSending: return "sending";
    case OutboxState::kDelivered: return "delivered";
    case OutboxState::kDead: return "dead";
    case OutboxState::kCancelled: return "cancelled";
  }
  return "unknown";
}

Status OutboxStore::Enqueue(std::vector<NewOutboxEntry> entries, EnqueueDone done) {
  struct Job {
    std::vector<NewOutboxEntry> entries;
    std::vector<EnqueueOutcome> outcomes;
  };
  auto job = std::make_shared<Job>();
  job->entries = std::move(entries);
  return store_.Submit(
      [job](Connection& db) -> Status {
        job->outcomes.clear();
        // The writer is the only one inserting: looking first, then inserting, is safe.
        auto find = db.Cached(
            "SELECT uuid, state FROM outbox WHERE dedupe_id = ? AND destination = ? AND topic = ? "
            "AND dedupe_key = ?");
        if (!find.ok()) return find.status();
        auto insert = db.Cached(
            "INSERT INTO outbox(uuid, destination, topic, title, idempotency_key, dedupe_key, "
            "dedupe_id, body, state, next_attempt_at, created_at, updated_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?9, ?7, 1, ?8, ?8, ?8)");
        if (!insert.ok()) return insert.status();
        const int64_t now = NowMillis();
        for (const NewOutboxEntry& e : job->entries) {
          const int64_t dedupe_id = MessageIdKey(e.dedupe_key);
          Statement& f = **find;
          f.Reset();
          auto row = f.Bind(1, dedupe_id)
                         .BindNoCopy(2, e.destination)
                         .BindNoCopy(3, e.topic)
                         .BindBlobNoCopy(4, e.dedupe_key)
                         .Step();
          if (!row.ok()) return row.status();
          if (*row) {
            job->outcomes.push_back(
                {f.ColumnBlob(0), true, static_cast<OutboxState>(f.ColumnInt(1))});
            f.Reset();
            continue;
          }
          f.Reset();
          Statement& in = **insert;
          in.Reset();
          TOMSTREAM_RETURN_IF_ERROR(in.BindBlobNoCopy(1, e.uuid)
                                        .BindNoCopy(2, e.destination)
                                        .BindNoCopy(3, e.topic)
                                        .BindNoCopy(4, e.title)
                                        .BindNoCopy(5, e.idempotency_key)
                                        .BindBlobNoCopy(6, e.dedupe_key)
                                        .BindNoCopy(7, e.body)
                                        .Bind(8, now)
                                        .Bind(9, dedupe_id)
                                        .Run());
          job->outcomes.push_back({e.uuid, false, OutboxState::kPending});
        }
        return Status::Ok();
      },
      [job, done = std::move(done)](const Status& st) {
        done(st, st.ok() ? std::move(job->outcomes) : std::vector<EnqueueOutcome>{});
      },
      Store::Lane::kInteractive);
}

Result<int64_t> OutboxStore::RecoverSending(int64_t now_ms) {
  int64_t n = 0;
  Status st = store_.Write([&](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "UPDATE outbox SET state = 1, next_attempt_at = ?1, updated_at = ?1 WHERE state = 2");
    if (!stmt.ok()) return stmt.status();
    TOMSTREAM_RETURN_IF_ERROR(stmt->Bind(1, now_ms).Run());
    n = db.Changes();
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return n;
}

Result<std::vector<OutboxWork>> OutboxStore::Claim(const std::string& destination, int64_t now_ms,
                                                   int limit, std::optional<int64_t> due_by_ms) {
  std::vector<OutboxWork> out;
  Status st = store_.Write([&](Connection& db) -> Status {
    out.clear();
    auto stmt = db.Cached(
        "UPDATE outbox SET state = 2, attempts = attempts + 1, updated_at = ?1 "
        "WHERE id IN (SELECT id FROM outbox WHERE state = 1 AND destination = ?2 "
        "AND next_attempt_at <= ?4 ORDER BY next_attempt_at, id LIMIT ?3) "
        "RETURNING id, uuid, destination, topic, title, body, attempts, next_attempt_at");
    if (!stmt.ok()) return stmt.status();
    Statement& s = **stmt;
    s.Bind(1, now_ms).BindNoCopy(2, destination).Bind(3, int64_t{limit});
    s.Bind(4, due_by_ms.value_or(now_ms));
    std::vector<std::pair<int64_t, OutboxWork>> rows;
    TOMSTREAM_RETURN_IF_ERROR(CollectRows(s, rows, [](Statement& r) {
      OutboxWork w;
      w.id = r.ColumnInt(0);
      w.uuid = r.ColumnBlob(1);
      w.destination = r.ColumnText(2);
      w.topic = r.ColumnText(3);
      w.title = r.ColumnText(4);
      w.body = r.ColumnText(5);
      w.attempts = static_cast<int>(r.ColumnInt(6));
      return std::pair<int64_t, OutboxWork>(r.ColumnInt(7), std::move(w));
    }));
    s.Reset();
    // RETURNING gives rows in no particular order: longest due first.
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second.id < b.second.id;
    });
    for (auto& [due, w] : rows) out.push_back(std::move(w));
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Status OutboxStore::Complete(std::vector<OutboxResult> results,
                             std::function<void(const Status&)> done) {
  auto shared = std::make_shared<std::vector<OutboxResult>>(std::move(results));
  return store_.Submit(
      [shared](Connection& db) -> Status {
        auto delivered = db.Cached(
            "UPDATE outbox SET state = 3, delivered_at = ?2, updated_at = ?2, last_error = '', "
            "hermes_uuid = ?3 WHERE id = ?1 AND state = 2");
        if (!delivered.ok()) return delivered.status();
        auto retry = db.Cached(
            "UPDATE outbox SET state = 1, next_attempt_at = ?3, updated_at = ?2, last_error = ?4 "
            "WHERE id = ?1 AND state = 2");
        if (!retry.ok()) return retry.status();
        auto dead = db.Cached(
            "UPDATE outbox SET state = 4, updated_at = ?2, last_error = ?3, response_body = ?4 "
            "WHERE id = ?1 AND state = 2");
        if (!dead.ok()) return dead.status();
        auto not_sent = db.Cached(
            "UPDATE outbox SET state = 1, next_attempt_at = ?3, updated_at = ?2, "
            "attempts = max(attempts - 1, 0) WHERE id = ?1 AND state = 2");
        if (!not_sent.ok()) return not_sent.status();
        const int64_t now = NowMillis();
        for (const OutboxResult& r : *shared) {
          Status st;
          switch (r.kind) {
            case OutboxResult::Kind::kDelivered:
              (*delivered)->Reset();
              st = (*delivered)->Bind(1, r.id).Bind(2, now).BindNoCopy(3, r.hermes_uuid).Run();
              break;
            case OutboxResult::Kind::kRetry:
              (*retry)->Reset();
              st = (*retry)->Bind(1, r.id).Bind(2, now).Bind(3, r.retry_at_ms)
                       .BindNoCopy(4, r.error).Run();
              break;
            case OutboxResult::Kind::kNotSent:
              (*not_sent)->Reset();
              st = (*not_sent)->Bind(1, r.id).Bind(2, now).Bind(3, r.retry_at_ms).Run();
              break;
            case OutboxResult::Kind::kDead:
              (*dead)->Reset();
              st = (*dead)->Bind(1, r.id).Bind(2, now).BindNoCopy(3, r.error)
                       .BindNoCopy(4, r.response_body).Run();
              break;
          }
          TOMSTREAM_RETURN_IF_ERROR(st);
        }
        return Status::Ok();
      },
      [done = std::move(done)](const Status& st) {
        if (done) done(st);
      });
}

Result<int64_t> OutboxStore::Hasten(const std::string& destination, int64_t now_ms) {
  int64_t changed = 0;
  Status st = store_.Write([&](Connection& db) -> Status {
    auto stmt = db.Cached(
        "UPDATE outbox SET next_attempt_at = ?1 "
        "WHERE state = 1 AND destination = ?2 AND next_attempt_at > ?1");
    if (!stmt.ok()) return stmt.status();
    (*stmt)->Bind(1, now_ms).BindNoCopy(2, destination);
    TOMSTREAM_RETURN_IF_ERROR((*stmt)->Run());
    (*stmt)->Reset();
    changed = db.Changes();
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return changed;
}

Result<std::optional<int64_t>> OutboxStore::NextDue(const std::string& destination) {
  std::optional<int64_t> next;
  Status st = store_.Read([&](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "SELECT min(next_attempt_at) FROM outbox WHERE state = 1 AND destination = ?");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, destination);
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row && !stmt->ColumnIsNull(0)) next = stmt->ColumnInt(0);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return next;
}

Result<std::vector<OutboxEntry>> OutboxStore::List(const OutboxFilter& filter, int64_t before_id,
                                                   int limit) {
  std::vector<OutboxEntry> out;
  Status st = store_.Read([&](Connection& db) -> Status {
    // With a state the index on (state, id) walks that state only, newest first.
    const std::string sql =
        std::string("SELECT ") + kEntryColumns + " FROM outbox WHERE " +
        (filter.state ? "state = ?1 AND " : "?1 = 0 AND ") +
        "(?2 = '' OR destination = ?2) AND (?3 = '' OR topic = ?3) AND (?4 = 0 OR id < ?4) "
        "ORDER BY id DESC LIMIT ?5";
    auto stmt = db.Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, int64_t{filter.state ? static_cast<int>(*filter.state) : 0})
        .Bind(2, filter.destination)
        .Bind(3, filter.topic)
        .Bind(4, before_id)
        .Bind(5, int64_t{limit});
    return CollectRows(*stmt, out, [](Statement& s) { return ReadEntry(s, false); });
  });
  if (!st.ok()) return st;
  return out;
}

Result<OutboxEntry> OutboxStore::Get(const std::string& uuid) {
  std::optional<OutboxEntry> found;
  Status st = store_.Read([&](Connection& db) -> Status {
    auto row = FindByUuid(db, uuid, true);
    if (!row.ok()) return row.status();
    found = std::move(row).value();
    return Status::Ok();
  });
  if (!st.ok()) return st;
  if (!found) return Status::NotFound("no outbox entry with this uuid");
  return std::move(*found);
}

Result<OutboxEntry> OutboxStore::Transition(const std::string& uuid, std::vector<OutboxState> from,
                                            OutboxState to, int64_t now_ms, const char* verb) {
  std::optional<OutboxEntry> result;
  Status outcome;
  Status st = store_.Write([&](Connection& db) -> Status {
    auto row = FindByUuid(db, uuid, false);
    if (!row.ok()) return row.status();
    if (!*row) {
      outcome = Status::NotFound("no outbox entry with this uuid");
      return Status::Ok();
    }
    OutboxEntry& e = **row;
    if (std::find(from.begin(), from.end(), e.state) == from.end()) {
      outcome = Status::FailedPrecondition(std::string("cannot ") + verb + " an entry that is " +
                                           OutboxStateName(e.state));
      return Status::Ok();
    }
    auto stmt = db.Prepare(
        "UPDATE outbox SET state = ?2, updated_at = ?3, "
        "next_attempt_at = CASE WHEN ?2 = 1 THEN ?3 ELSE next_attempt_at END, "
        "attempts = CASE WHEN ?2 = 1 THEN 0 ELSE attempts END WHERE id = ?1");
    if (!stmt.ok()) return stmt.status();
    TOMSTREAM_RETURN_IF_ERROR(
        stmt->Bind(1, e.id).Bind(2, int64_t{static_cast<int>(to)}).Bind(3, now_ms).Run());
    e.state = to;
    e.updated_at_ms = now_ms;
    if (to == OutboxState::kPending) {
      e.next_attempt_at_ms = now_ms;
      e.attempts = 0;
    }
    result = std::move(e);
    return Status::Ok();
  }, Store::Lane::kInteractive);
  if (!st.ok()) return st;
  if (!outcome.ok()) return outcome;
  return std::move(*result);
}

Result<OutboxEntry> OutboxStore::Retry(const std::string& uuid, int64_t now_ms) {
  return Transition(uuid, {OutboxState::kDead, OutboxState::kCancelled}, OutboxState::kPending,
                    now_ms, "retry");
}

Result<OutboxEntry> OutboxStore::Cancel(const std::string& uuid, int64_t now_ms) {
  return Transition(uuid, {OutboxState::kPending}, OutboxState::kCancelled, now_ms, "cancel");
}

Result<OutboxCounts> OutboxStore::Counts() {
  OutboxCounts c;
  Status st = store_.Read([&](Connection& db) -> Status {
    auto stmt = db.Prepare("SELECT state, count(*) FROM outbox GROUP BY state");
    if (!stmt.ok()) return stmt.status();
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      const int64_t n = stmt->ColumnInt(1);
      switch (static_cast<OutboxState>(stmt->ColumnInt(0))) {
        case OutboxState::kPending: c.pending = n; break;
        case OutboxState::kSending: c.sending = n; break;
        case OutboxState::kDelivered: c.delivered = n; break;
        case OutboxState::kDead: c.dead = n; break;
        case OutboxState::kCancelled: c.cancelled = n; break;
      }
    }
    auto oldest = db.Prepare(
        "SELECT created_at FROM outbox WHERE state = 1 ORDER BY id LIMIT 1");
    if (!oldest.ok()) return oldest.status();
    auto row = oldest->Step();
    if (!row.ok()) return row.status();
    if (*row) c.oldest_pending_created_ms = oldest->ColumnInt(0);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return c;
}

}  // namespace tomstream::store
