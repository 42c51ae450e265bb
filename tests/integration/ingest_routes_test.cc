// End-to-end routes: runtime routes across restarts and removal, routes to topics created later
// (exact and pattern), start positions (latest, last:N) and seeks (earliest, offset:N).
#include <set>

#include "daemon_under_test.h"

namespace tomstream::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto kStoreWait = 60s;

std::string Seq(const std::string& what, int i) {
  return json{{"seq", i}, {"what", what}}.dump();
}

void ProduceN(TestProducer& producer, const std::string& topic, int n, const std::string& what,
              int first = 0) {
  for (int i = first; i < first + n; ++i) producer.Produce(topic, HopJson(Seq(what, i), RandomId()));
  ASSERT_TRUE(producer.Flush());
}

// ------------------------------------------------------------------ 7. runtime routes
TEST(IngestRoutes, RuntimeRouteSurvivesARestartAndRemovalStopsConsumption) {
  const auto env = KafkaEnv::from_environment();
  const std::string control = test::unique_topic("rt-control");
  const std::string topic = test::unique_topic("rt-runtime");
  CreateTopics(env, {control, topic});
  StreamSpec s = PlaintextStream(env, "runtime");
  s.routes = {RouteSpec{.topic = control}};
  DaemonUnderTest d("it-rt");
  d.Configure({s});
  ASSERT_TRUE(d.Start());
  const auto& store = d.store();
  TestProducer producer(env);

  // Messages that exist before the route: --start earliest must take them.
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, topic, 5, "before"));
  std::string error;
  auto added = d.TomctlJson({"topics", "add", s.name, topic, "--handler", "raw", "--start",
                             "earliest"}, &error);
  ASSERT_TRUE(added) << error;
  const int64_t id = JsonInt((*added)["route"]["id"]);
  ASSERT_GT(id, 0) << added->dump(2);
  ASSERT_TRUE(WaitUntil([&] { return store.CountAlerts(s.name, topic) == 5; }, kStoreWait))
      << store.CountAlerts(s.name, topic) << " stored; log tail:\n" << d.LogTail();

  // Restart: the route is still there, as a runtime route, and still consumes.
  ASSERT_TRUE(d.Stop());
  ASSERT_TRUE(d.Start());
  auto routes = d.TomctlJson({"topics", "ls"}, &error);
  ASSERT_TRUE(routes) << error;
  const json* found = nullptr;
  for (const auto& r : (*routes)["routes"]) {
    if (r.value("topic", "") == topic) found = &r;
  }
  ASSERT_NE(found, nullptr) << routes->dump(2);
  EXPECT_EQ(found->value("origin", ""), "ROUTE_ORIGIN_RUNTIME");
  EXPECT_EQ(JsonInt((*found)["id"]), id);
  EXPECT_EQ(found->value("stream", ""), s.name);
  EXPECT_EQ(found->value("handler", ""), "raw");
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, topic, 5, "after-restart", 5));
  ASSERT_TRUE(WaitUntil([&] { return store.CountAlerts(s.name, topic) == 10; }, kStoreWait))
      << store.CountAlerts(s.name, topic) << " stored; log tail:\n" << d.LogTail();
  EXPECT_TRUE(WaitUntil([&] {
    auto r = d.TomctlJson({"topics", "ls"});
    if (!r) return false;
    for (const auto& rt : (*r)["routes"]) {
      if (rt.value("topic", "") == topic) {
        return rt["matched_topics"].size() == 1 && rt["matched_topics"][0] == topic;
      }
    }
    return false;
  }, 10s, 250ms)) << "topics ls never showed the route's matched topic";

  // Remove it: new messages on that topic are no longer stored.
  RunResult rm = d.Tomctl({"topics", "rm", std::to_string(id)});
  ASSERT_EQ(rm.status, 0) << rm.err;
  routes = d.TomctlJson({"topics", "ls"}, &error);
  ASSERT_TRUE(routes) << error;
  for (const auto& r : (*routes)["routes"]) EXPECT_NE(r.value("topic", ""), topic);
  ASSERT_TRUE(WaitUntil([&] {
    auto st = d.StreamStatus(s.name);
    return st && DaemonUnderTest::FindPartition(*st, topic) == nullptr;
  }, 30s, 250ms)) << "the removed route's topic is still assigned; log tail:\n" << d.LogTail();
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, topic, 5, "after-removal", 10));
  // A message on a topic still routed, produced afterwards, shows the consumer is running.
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, control, 1, "control"));
  ASSERT_TRUE(WaitUntil([&] { return store.CountAlerts(s.name, control) == 1; }, kStoreWait))
      << d.LogTail();
  // Well past a topic refresh (1 s): still nothing new from the removed route's topic.
  EXPECT_FALSE(WaitUntil([&] { return store.CountAlerts(s.name, topic) != 10; }, 3s, 200ms))
      << "stored after the route was removed: " << store.CountAlerts(s.name, topic);
  EXPECT_EQ(StoredOffsets(store, s.name, topic),
            (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(store.Int("SELECT count(*) FROM routes"), 0);
  EXPECT_TRUE(d.Stop());
}

// ------------------------------------------------------------------ 8. topics created later
TEST(IngestRoutes, RoutesToTopicsCreatedLaterStartConsumingWithinTheRefresh) {
  const auto env = KafkaEnv::from_environment();
  const std::string exact = test::unique_topic("late-exact");
  const std::string prefix = test::unique_topic("late-pat");
  const std::string matching = prefix + "-one";
  StreamSpec s = PlaintextStream(env, "late");
  s.topic_refresh_ms = 1000;
  s.routes = {RouteSpec{.topic = exact}, RouteSpec{.selector = "pattern", .topic = prefix + "-*"}};
  DaemonUnderTest d("it-late");
  d.Configure({s});
  ASSERT_TRUE(d.Start());

  // Up, answering, and connected although no routed topic exists, over several refreshes.
  std::string error;
  json last;
  ASSERT_TRUE(WaitUntil([&] {
    auto st = d.StreamStatus(s.name, &error);
    if (st) last = *st;
    return st && st->value("state", "") == "STREAM_STATE_CONNECTED";
  }, 30s, 250ms)) << last.dump(2) << error << "\n" << d.LogTail();
  EXPECT_FALSE(WaitUntil([&] { return !d.Running(); }, 2500ms)) << d.LogTail();
  ASSERT_TRUE(d.StreamStatus(s.name, &error)) << error;

  CreateTopics(env, {exact, matching});
  const auto created = Clock::now();
  TestProducer producer(env);
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, exact, 3, "late-exact"));
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, matching, 3, "late-pattern"));
  const auto& store = d.store();
  ASSERT_TRUE(WaitUntil([&] {
    return store.CountAlerts(s.name, exact) == 3 && store.CountAlerts(s.name, matching) == 3;
  }, 30s)) << "exact " << store.CountAlerts(s.name, exact) << ", pattern "
           << store.CountAlerts(s.name, matching) << "; log tail:\n" << d.LogTail();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - created);
  RecordProperty("stored_after_creation_ms", std::to_string(took.count()));
  EXPECT_EQ(StoredOffsets(store, s.name, exact), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(StoredOffsets(store, s.name, matching), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(d.Running());
  EXPECT_TRUE(d.Stop());
}

// ------------------------------------------------------------------ 10. start positions, seek
TEST(IngestRoutes, StartPositionsAndSeeks) {
  const auto env = KafkaEnv::from_environment();
  const std::string latest = test::unique_topic("start-latest");
  const std::string last3 = test::unique_topic("start-last3");
  const std::string earliest = test::unique_topic("start-earliest");
  CreateTopics(env, {latest, last3, earliest});
  TestProducer producer(env);
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, latest, 5, "latest-old"));
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, last3, 10, "last3-old"));
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, earliest, 5, "earliest-old"));

  StreamSpec s = PlaintextStream(env, "start");
  s.start = "earliest";
  s.routes = {RouteSpec{.topic = latest, .start = "latest"},
              RouteSpec{.topic = last3, .start = "last:3"},
              RouteSpec{.topic = earliest}};
  DaemonUnderTest d("it-start");
  d.Configure({s});
  ASSERT_TRUE(d.Start());
  const auto& store = d.store();

  ASSERT_TRUE(WaitUntil([&] {
    return store.CountAlerts(s.name, earliest) == 5 && store.CountAlerts(s.name, last3) == 3;
  }, kStoreWait)) << d.LogTail();
  // "latest" resolves when the partition is assigned; the daemon has fetched from it once the
  // status knows its high watermark. Only then are messages "produced after it subscribed".
  std::string error;
  json last;
  ASSERT_TRUE(WaitUntil([&] {
    auto st = d.StreamStatus(s.name, &error);
    if (!st) return false;
    last = *st;
    const json* p = DaemonUnderTest::FindPartition(*st, latest);
    return p != nullptr && JsonInt(p->value("high_watermark", json(-1))) == 5;
  }, 30s, 250ms)) << last.dump(2) << error;
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, latest, 3, "latest-new", 5));
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, last3, 2, "last3-new", 10));
  ASSERT_TRUE(WaitUntil([&] {
    return store.NextOffset(s.name, latest) == 8 && store.NextOffset(s.name, last3) == 12;
  }, kStoreWait)) << d.LogTail();
  EXPECT_EQ(StoredOffsets(store, s.name, latest), (std::vector<int64_t>{5, 6, 7}));
  EXPECT_EQ(StoredOffsets(store, s.name, last3), (std::vector<int64_t>{7, 8, 9, 10, 11}));
  EXPECT_EQ(StoredOffsets(store, s.name, earliest), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  ASSERT_EQ(store.StreamCounters(s.name).duplicates, 0);

  auto seek = [&](const std::string& topic, const std::string& to) -> std::optional<json> {
    auto r = d.TomctlJson({"topics", "seek", s.name, topic, "--to", to}, &error);
    EXPECT_TRUE(r) << "seek " << topic << " --to " << to << ": " << error;
    return r;
  };
  auto duplicates_reach = [&](int64_t n) {
    return WaitUntil([&] { return store.StreamCounters(s.name).duplicates >= n; }, kStoreWait);
  };

  // Replay of a fully stored topic: every message a duplicate, no new rows.
  auto r = seek(earliest, "earliest");
  ASSERT_TRUE(r);
  ASSERT_EQ((*r)["partitions"].size(), 1u) << r->dump(2);
  EXPECT_EQ(JsonInt((*r)["partitions"][0]["stored_offset"]), 0);
  ASSERT_TRUE(duplicates_reach(5)) << store.StreamCounters(s.name).duplicates << "\n"
                                   << d.LogTail();
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, earliest) == 5; }, kStoreWait));
  EXPECT_EQ(StoredOffsets(store, s.name, earliest), (std::vector<int64_t>{0, 1, 2, 3, 4}));

  // Replay of the last:3 topic: the 7 never stored are stored now, the 5 others are duplicates.
  r = seek(last3, "earliest");
  ASSERT_TRUE(r);
  ASSERT_TRUE(duplicates_reach(10)) << d.LogTail();
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, last3) == 12; }, kStoreWait));
  std::vector<int64_t> all12(12);
  for (int i = 0; i < 12; ++i) all12[static_cast<size_t>(i)] = i;
  EXPECT_EQ(StoredOffsets(store, s.name, last3), all12);

  // offset:2 on the "latest" topic moves its stored position back to 2: 2..4 are stored now
  // (never seen before), 5..7 are duplicates, 0 and 1 stay unstored.
  r = seek(latest, "offset:2");
  ASSERT_TRUE(r);
  ASSERT_EQ((*r)["partitions"].size(), 1u) << r->dump(2);
  EXPECT_EQ(JsonInt((*r)["partitions"][0]["stored_offset"]), 2);
  const int64_t right_after = store.NextOffset(s.name, latest);
  EXPECT_GE(right_after, 2);
  EXPECT_LE(right_after, 8);
  ASSERT_TRUE(duplicates_reach(13)) << d.LogTail();
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, latest) == 8; }, kStoreWait));
  EXPECT_EQ(StoredOffsets(store, s.name, latest), (std::vector<int64_t>{2, 3, 4, 5, 6, 7}));

  const auto counters = store.StreamCounters(s.name);
  EXPECT_EQ(counters.duplicates, 13);
  EXPECT_EQ(counters.stored, 6 + 12 + 5);
  EXPECT_EQ(store.Int("SELECT count(*) FROM alerts"), 6 + 12 + 5);
  EXPECT_TRUE(d.Stop());
}

