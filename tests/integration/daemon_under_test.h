// End-to-end test helpers: the real tomstreamd and tomctl binaries against a real Kafka broker.
//
// - TestProducer: a librdkafka producer (idempotent, bounded queue) that sends hop-style
//   messages and waits for every delivery report; it remembers where each message landed.
// - StoreReader: read-only queries on the daemon's SQLite store, to check exactly what it stored.
// - DaemonUnderTest: writes a config for a broker, starts tomstreamd with a test-owned
//   NOTIFY_SOCKET and waits for READY=1, runs tomctl, stops / kill -9s / restarts the daemon.
// - BrokerProcess: a private broker (tests/kafka/broker.sh start DIR), stopped on destruction.
//
// Every wait is bounded; conditions are polled with a deadline (WaitUntil), never slept on.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kafka_env.h"
#include "notify_listener.h"
#include "subprocess.h"

namespace tomstream::integration {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using test::KafkaEnv;
using test::KafkaListener;
using testing::RunResult;

// ------------------------------------------------------------------------------------- waiting
// Polls `condition` every `poll` until it is true or `limit` has passed; true if it became true.
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds limit,
               std::chrono::milliseconds poll = std::chrono::milliseconds(100));

// A name unique per process and call, usable as a stream name / group id (<= 64 characters of
// [A-Za-z0-9-]).
std::string UniqueName(const std::string& prefix);

// ------------------------------------------------------------------------------------ messages
using Header = std::pair<std::string, std::optional<std::string>>;  // nullopt: null value

struct OutMessage {
  std::string payload;
  std::vector<Header> headers;
};

// 16 random bytes: a hop _id (uuid4 as raw bytes).
std::string RandomId();
// A hop-client JSON message: headers _format=json, _id (if given), _sender=alice, and _test
// (value "true") when `test`.
OutMessage HopJson(std::string payload, std::optional<std::string> id, bool test = false);

struct Delivery {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string error;  // empty: delivered
};

class TestProducer {
 public:
  // An idempotent producer on `listener` of `env`; `extra` librdkafka properties apply last.
  explicit TestProducer(const KafkaEnv& env, KafkaListener listener = KafkaListener::kPlaintext,
                        std::map<std::string, std::string> extra = {});
  ~TestProducer();
  TestProducer(const TestProducer&) = delete;
  TestProducer& operator=(const TestProducer&) = delete;

  rd_kafka_t* handle() const { return rk_.get(); }

  // Queues one message (waits, bounded, while the local queue is full). Returns its index in
  // deliveries(). Throws std::runtime_error on failure.
  size_t Produce(const std::string& topic, const OutMessage& m,
                 int32_t partition = RD_KAFKA_PARTITION_UA);
  // Waits until every queued message has its delivery report; fails unless all were delivered.
  ::testing::AssertionResult Flush(std::chrono::milliseconds limit = std::chrono::seconds(60));
  // Produce + Flush of one message; returns where it landed (offset -1 on failure, with a
  // recorded test failure).
  Delivery ProduceOne(const std::string& topic, const OutMessage& m);

  std::vector<Delivery> deliveries() const;
  // offset -> payload of the messages delivered to `topic` (partition 0).
  std::map<int64_t, std::string> PayloadsByOffset(const std::string& topic) const;
  Delivery delivery(size_t index) const;

 private:
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);

  mutable std::mutex mu_;
  std::vector<Delivery> deliveries_;  // GUARDED_BY(mu_)
  std::vector<std::string> payloads_; // GUARDED_BY(mu_)
  size_t reported_ = 0;               // GUARDED_BY(mu_)
  test::KafkaPtr rk_;
};

// Creates topics (through the broker's PLAINTEXT listener), `partitions` each. Throws.
void CreateTopics(const KafkaEnv& env, const std::vector<std::string>& topics, int partitions = 1);

// ------------------------------------------------------------------------------------ the store
// One value of a result row: nullopt for SQL NULL, else the bytes (integers as decimal text).
using Cell = std::optional<std::string>;
using Row = std::vector<Cell>;

class StoreReader {
 public:
  explicit StoreReader(std::string path) : path_(std::move(path)) {}
  // Runs `sql` on a fresh read-only connection with the `?` parameters bound as text. Throws
  // std::runtime_error on any SQLite error (e.g. the store does not exist yet).
  std::vector<Row> Query(const std::string& sql, const std::vector<std::string>& params = {}) const;
  // The first column of the first row as an integer; `fallback` for no row or NULL.
  int64_t Int(const std::string& sql, const std::vector<std::string>& params = {},
              int64_t fallback = 0) const;
  // As Int(), but 0 when the query throws (the store may not exist yet: for polling).
  int64_t IntOrZero(const std::string& sql, const std::vector<std::string>& params = {}) const;

