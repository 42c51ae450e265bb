#include "store/routes.h"

#include <chrono>

#include "store/sqlite.h"
#include "store/store.h"

namespace tomstream::store {

Result<StoredRoute> RouteStore::Add(StoredRoute route) {
  route.created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  Status st = store_.Write([&route](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "INSERT INTO routes(stream, match, topic, handler, start, include_test, created_at) "
        "VALUES (?,?,?,?,?,?,?)");
    if (!stmt.ok()) return stmt.status();
    Status run = stmt->Bind(1, route.stream)
                     .Bind(2, route.match)
                     .Bind(3, route.topic)
                     .Bind(4, route.handler)
                     .Bind(5, route.start)
                     .Bind(6, int64_t{route.include_test})
                     .Bind(7, route.created_at_ms)
                     .Run();
    if (run.code() == StatusCode::kAlreadyExists) {
      return Status::AlreadyExists("stream " + route.stream + " already has a runtime route for " +
                                   route.match + " \"" + route.topic + "\"");
    }
    TOMSTREAM_RETURN_IF_ERROR(run);
    route.id = db.LastInsertId();
    return Status::Ok();
  }, Store::Lane::kInteractive);
  if (!st.ok()) return st;
  return route;
}

Status RouteStore::Remove(int64_t id) {
  return store_.Write([id](Connection& db) -> Status {
    auto stmt = db.Prepare("DELETE FROM routes WHERE id = ?");
    if (!stmt.ok()) return stmt.status();
    TOMSTREAM_RETURN_IF_ERROR(stmt->Bind(1, id).Run());
    if (db.Changes() == 0) return Status::NotFound("no runtime route with id " + std::to_string(id));
    return Status::Ok();
  }, Store::Lane::kInteractive);
}

Result<std::vector<StoredRoute>> RouteStore::List() {
  std::vector<StoredRoute> out;
  Status st = store_.Read([&](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "SELECT id, stream, match, topic, handler, start, include_test, created_at FROM routes "
        "ORDER BY id");
    if (!stmt.ok()) return stmt.status();
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!row.value()) break;
      out.push_back({stmt->ColumnInt(0), stmt->ColumnText(1), stmt->ColumnText(2),
                     stmt->ColumnText(3), stmt->ColumnText(4), stmt->ColumnText(5),
                     stmt->ColumnInt(6) != 0, stmt->ColumnInt(7)});
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace tomstream::store
