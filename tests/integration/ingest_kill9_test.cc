// kill -9 loop: 100,000 unique hop-JSON messages on one partition, the daemon killed with
// SIGKILL at random moments at least 20 times while it consumes them, restarted each time.
// Afterwards every message is stored exactly once, at its offset, and nothing was delivered
// twice.
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "daemon_under_test.h"

namespace tomstream::integration {
namespace {

using namespace std::chrono_literals;

constexpr int kMessages = 100000;
constexpr int kKills = 20;
constexpr int kCommitMaxMessages = 10;

int64_t Ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

TEST(IngestKillNine, EveryMessageStoredExactlyOnceAcrossTwentyKills) {
  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("kill9");
  CreateTopics(env, {topic}, 1);

  // Produce everything first, quickly: a batching idempotent producer.
  const auto t_produce = Clock::now();
  {
    TestProducer producer(env, KafkaListener::kPlaintext, {{"linger.ms", "50"}});
    for (int i = 0; i < kMessages; ++i) {
      // Unique payloads; two thirds with a hop _id, one third deduplicated by content hash.
      producer.Produce(topic, HopJson("{\"seq\":" + std::to_string(i) + ",\"kind\":\"kill9\"}",
                                      i % 3 != 0 ? std::optional(RandomId()) : std::nullopt));
    }
    ASSERT_TRUE(producer.Flush(120s));
    const auto expected = producer.PayloadsByOffset(topic);
    ASSERT_EQ(expected.size(), static_cast<size_t>(kMessages));
    ASSERT_EQ(expected.begin()->first, 0);
    ASSERT_EQ(expected.rbegin()->first, kMessages - 1);
    // Message i is at offset i.
    for (const auto& [offset, payload] : expected) {
      ASSERT_EQ(payload.find("{\"seq\":" + std::to_string(offset) + ","), 0u);
    }
  }
  const int64_t produce_ms = Ms(Clock::now() - t_produce);

  StreamSpec s = PlaintextStream(env, "kill9");
  s.routes = {RouteSpec{.topic = topic}};
  DaemonUnderTest d("it-kill9");
  // Small group commits: more transaction boundaries to be killed at, and consumption slow
  // enough that every kill of the loop lands while the daemon is still working through them.
  d.Configure({s}, "commit_max_messages = " + std::to_string(kCommitMaxMessages) + "\n");
  const auto& store = d.store();
  auto stored = [&] { return store.IntOrZero("SELECT count(*) FROM alerts"); };

  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  // Each cycle lets the daemon store a random number of further messages (about 3/4 of the
  // topic over the whole loop), then kills it a random few milliseconds later: wherever it is,
  // mid-batch, mid-commit or committing offsets to Kafka. Progress-driven, not timed, so the
  // kills land mid-stream however fast the daemon ingests.
  std::uniform_int_distribution<int64_t> progress(1, 2 * kMessages * 3 / 4 / kKills);
  std::uniform_int_distribution<int> extra_ms(0, 30);
  RecordProperty("seed", std::to_string(seed));

  const auto t_loop = Clock::now();
  ASSERT_TRUE(d.Start());
  int kills = 0;
  int kills_mid_stream = 0;   // killed with some but not all messages stored
  int cycles_with_progress = 0;
  int64_t before = 0;
  std::ostringstream cycles;
  while (kills < kKills) {
    const int64_t want = before + progress(rng);
    const auto t_cycle = Clock::now();
    WaitUntil([&] { return stored() >= want; }, 30s, 10ms);
    const int ms = extra_ms(rng);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    ASSERT_TRUE(d.Kill()) << "kill " << kills + 1;
    const int64_t cycle_ms = Ms(Clock::now() - t_cycle);
    ++kills;
    const int64_t now_stored = stored();
    if (now_stored > 0 && now_stored < kMessages) ++kills_mid_stream;
    if (now_stored > before) ++cycles_with_progress;
    cycles << " " << cycle_ms << "ms:" << now_stored;
    ASSERT_GE(now_stored, before) << "the store lost alerts";
    before = now_stored;
    ASSERT_TRUE(d.Start()) << "restart after kill " << kills;
  }
  const int64_t loop_ms = Ms(Clock::now() - t_loop);

  const auto t_finish = Clock::now();
  ASSERT_TRUE(WaitUntil([&] { return stored() >= kMessages; }, 120s, 200ms))
      << stored() << " of " << kMessages << " stored 120 s after the last restart; log tail:\n"
      << d.LogTail();
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, topic) >= kMessages; }, 30s));
  const int64_t finish_ms = Ms(Clock::now() - t_finish);

  std::ostringstream summary;
  summary << "kill -9 loop: " << kMessages << " messages produced in " << produce_ms << " ms; "
          << kills << " kills (" << kills_mid_stream << " mid-stream, " << cycles_with_progress
          << " cycles with progress) in " << loop_ms << " ms; finished " << finish_ms
          << " ms after the last restart; seed " << seed << "\n  run time:stored after kill:"
          << cycles.str() << "\n";
  std::cout << summary.str();
  RecordProperty("kills", kills);
  RecordProperty("kills_mid_stream", kills_mid_stream);
  RecordProperty("cycles_with_progress", cycles_with_progress);
  RecordProperty("produce_ms", std::to_string(produce_ms));
  RecordProperty("loop_ms", std::to_string(loop_ms));
  RecordProperty("finish_ms", std::to_string(finish_ms));

  EXPECT_EQ(store.CountAlerts(s.name, topic), kMessages);
  EXPECT_EQ(store.DistinctOffsets(s.name, topic), kMessages);
  EXPECT_EQ(store.Int("SELECT min(\"offset\") FROM alerts WHERE topic = ?", {topic}, -1), 0);
  EXPECT_EQ(store.Int("SELECT max(\"offset\") FROM alerts WHERE topic = ?", {topic}, -1),
            kMessages - 1);
  EXPECT_EQ(store.NextOffset(s.name, topic), kMessages);
  // Each offset holds its own message.
  EXPECT_EQ(store.Int("SELECT count(*) FROM alerts WHERE topic = ? AND CAST(payload AS TEXT) = "
                      "'{\"seq\":' || \"offset\" || ',\"kind\":\"kill9\"}'",
                      {topic}),
            kMessages);
  const auto counters = store.StreamCounters(s.name);
  EXPECT_EQ(counters.duplicates, 0) << "messages delivered again after a kill -9";
  EXPECT_EQ(counters.stored, kMessages);
  EXPECT_EQ(store.IntOrZero("SELECT count(*) FROM quarantine"), 0);
  // The loop must have interrupted consumption, not an idle daemon: otherwise it tested little.
  EXPECT_GE(kills_mid_stream, kKills / 2) << summary.str();
  EXPECT_TRUE(d.Stop());
}