  // Common questions.
  int64_t CountAlerts(const std::string& stream, const std::string& topic) const;
  int64_t DistinctOffsets(const std::string& stream, const std::string& topic) const;
  int64_t NextOffset(const std::string& stream, const std::string& topic,
                     int32_t partition = 0) const;  // -1 when no row
  struct Counters {
    int64_t stored = 0, duplicates = 0, quarantined = 0, skipped = 0;
  };
  Counters StreamCounters(const std::string& stream) const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Checks that the alerts of `stream` on `topic` (one partition, 0) are exactly `expected`
// (offset -> payload): as many rows as expected, one per offset, each with its payload.
::testing::AssertionResult StoredExactly(const StoreReader& store, const std::string& stream,
                                         const std::string& topic,
                                         const std::map<int64_t, std::string>& expected);
// The offsets of the alerts of `stream` on `topic`, ascending.
std::vector<int64_t> StoredOffsets(const StoreReader& store, const std::string& stream,
                                   const std::string& topic);

// The stored header blob (store/ingest.h EncodeHeaders) decoded independently of the daemon.
std::vector<Header> DecodeStoredHeaders(const std::string& blob);

// ------------------------------------------------------------------------------------ config
struct RouteSpec {
  std::string selector = "topic";  // topic | pattern | regex
  std::string topic = {};
  std::string handler = "raw";
  std::string start = {};          // empty: the stream's
  bool include_test = false;
};

struct StreamSpec {
  std::string name;
  std::string url;                 // kafka://host:port/
  std::string security = "none";
  std::optional<bool> tls;
  std::string ca_file;
  std::string username;
  std::string password;
  std::string group_id;
  std::string start = "earliest";
  int topic_refresh_ms = 1000;
  std::vector<RouteSpec> routes;
};

// A stream on the broker's PLAINTEXT listener with a unique name and group id.
StreamSpec PlaintextStream(const KafkaEnv& env, const std::string& prefix);
// The Hopskotch setup: SASL_SSL + SCRAM-SHA-512 on localhost, the broker's CA; tls by default.
StreamSpec HopskotchStream(const KafkaEnv& env, const std::string& prefix);

// A [[destination]] named "hop" of kind "kafka" publishing `topic` through `stream`, with fast
// retries (100 ms doubling to 1 s).
std::string KafkaDestination(const std::string& stream, const std::string& topic,
                             int max_in_flight);
// A photometry CSV (TOM Toolkit columns) with one row for each of the targets <prefix><first> ..
// <prefix><first + count - 1>: `tomctl publish photometry --file` makes one message of each.
std::string PhotometryCsv(const std::string& prefix, int first, int count);

// ------------------------------------------------------------------------------------ daemon
// int64 fields of protobuf JSON are strings; accept both.
int64_t JsonInt(const json& j);

class DaemonUnderTest {
 public:
  explicit DaemonUnderTest(const std::string& prefix);
  ~DaemonUnderTest();  // SIGKILLs a running daemon; removes the directory unless a test failed
  DaemonUnderTest(const DaemonUnderTest&) = delete;
  DaemonUnderTest& operator=(const DaemonUnderTest&) = delete;

  // Writes the config: the streams, `store_extra` inside [store], and `tail` (more TOML, e.g.
  // [[destination]] tables) at the end.
  void Configure(const std::vector<StreamSpec>& streams, const std::string& store_extra = "",
                 const std::string& tail = "");

  // Starts tomstreamd and waits for READY=1 (READY means the store and the socket serve).
  ::testing::AssertionResult Start(std::chrono::milliseconds limit = std::chrono::seconds(30));
  // SIGTERM; expects exit status 0 within `limit` (else shows the daemon's threads and kills it).
  ::testing::AssertionResult Stop(std::chrono::milliseconds limit = std::chrono::seconds(20));
  // SIGKILL and reap.
  ::testing::AssertionResult Kill();
  // SIGHUP; expects RELOADING=1 and then READY=1 within `limit`.
  ::testing::AssertionResult Reload(std::chrono::milliseconds limit = std::chrono::seconds(30));
  bool Running();
  pid_t pid() const;
  // The running daemon's threads (gdb backtraces, condensed), for failure messages.
  std::string Stacks();

  RunResult Tomctl(std::vector<std::string> args,
                   std::chrono::milliseconds limit = std::chrono::seconds(30));
  // tomctl --json ARGS, parsed; nullopt (and the reason in *error) when it fails.
  std::optional<json> TomctlJson(std::vector<std::string> args, std::string* error = nullptr);
  // The stream's entry of `tomctl --json status`, or nullopt.
  std::optional<json> StreamStatus(const std::string& stream, std::string* error = nullptr);
  // The partition entry of a stream status, or nullptr.
  static const json* FindPartition(const json& stream_status, const std::string& topic,
                                   int32_t partition = 0);

  // Everything the daemon instances of this test wrote to stderr (for failure messages).
  std::string Logs() const;
  // The last `lines` lines of Logs().
  std::string LogTail(size_t lines = 60) const;

  const StoreReader& store() const { return store_; }
  const std::string& dir() const { return dir_; }
  const std::string& socket() const { return socket_; }
  const std::string& config_path() const { return config_; }

 private:
  void Retire();  // keeps the current instance's log, drops the Subprocess

  std::string dir_, socket_, store_path_, config_;
  StoreReader store_;
  std::unique_ptr<testing::NotifyListener> notify_;
  std::unique_ptr<testing::Subprocess> daemon_;
  std::string old_logs_;
  int instance_ = 0;
};

// ------------------------------------------------------------------------------------ broker
// A private broker in its own directory (tests/kafka/broker.sh); stopped on destruction.
class BrokerProcess {
 public:
  explicit BrokerProcess(std::string dir);
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  ::testing::AssertionResult Start();    // broker.sh start DIR (fresh)
  ::testing::AssertionResult Stop();     // broker.sh stop DIR
  ::testing::AssertionResult Restart();  // broker.sh restart DIR (same ports and data)
  KafkaEnv env() const;                  // DIR/broker.env
  const std::string& dir() const { return dir_; }

 private:
  ::testing::AssertionResult Run(const std::string& command, std::chrono::seconds limit);
  std::string dir_;
  bool started_ = false;
};

}  // namespace tomstream::integration
