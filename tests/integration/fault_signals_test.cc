// The daemon frozen (SIGSTOP) in the middle of ingesting, then thawed (SIGCONT): it carries on,
// losing nothing and storing nothing twice, and answers again.
#include <signal.h>

#include <iostream>
#include <thread>

#include "daemon_under_test.h"

namespace tomstream::integration {
namespace {

using namespace std::chrono_literals;

TEST(FaultSignals, StoppedAndContinuedMidIngestLosesNothing) {
  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("sigstop");
  CreateTopics(env, {topic});
  StreamSpec s = PlaintextStream(env, "sigstop");
  s.routes = {RouteSpec{.topic = topic}};
  DaemonUnderTest d("it-sig");
  d.Configure({s}, "commit_max_messages = 20\n");
  ASSERT_TRUE(d.Start());
  const auto& store = d.store();

  constexpr int kMessages = 20000;
  TestProducer producer(env);
  for (int i = 0; i < kMessages; ++i) {
    producer.Produce(topic, HopJson("{\"seq\":" + std::to_string(i) + "}", RandomId()));
  }
  ASSERT_TRUE(producer.Flush(120s));
  ASSERT_TRUE(WaitUntil([&] { return store.IntOrZero("SELECT count(*) FROM alerts") > 0; }, 60s,
                        10ms)) << d.LogTail();

  // Frozen for 12 s: no progress at all, the control socket does not answer.
  ASSERT_EQ(kill(d.pid(), SIGSTOP), 0);
  std::this_thread::sleep_for(500ms);
  const int64_t frozen_at = store.Int("SELECT count(*) FROM alerts");
  std::this_thread::sleep_for(11s);
  EXPECT_EQ(store.Int("SELECT count(*) FROM alerts"), frozen_at) << "stored while stopped";
  RunResult r = d.Tomctl({"--timeout", "1", "status"});
  EXPECT_NE(r.status, 0) << "a stopped daemon answered";
  std::cout << "frozen with " << frozen_at << " of " << kMessages << " stored\n";
  ASSERT_EQ(kill(d.pid(), SIGCONT), 0);

  r = d.Tomctl({"status"});
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, topic) >= kMessages; }, 120s, 200ms))
      << store.NextOffset(s.name, topic) << "; log tail:\n" << d.LogTail();
  EXPECT_TRUE(StoredExactly(store, s.name, topic, producer.PayloadsByOffset(topic)));
  EXPECT_EQ(store.StreamCounters(s.name).duplicates, 0);
  EXPECT_TRUE(d.Running());
  EXPECT_TRUE(d.Stop());
}

}  // namespace
}  // namespace tomstream::integration
