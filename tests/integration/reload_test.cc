// SIGHUP reloads against the real broker while messages flow: route changes applied in place,
// a stream restarted by a changed setting, and the outbox restarted by a changed destination,
// with nothing lost and nothing stored twice.
#include <atomic>
#include <thread>

#include "daemon_under_test.h"

namespace tomstream::integration {
namespace {

using namespace std::chrono_literals;

std::string Payload(const std::string& what, int i) {
  return json{{"seq", i}, {"what", what}}.dump();
}

TEST(Reload, StreamRouteAndDestinationChangesUnderLoadLoseAndRepeatNothing) {
  const auto env = KafkaEnv::from_environment();
  const std::string a = test::unique_topic("reload-a");
  const std::string b = test::unique_topic("reload-b");
  const std::string out = test::unique_topic("reload-out");
  CreateTopics(env, {a, b, out});
  StreamSpec s = PlaintextStream(env, "reload");
  s.routes = {RouteSpec{.topic = a}};
  DaemonUnderTest d("it-reload");
  d.Configure({s}, "", KafkaDestination(s.name, out, 50));
  ASSERT_TRUE(d.Start());
  const auto& store = d.store();

  // Outbox entries to deliver while the destination is reconfigured.
  constexpr int kEntries = 2000;
  testing::WriteFile(d.dir() + "/entries.csv", PhotometryCsv("RL-", 0, kEntries));

  // Messages flow on topic a during all the reloads below.
  constexpr int kMessages = 6000;
  TestProducer producer(env);
  std::atomic<bool> produced{false};
  std::thread feeder([&] {
    for (int i = 0; i < kMessages; ++i) {
      producer.Produce(a, HopJson(Payload("a", i), RandomId()));
      if (i % 100 == 99) std::this_thread::sleep_for(100ms);  // spread over 6 s or more
    }
    produced = true;
  });
  ASSERT_TRUE(WaitUntil([&] { return store.CountAlerts(s.name, a) > 200; }, 60s)) << d.LogTail();
  RunResult r = d.Tomctl({"publish", "photometry", "--destination", "hop", "--topic", out,
                          "--submitter", "reload", "--file", d.dir() + "/entries.csv"});
  ASSERT_EQ(r.status, 0) << r.err;

  // 1. A route added: applied in place.
  s.routes.push_back(RouteSpec{.topic = b});
  d.Configure({s}, "", KafkaDestination(s.name, out, 50));
  ASSERT_TRUE(d.Reload());
  // 2. A stream setting and the destination changed: the stream and the outbox restart.
  d.Configure({s}, "commit_max_messages = 300\n", KafkaDestination(s.name, out, 10));
  ASSERT_TRUE(d.Reload());
  // 3. Nothing changed.
  ASSERT_TRUE(d.Reload());
  EXPECT_FALSE(produced) << "the feeder finished before the reloads did: not a test under load";

  feeder.join();
  ASSERT_TRUE(producer.Flush());
  for (int i = 0; i < 100; ++i) producer.Produce(b, HopJson(Payload("b", i), RandomId()));
  ASSERT_TRUE(producer.Flush());

  ASSERT_TRUE(WaitUntil([&] {
    return store.CountAlerts(s.name, a) >= kMessages && store.CountAlerts(s.name, b) >= 100;
  }, 120s)) << store.CountAlerts(s.name, a) << " + " << store.CountAlerts(s.name, b)
            << " stored; log tail:\n" << d.LogTail();
  EXPECT_TRUE(StoredExactly(store, s.name, a, producer.PayloadsByOffset(a)));
  EXPECT_TRUE(StoredExactly(store, s.name, b, producer.PayloadsByOffset(b)));
  ASSERT_TRUE(WaitUntil([&] {
    return store.IntOrZero("SELECT count(*) FROM outbox WHERE state = 3") == kEntries;
  }, 120s)) << store.Int("SELECT count(*) FROM outbox WHERE state = 3") << " of " << kEntries
            << " delivered; log tail:\n" << d.LogTail();

  const std::string logs = d.Logs();
  EXPECT_NE(logs.find("stream " + s.name + ": routes changed"), std::string::npos) << logs;
  EXPECT_NE(logs.find("stream " + s.name + " changed: restarted"), std::string::npos) << logs;
  EXPECT_NE(logs.find("outbox restarted"), std::string::npos) << logs;
  EXPECT_NE(logs.find("reload: done; nothing changed"), std::string::npos) << logs;
  EXPECT_TRUE(d.Stop());
}

}  // namespace
}  // namespace tomstream::integration
