// The broker away for 60 s while the daemon both ingests and publishes: nothing lost, nothing
// stored twice, every outbox entry delivered, and both directions moving again within 5 s of
// the broker's return.
//
// A private broker (tests/kafka/broker.sh start DIR), so that stopping it disturbs no other test.
#include <iostream>
#include <thread>

#include "daemon_under_test.h"

namespace tomstream::integration {
namespace {

using namespace std::chrono_literals;

int64_t Ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

TEST(FaultBrokerOutage, SixtySecondsAwayMidIngestAndMidPublishLosesNothingAndResumesPromptly) {
  BrokerProcess broker(testing::MakeTempDir("itout"));
  ASSERT_TRUE(broker.Start());
  KafkaEnv env = broker.env();
  const std::string in = test::unique_topic("outage-in");
  const std::string out = test::unique_topic("outage-out");
  CreateTopics(env, {in, out});
  StreamSpec s = PlaintextStream(env, "outage");
  s.routes = {RouteSpec{.topic = in}};
  DaemonUnderTest d("it-out");
  d.Configure({s}, "commit_max_messages = 20\n",
              "[[destination]]\nname = \"hop\"\nkind = \"kafka\"\nstream = \"" + s.name +
                  "\"\ntopics = [\"" + out + "\"]\nmax_in_flight = 20\nrequest_timeout_ms = 5000\n");
  ASSERT_TRUE(d.Start());
  const auto& store = d.store();
  auto delivered = [&] { return store.IntOrZero("SELECT count(*) FROM outbox WHERE state = 3"); };

  // Before: a backlog on the input topic, and outbox entries, both under way when it goes.
  constexpr int kIn1 = 20000, kIn2 = 2000, kOut1 = 3000, kOut2 = 500;
  std::map<int64_t, std::string> expected;
  {
    TestProducer producer(env);
    for (int i = 0; i < kIn1; ++i) {
      producer.Produce(in, HopJson("{\"seq\":" + std::to_string(i) + "}", RandomId()));
    }
    ASSERT_TRUE(producer.Flush(120s));
    expected = producer.PayloadsByOffset(in);
  }
  testing::WriteFile(d.dir() + "/before.csv", PhotometryCsv("OUT-A-", 0, kOut1));
  RunResult r = d.Tomctl({"publish", "photometry", "--destination", "hop", "--topic", out,
                          "--submitter", "outage", "--file", d.dir() + "/before.csv"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(WaitUntil([&] { return store.IntOrZero("SELECT count(*) FROM alerts") > 0; }, 60s,
                        10ms)) << d.LogTail();

  ASSERT_TRUE(broker.Stop());
  const int64_t stored_at_stop = store.Int("SELECT count(*) FROM alerts");
  const int64_t delivered_at_stop = delivered();
  std::cout << "broker stopped with " << stored_at_stop << " of " << kIn1 << " stored and "
            << delivered_at_stop << " of " << kOut1 << " delivered\n";
  RecordProperty("stored_at_stop", std::to_string(stored_at_stop));
  RecordProperty("delivered_at_stop", std::to_string(delivered_at_stop));

  // While it is away: the daemon answers, accepts photometry (stored, not lost), and stays up.
  testing::WriteFile(d.dir() + "/during.csv", PhotometryCsv("OUT-B-", 0, kOut2));
  r = d.Tomctl({"publish", "photometry", "--destination", "hop", "--topic", out, "--submitter",
                "outage", "--file", d.dir() + "/during.csv"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto away_until = Clock::now() + 60s;
  while (Clock::now() < away_until) {
    ASSERT_TRUE(d.Running()) << d.LogTail();
    std::this_thread::sleep_for(1s);
  }
  EXPECT_EQ(store.Int("SELECT count(*) FROM outbox"), kOut1 + kOut2);

  ASSERT_TRUE(broker.Restart());
  const auto back = Clock::now();
  env = broker.env();
  const int64_t stored_back = store.Int("SELECT count(*) FROM alerts");
  const int64_t delivered_back = delivered();
  // Both directions move again within 5 s of the broker's return (polled every 50 ms), unless
  // they had already finished.
  const bool ingest_resumed = stored_back == kIn1 || WaitUntil([&] {
    return store.IntOrZero("SELECT count(*) FROM alerts") > stored_back;
  }, 5s, 50ms);
  const int64_t ingest_ms = Ms(Clock::now() - back);
  const bool publish_resumed = WaitUntil([&] { return delivered() > delivered_back; }, 5s, 50ms);
  const int64_t publish_ms = Ms(Clock::now() - back);
  RecordProperty("ingest_resumed_ms", std::to_string(ingest_ms));
  RecordProperty("publish_resumed_ms", std::to_string(publish_ms));
  std::cout << "after the return: ingest moving after " << ingest_ms << " ms, delivery after "
            << publish_ms << " ms\n";
  EXPECT_TRUE(ingest_resumed) << "no alert stored within 5 s of the broker's return\n"
                              << d.LogTail();
  EXPECT_TRUE(publish_resumed) << "no outbox entry delivered within 5 s of the broker's return\n"
                               << d.LogTail();

  // After: more input; everything arrives exactly once, every entry is delivered.
  {
    TestProducer producer(env);
    for (int i = 0; i < kIn2; ++i) {
      producer.Produce(in, HopJson("{\"seq\":" + std::to_string(kIn1 + i) + "}", RandomId()));
    }
    ASSERT_TRUE(producer.Flush(120s));
    for (const auto& [offset, payload] : producer.PayloadsByOffset(in)) expected[offset] = payload;
  }
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, in) >= kIn1 + kIn2; }, 120s, 200ms))
      << store.NextOffset(s.name, in) << "; log tail:\n" << d.LogTail();
  EXPECT_TRUE(StoredExactly(store, s.name, in, expected));
  EXPECT_EQ(store.StreamCounters(s.name).duplicates, 0);
  ASSERT_TRUE(WaitUntil([&] { return delivered() == kOut1 + kOut2; }, 120s, 200ms))
      << delivered() << " of " << kOut1 + kOut2 << " delivered; log tail:\n" << d.LogTail();
  EXPECT_EQ(store.Int("SELECT count(*) FROM outbox WHERE state <> 3"), 0);
  EXPECT_TRUE(d.Stop());
}

}  // namespace
}  // namespace tomstream::integration
