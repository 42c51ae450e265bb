// All of the daemon's subscriptions: one StreamConsumer per active configured stream, and the
// routes of each, from the config file and added at run time (persisted in the store).
//
// Thread-safety: every method may be called from any thread; Reload() and Stop() are called by
// the main thread only.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "stream/consumer.h"
#include "stream/route_table.h"
#include "stream/stream_status.h"

namespace tomstream::store {
class Store;
}

namespace tomstream::stream {

struct RouteInfo {
  std::string stream;
  Route route;             // route.id is 0 for config-file routes
  bool runtime = false;
  int64_t created_at_ms = 0;
  std::vector<std::string> matched_topics;  // currently subscribed topics it selects
};

class StreamManager {
 public:
  StreamManager(const config::Config& config, store::Store& store);
  ~StreamManager();

  // Loads the runtime routes and starts a consumer per active stream.
  Status Start();
  // Stops every consumer (in parallel), each bounded by `budget`.
  void Stop(std::chrono::milliseconds budget);

  // Validates, persists and applies a runtime route. Errors name the field ("route.regex").
  Result<RouteInfo> AddRoute(const std::string& stream, Route route);
  Status RemoveRoute(int64_t id);
  std::vector<RouteInfo> ListRoutes(const std::string& stream) const;
  // Moves the assigned partitions of the topics a route selects: the runtime route `id`, or
  // (id 0) the route of `stream` whose topic/pattern/regex text is `topic`.
  Result<std::vector<PartitionStatusSnapshot>> SeekRoute(int64_t id, const std::string& stream,
                                                         const std::string& topic,
                                                         const config::StartPosition& position,
                                                         std::optional<int64_t> offset);

  std::vector<StreamStatusSnapshot> Snapshot() const;

  // Applies a new configuration's streams: a stream whose only change is its routes gets the
  // new routes in place; a stream otherwise changed (or whose commit settings changed) is
  // stopped, storing and committing what it read, and started again from its stored
  // positions; removed streams stop, added ones start. Returns one line per change.
  std::vector<std::string> Reload(const config::Config& next, std::chrono::milliseconds budget);

  // Names of the consumer loops that have not gone round for `limit` ("stream gcn").
  std::vector<std::string> Stalled(std::chrono::milliseconds limit) const;

 private:
  RouteTable TableFor(const std::string& stream) const;                  // REQUIRES: mu_ held
  const config::StreamConfig* FindStream(const std::string& name) const;  // REQUIRES: mu_ held
  std::shared_ptr<StreamConsumer> ConsumerFor(const std::string& stream) const;
  // Creates and starts the consumer of `s` with the routes known for it.
  std::shared_ptr<StreamConsumer> StartConsumer(const config::StreamConfig& s);  // REQUIRES: mu_

  store::Store& store_;

  mutable std::mutex mu_;
  config::Config config_;                  // GUARDED_BY(mu_)
  std::vector<RouteInfo> runtime_routes_;  // GUARDED_BY(mu_)
  // Shared so that a call can use a consumer without holding mu_ while a reload replaces it.
  std::map<std::string, std::shared_ptr<StreamConsumer>> consumers_;  // GUARDED_BY(mu_)
  // Consumers a reload stopped whose client was left behind (ClientLeftBehind()): kept to the
  // end. Only after broker trouble during a reload, so this stays short.
  std::vector<std::shared_ptr<StreamConsumer>> retired_;  // GUARDED_BY(mu_)
};

}  // namespace tomstream::stream
