// The broker stopped and restarted while the daemon consumes: nothing lost, nothing twice.
//
// Restarting the shared fixture broker would disturb the other Kafka tests, so this test starts
// a private broker of its own (tests/kafka/broker.sh start DIR), stopped at the end (RAII, also
// on failure).
#include <iostream>

#include "daemon_under_test.h"

namespace tomstream::integration {
namespace {

using namespace std::chrono_literals;

int64_t Ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

TEST(IngestBrokerRestart, BrokerStoppedAndRestartedMidStreamLosesNothing) {
  BrokerProcess broker(testing::MakeTempDir("itbrk"));
  const auto started = broker.Start();
  ASSERT_TRUE(started);
  std::cout << started.message();
  KafkaEnv env = broker.env();

  const std::string topic = test::unique_topic("broker-restart");
  CreateTopics(env, {topic});
  StreamSpec s = PlaintextStream(env, "brk");
  s.routes = {RouteSpec{.topic = topic}};
  DaemonUnderTest d("it-brk");
  // Small group commits: the daemon is still working through the backlog when the broker goes.
  d.Configure({s}, "commit_max_messages = 10\n");
  const auto& store = d.store();
  ASSERT_TRUE(d.Start());

  // Phase 1: a backlog the daemon is still working through when the broker goes away.
  constexpr int kPhase1 = 30000;
  constexpr int kPhase2 = 5000;
  std::map<int64_t, std::string> expected;
  {
    TestProducer producer(env);
    for (int i = 0; i < kPhase1; ++i) {
      producer.Produce(topic, HopJson("{\"seq\":" + std::to_string(i) + ",\"phase\":1}",
                                      i % 2 == 0 ? std::optional(RandomId()) : std::nullopt));
    }
    ASSERT_TRUE(producer.Flush(120s));
    expected = producer.PayloadsByOffset(topic);
  }
  ASSERT_EQ(expected.size(), static_cast<size_t>(kPhase1));
  ASSERT_TRUE(WaitUntil([&] { return store.IntOrZero("SELECT count(*) FROM alerts") > 0; }, 60s,
                        10ms))
      << d.LogTail();

  const auto t_stop = Clock::now();
  const int64_t stored_at_stop = store.Int("SELECT count(*) FROM alerts");
  ASSERT_TRUE(broker.Stop());
  const int64_t stored_after_stop = store.Int("SELECT count(*) FROM alerts");
  RecordProperty("stored_when_broker_stop_began", std::to_string(stored_at_stop));
  RecordProperty("stored_when_broker_was_down", std::to_string(stored_after_stop));
  std::cout << "broker stopped in " << Ms(Clock::now() - t_stop) << " ms; stored " << stored_at_stop
            << " of " << kPhase1 << " when the stop began, " << stored_after_stop
            << " when it was down\n";

  // The daemon stays up, answers, and says that it lost the broker.
  std::string error;
  json last;
  const bool noticed = WaitUntil([&] {
    auto st = d.StreamStatus(s.name, &error);
    if (!st) return false;
    last = *st;
    return st->value("state", "") != "STREAM_STATE_CONNECTED" &&
           !st->value("last_error", "").empty();
  }, 60s, 250ms);
  EXPECT_TRUE(noticed) << "status still says connected 60 s after the broker stopped: "
                       << last.dump(2) << error << "\n" << d.LogTail();
  RecordProperty("state_while_down", last.value("state", ""));
  RecordProperty("last_error_while_down", last.value("last_error", ""));
  RecordProperty("noticed_after_ms", std::to_string(Ms(Clock::now() - t_stop)));
  EXPECT_TRUE(d.Running()) << d.LogTail();
  RunResult r = d.Tomctl({"status"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_LT(r.elapsed, 5s);

  // Stopped and started again while the broker is away: a clean, prompt exit, and a start that
  // does not wait for the broker.
  const auto t_sigterm = Clock::now();
  EXPECT_TRUE(d.Stop()) << "SIGTERM while the broker is down";
  const int64_t stop_ms = Ms(Clock::now() - t_sigterm);
  RecordProperty("sigterm_with_broker_down_ms", std::to_string(stop_ms));
  EXPECT_LT(stop_ms, 10000) << "SIGTERM while the broker is down; log tail:\n" << d.LogTail();
  EXPECT_EQ(store.NextOffset(s.name, topic), store.Int("SELECT count(*) FROM alerts"))
      << "stored offset and stored rows disagree after a stop without the broker";
  ASSERT_TRUE(d.Start());
  auto down = d.StreamStatus(s.name, &error);
  ASSERT_TRUE(down) << error;
  EXPECT_NE(down->value("state", ""), "STREAM_STATE_CONNECTED") << down->dump(2);

  const auto restarted = broker.Restart();
  ASSERT_TRUE(restarted);
  std::cout << restarted.message();
  env = broker.env();
  ASSERT_TRUE(d.Running()) << d.LogTail();

  // Phase 2 after the restart.
  {
    TestProducer producer(env);
    for (int i = 0; i < kPhase2; ++i) {
      producer.Produce(topic, HopJson("{\"seq\":" + std::to_string(kPhase1 + i) + ",\"phase\":2}",
                                      i % 2 == 0 ? std::optional(RandomId()) : std::nullopt));
    }
    ASSERT_TRUE(producer.Flush(120s));
    for (const auto& [offset, payload] : producer.PayloadsByOffset(topic)) {
      expected[offset] = payload;
    }
  }
  constexpr int kTotal = kPhase1 + kPhase2;
  ASSERT_EQ(expected.size(), static_cast<size_t>(kTotal));
  ASSERT_EQ(expected.rbegin()->first, kTotal - 1);

  const auto t_restart = Clock::now();
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, topic) >= kTotal; }, 120s, 200ms))
      << "next offset " << store.NextOffset(s.name, topic) << ", stored "
      << store.IntOrZero("SELECT count(*) FROM alerts") << " of " << kTotal
      << " 120 s after the broker restart; log tail:\n" << d.LogTail();
  RecordProperty("caught_up_after_restart_ms", std::to_string(Ms(Clock::now() - t_restart)));
  std::cout << "SIGTERM with the broker down: exited in " << stop_ms << " ms\n"
            << "status while the broker was down: " << last.value("state", "") << ", last_error "
            << last.value("last_error", "") << "\ncaught up " << Ms(Clock::now() - t_restart)
            << " ms after phase 2 was produced\n";

  EXPECT_TRUE(StoredExactly(store, s.name, topic, expected));
  EXPECT_EQ(store.CountAlerts(s.name, topic), kTotal);
  EXPECT_EQ(store.DistinctOffsets(s.name, topic), kTotal);
  EXPECT_EQ(store.NextOffset(s.name, topic), kTotal);
  const auto counters = store.StreamCounters(s.name);
  EXPECT_EQ(counters.duplicates, 0);
  EXPECT_EQ(counters.stored, kTotal);

  EXPECT_TRUE(WaitUntil([&] {
    auto st = d.StreamStatus(s.name, &error);
    if (st) last = *st;
    return st && st->value("state", "") == "STREAM_STATE_CONNECTED";
  }, 30s, 250ms)) << "not connected again: " << last.dump(2) << error;
  EXPECT_TRUE(d.Stop());
}

}  // namespace
}  // namespace tomstream::integration