// "latest" is where a route starts once, when it is first assigned: messages produced while the
// daemon is down afterwards (before any message arrived on the route) are not skipped.
TEST(IngestRoutes, LatestStartIsResolvedOnceNotAgainAfterARestart) {
  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("latest-restart");
  CreateTopics(env, {topic});
  TestProducer producer(env);
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, topic, 5, "before-start"));

  StreamSpec s = PlaintextStream(env, "latestrs");
  s.routes = {RouteSpec{.topic = topic, .start = "latest"}};
  DaemonUnderTest d("it-latestrs");
  d.Configure({s});
  ASSERT_TRUE(d.Start());
  std::string error;
  json last;
  ASSERT_TRUE(WaitUntil([&] {
    auto st = d.StreamStatus(s.name, &error);
    if (!st) return false;
    last = *st;
    const json* p = DaemonUnderTest::FindPartition(*st, topic);
    return p != nullptr && JsonInt(p->value("high_watermark", json(-1))) == 5;
  }, 30s, 250ms)) << last.dump(2) << error;
  // Subscribed at offset 5. Down for a while, during which 3 messages arrive.
  ASSERT_TRUE(d.Stop());
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, topic, 3, "while-stopped", 5));
  ASSERT_TRUE(d.Start());
  const auto& store = d.store();
  ASSERT_TRUE(WaitUntil([&] {
    auto st = d.StreamStatus(s.name);
    return st && DaemonUnderTest::FindPartition(*st, topic) != nullptr;
  }, 30s, 250ms));
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, topic) == 8; }, 10s))
      << "messages produced while the daemon was stopped were skipped: stored offsets "
      << ::testing::PrintToString(StoredOffsets(store, s.name, topic)) << "; log tail:\n"
      << d.LogTail();
  // And once more with kill -9.
  ASSERT_TRUE(d.Kill());
  ASSERT_NO_FATAL_FAILURE(ProduceN(producer, topic, 2, "while-killed", 8));
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, topic) == 10; }, kStoreWait))
      << d.LogTail();
  EXPECT_EQ(StoredOffsets(store, s.name, topic), (std::vector<int64_t>{5, 6, 7, 8, 9}));
  EXPECT_TRUE(d.Stop());
}

}  // namespace
}  // namespace tomstream::integration
