#include "store/queries.h"

#include "store/sqlite.h"
#include "store/store.h"

namespace tomstream::store {
namespace {

constexpr const char* kAlertColumns =
    "id, stream, topic, partition, \"offset\", coalesce(kafka_ts, -1), stored_at, handler, "
    "message_id, format, headers, summary";

AlertRow ReadAlert(Statement& s, bool with_payload) {
  AlertRow a;
  a.id = s.ColumnInt(0);
  a.stream = s.ColumnText(1);
  a.topic = s.ColumnText(2);
  a.partition = static_cast<int32_t>(s.ColumnInt(3));
  a.offset = s.ColumnInt(4);
  a.kafka_ts_ms = s.ColumnInt(5);
  a.stored_at_ms = s.ColumnInt(6);
  a.handler = s.ColumnText(7);
  a.message_id = s.ColumnBlob(8);
  a.format = s.ColumnText(9);
  a.headers = s.ColumnBlob(10);
  a.summary = s.ColumnText(11);
  if (with_payload) a.payload = s.ColumnBlob(12);
  return a;
}

}  // namespace

Result<std::vector<AlertRow>> Queries::SelectAlerts(const AlertFilter& f, bool newest_first,
                                                    int64_t bound_id, int limit) {
  std::string sql = std::string("SELECT ") + kAlertColumns +
                    (f.include_payload ? ", payload" : "") +
                    " FROM alerts WHERE (?1 = '' OR stream = ?1) AND (?2 = '' OR topic = ?2) "
                    "AND (?3 = '' OR handler = ?3) AND (?4 IS NULL OR stored_at >= ?4) "
                    "AND (?5 IS NULL OR stored_at < ?5) AND ";
  sql += newest_first ? "(?6 = 0 OR id < ?6) ORDER BY id DESC LIMIT ?7"
                      : "id > ?6 ORDER BY id ASC LIMIT ?7";
  std::vector<AlertRow> out;
  Status st = store_.Read([&](Connection& db) -> Status {
    auto stmt = db.Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, f.stream).Bind(2, f.topic).Bind(3, f.handler).Bind(4, f.stored_from_ms)
        .Bind(5, f.stored_to_ms).Bind(6, bound_id).Bind(7, int64_t{limit});
    return CollectRows(*stmt, out, [&](Statement& s) { return ReadAlert(s, f.include_payload); });
  });
  if (!st.ok()) return st;
  return out;
}

Result<std::vector<AlertRow>> Queries::ListAlerts(const AlertFilter& filter, int64_t before_id,
                                                  int limit) {
  return SelectAlerts(filter, true, before_id, limit);
}

Result<std::vector<AlertRow>> Queries::AlertsAfter(const AlertFilter& filter, int64_t after_id,
                                                   int limit) {
  return SelectAlerts(filter, false, after_id, limit);
}

Result<AlertRow> Queries::GetAlert(int64_t id) {
  std::vector<AlertRow> out;
  Status st = store_.Read([&](Connection& db) -> Status {
    auto stmt = db.Prepare(std::string("SELECT ") + kAlertColumns + ", payload FROM alerts WHERE id = ?");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, id);
    return CollectRows(*stmt, out, [](Statement& s) { return ReadAlert(s, true); });
  });
  if (!st.ok()) return st;
  if (out.empty()) return Status::NotFound("no alert with id " + std::to_string(id));
  return std::move(out.front());
}

Result<int64_t> Queries::LatestAlertId() {
  int64_t id = 0;
  Status st = store_.Read([&](Connection& db) -> Status {
    auto v = db.QueryInt("SELECT coalesce(max(id), 0) FROM alerts");
    if (!v.ok()) return v.status();
    id = *v;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return id;
}

Result<std::vector<PhotometryRow>> Queries::ListPhotometry(const std::string& target,
                                                           std::optional<double> jd_from,
                                                           std::optional<double> jd_to,
                                                           int64_t after_id, int limit) {
  std::vector<PhotometryRow> out;
  Status st = store_.Read([&](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "SELECT id, alert_id, target_name, date_obs, date_obs_jd, coalesce(telescope, ''), "
        "coalesce(instrument, ''), bandpass, brightness, brightness_error, "
        "coalesce(brightness_unit, ''), limiting_brightness, limiting_brightness_error, "
        "coalesce(limiting_brightness_unit, ''), exposure_time, coalesce(observer, ''), "
        "coalesce(comments, ''), coalesce(catalog, '') FROM photometry "
        "WHERE (target_name = ?1 OR target_name IN (SELECT t.name FROM targets t "
        "  JOIN target_aliases a ON a.target_id = t.id WHERE a.alias = ?1)) "
        "AND (?2 IS NULL OR date_obs_jd >= ?2) AND (?3 IS NULL OR date_obs_jd < ?3) "
        "AND id > ?4 ORDER BY id LIMIT ?5");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, target).Bind(2, jd_from).Bind(3, jd_to).Bind(4, after_id).Bind(5, int64_t{limit});
    return CollectRows(*stmt, out, [](Statement& s) {
      PhotometryRow p;
      p.id = s.ColumnInt(0);
      p.alert_id = s.ColumnInt(1);
      p.target_name = s.ColumnText(2);
      p.date_obs = s.ColumnText(3);
      p.date_obs_jd = s.ColumnDouble(4);
      p.telescope = s.ColumnText(5);
      p.instrument = s.ColumnText(6);
      p.bandpass = s.ColumnText(7);
      p.brightness = s.ColumnOptionalDouble(8);
      p.brightness_error = s.ColumnOptionalDouble(9);
      p.brightness_unit = s.ColumnText(10);
      p.limiting_brightness = s.ColumnOptionalDouble(11);
      p.limiting_brightness_error = s.ColumnOptionalDouble(12);
      p.limiting_brightness_unit = s.ColumnText(13);
      p.exposure_time = s.ColumnOptionalDouble(14);
      p.observer = s.ColumnText(15);
      p.comments = s.ColumnText(16);
      p.catalog = s.ColumnText(17);
      return p;
    });
  });
  if (!st.ok()) return st;
  return out;
}

Result<std::vector<QuarantineRow>> Queries::ListQuarantine(const std::string& stream,
                                                           const std::string& topic,
                                                           bool include_payload,
                                                           int64_t before_id, int limit) {
  std::vector<QuarantineRow> out;
  Status st = store_.Read([&](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "SELECT id, stream, topic, partition, \"offset\", handler, error, headers, stored_at, "
        "CASE WHEN ?3 THEN payload ELSE x'' END FROM quarantine "
        "WHERE (?1 = '' OR stream = ?1) AND (?2 = '' OR topic = ?2) AND (?4 = 0 OR id < ?4) "
        "ORDER BY id DESC LIMIT ?5");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, stream).Bind(2, topic).Bind(3, int64_t{include_payload}).Bind(4, before_id)
        .Bind(5, int64_t{limit});
    return CollectRows(*stmt, out, [](Statement& s) {
      QuarantineRow q;
      q.id = s.ColumnInt(0);
      q.stream = s.ColumnText(1);
      q.topic = s.ColumnText(2);
      q.partition = static_cast<int32_t>(s.ColumnInt(3));
      q.offset = s.ColumnInt(4);
      q.handler = s.ColumnText(5);
      q.error = s.ColumnText(6);
      q.headers = s.ColumnBlob(7);
      q.stored_at_ms = s.ColumnInt(8);
      q.payload = s.ColumnBlob(9);
      return q;
    });
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace tomstream::store
