// One persistent Kafka subscription: a consumer thread for one configured stream.
//
// The thread owns the librdkafka consumer. It reads messages in batches, hands each to the
// handler its route names, and passes batches to the store, which writes the messages and the
// partitions' next offsets in one transaction (group commit: a batch closes after
// commit_max_messages messages or commit_max_delay). Only after that commit are the offsets
// committed to Kafka. On assignment a partition resumes from the later of its stored and its
// committed offset, so a crash at any moment neither loses nor repeats a message; a message
// delivered again with the same hop _id (or content) is stored once.
//
// If the store fails a batch, the store refuses the stream's later batches until the consumer
// has rewound its partitions to the first unstored message; consumption pauses with capped
// exponential backoff and resumes by itself.
//
// Broker unreachable, authentication failures, deleted topics: the consumer stays up,
// librdkafka reconnects with capped backoff, and status() says what is wrong. A fatal client
// error or a stale heartbeat topic makes the thread recreate its consumer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "stream/route_table.h"
#include "stream/stream_status.h"

namespace tomstream::store {
class Store;
}

namespace tomstream::stream {

struct ConsumerOptions {
  config::StreamConfig stream;
  int commit_max_messages = 1000;
  std::chrono::milliseconds commit_max_delay{5};
  // How often the topic list is re-read (new topics for routes, deleted topics).
  std::chrono::milliseconds topic_refresh{10000};
  // Batches handed to the store and not yet committed, at most, and the memory they may hold.
  // While the store is busy committing, later batches queue up and are committed together, so
  // a backlog is written in large transactions; the byte bound keeps that from costing memory.
  size_t max_inflight_batches = 16;
  size_t max_inflight_bytes = size_t{12} << 20;
  // Extra librdkafka properties (tests, tuning).
  std::vector<std::pair<std::string, std::string>> kafka_overrides;
};

// A request to move the consumption position of the partitions of some topics.
struct SeekRequest {
  // The topics whose assigned partitions move: those the route selects.
  Route route;
  config::StartPosition position;
  std::optional<int64_t> absolute_offset;  // overrides `position`
};

class StreamConsumer {
 public:
  StreamConsumer(ConsumerOptions options, store::Store& store, RouteTable routes);
  ~StreamConsumer();  // Stop()s with a 10 s budget if still running
  StreamConsumer(const StreamConsumer&) = delete;
  StreamConsumer& operator=(const StreamConsumer&) = delete;

  // Starts the consumer thread.
  void Start();
  // Stores what was consumed, commits offsets and closes the consumer; bounded by `budget`.
  void Stop(std::chrono::milliseconds budget);

  // Replaces the routes; the consumer thread resubscribes. Thread-safe.
  void SetRoutes(RouteTable routes);
  // Moves assigned partitions; answers with their new positions. Thread-safe; blocks until the
  // consumer thread has done it (bounded).
  Result<std::vector<PartitionStatusSnapshot>> Seek(const SeekRequest& request);

  // Thread-safe.
  StreamStatusSnapshot status() const;
  // Time since the consumer thread last went round its loop (which it does at least every
  // 100 ms while healthy). Thread-safe.
  std::chrono::milliseconds SinceProgress() const;
  // True when, on some close, the Kafka client could not close in time and was left running
  // rather than destroyed (see CloseConsumer()): this object must then outlive it, i.e. live to
  // the process exit.
  bool ClientLeftBehind() const;
  const std::string& name() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tomstream::stream
