// Routes added at run time, persisted so that they survive a restart.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace tomstream::store {

class Store;

struct StoredRoute {
  int64_t id = 0;
  std::string stream;
  std::string match;  // "exact", "pattern" or "regex"
  std::string topic;
  std::string handler;
  std::string start;  // "earliest", "latest", "last:N" or "time:<Unix epoch ms>"
  bool include_test = false;
  int64_t created_at_ms = 0;
};

class RouteStore {
 public:
  explicit RouteStore(Store& store) : store_(store) {}

  // Persists `route` (its id and created_at are assigned). ALREADY_EXISTS when the stream
  // already has a runtime route with the same match and topic.
  Result<StoredRoute> Add(StoredRoute route);
  // NOT_FOUND when there is no runtime route `id`.
  Status Remove(int64_t id);
  Result<std::vector<StoredRoute>> List();

 private:
  Store& store_;
};

}  // namespace tomstream::store