// The same on a topic with several partitions: each partition exact on its own.
TEST(IngestKillNine, EveryPartitionStoredExactlyOnceAcrossKills) {
  constexpr int kPartitions = 4;
  constexpr int kPerPartition = 15000;
  constexpr int kPartitionKills = 10;
  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("kill9-parts");
  CreateTopics(env, {topic}, kPartitions);
  std::map<std::pair<int32_t, int64_t>, std::string> expected;  // (partition, offset) -> payload
  {
    TestProducer producer(env, KafkaListener::kPlaintext, {{"linger.ms", "50"}});
    std::vector<std::string> payloads;
    for (int i = 0; i < kPartitions * kPerPartition; ++i) {
      payloads.push_back("{\"seq\":" + std::to_string(i) + ",\"kind\":\"kill9-parts\"}");
      producer.Produce(topic, HopJson(payloads.back(), i % 2 ? std::optional(RandomId())
                                                             : std::nullopt),
                       i % kPartitions);
    }
    ASSERT_TRUE(producer.Flush(120s));
    const auto deliveries = producer.deliveries();
    for (size_t i = 0; i < deliveries.size(); ++i) {
      expected[{deliveries[i].partition, deliveries[i].offset}] = payloads[i];
    }
  }
  ASSERT_EQ(expected.size(), static_cast<size_t>(kPartitions * kPerPartition));

  StreamSpec s = PlaintextStream(env, "kill9p");
  s.routes = {RouteSpec{.topic = topic}};
  DaemonUnderTest d("it-kill9p");
  d.Configure({s}, "commit_max_messages = " + std::to_string(kCommitMaxMessages) + "\n");
  const auto& store = d.store();
  auto stored = [&] { return store.IntOrZero("SELECT count(*) FROM alerts"); };
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  // Progress-driven kills, as above.
  std::uniform_int_distribution<int64_t> progress(
      1, 2 * kPartitions * kPerPartition * 3 / 4 / kPartitionKills);
  std::uniform_int_distribution<int> extra_ms(0, 30);
  RecordProperty("seed", std::to_string(seed));
  ASSERT_TRUE(d.Start());
  int mid_stream = 0;
  int64_t before = 0;
  for (int k = 0; k < kPartitionKills; ++k) {
    const int64_t want = before + progress(rng);
    WaitUntil([&] { return stored() >= want; }, 30s, 10ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(extra_ms(rng)));
    ASSERT_TRUE(d.Kill()) << "kill " << k + 1;
    const int64_t n = stored();
    if (n > 0 && n < kPartitions * kPerPartition) ++mid_stream;
    ASSERT_GE(n, before) << "the store lost alerts";
    before = n;
    ASSERT_TRUE(d.Start()) << "restart after kill " << k + 1;
  }
  ASSERT_TRUE(WaitUntil([&] { return stored() >= kPartitions * kPerPartition; }, 120s, 200ms))
      << stored() << " stored; log tail:\n" << d.LogTail();
  std::cout << "multi-partition kill -9 loop: " << kPartitions << " x " << kPerPartition << ", "
            << kPartitionKills << " kills (" << mid_stream << " mid-stream), seed " << seed
            << "\n";

  for (int32_t p = 0; p < kPartitions; ++p) {
    SCOPED_TRACE("partition " + std::to_string(p));
    ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, topic, p) >= kPerPartition; },
                          30s));
    EXPECT_EQ(store.NextOffset(s.name, topic, p), kPerPartition);
  }
  const auto rows = store.Query(
      "SELECT partition, \"offset\", payload FROM alerts WHERE topic = ?", {topic});
  EXPECT_EQ(rows.size(), expected.size());
  size_t wrong = 0;
  std::set<std::pair<int32_t, int64_t>> seen;
  for (const Row& r : rows) {
    const std::pair<int32_t, int64_t> key{std::stoi(r[0].value_or("-1")),
                                          std::stoll(r[1].value_or("-1"))};
    const auto it = expected.find(key);
    if (!seen.insert(key).second || it == expected.end() || it->second != r[2]) ++wrong;
  }
  EXPECT_EQ(wrong, 0u) << "rows stored twice, at unexpected positions or with the wrong payload";
  EXPECT_EQ(seen.size(), expected.size());
  EXPECT_EQ(store.StreamCounters(s.name).duplicates, 0);
  EXPECT_GE(mid_stream, kPartitionKills / 2);
  EXPECT_TRUE(d.Stop());
}

}  // namespace
}  // namespace tomstream::integration
