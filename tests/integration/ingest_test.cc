// End-to-end ingest: the real tomstreamd consuming from the real broker (ctest fixture "kafka"),
// checked in its SQLite store and through tomctl.
//
// - SCRAM-SHA-512 over SASL_SSL (the Hopskotch setup); a wrong password
// - resume after a clean restart and after kill -9: exactly the produced set, no duplicates
// - dedupe by hop _id and by content
// - quarantine of malformed Hermes messages
// - hop _test messages skipped unless the route includes them
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "daemon_under_test.h"

namespace tomstream::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto kStoreWait = 60s;  // upper bound for "the daemon stores what was produced"

std::string Seq(const std::string& what, int i) {
  return json{{"seq", i}, {"what", what}}.dump();
}

bool HasHeader(const std::vector<Header>& headers, const std::string& key,
               const std::optional<std::string>& value) {
  for (const auto& h : headers) {
    if (h.first == key && h.second == value) return true;
  }
  return false;
}

std::string ReadFixture(const std::string& relative) {
  const std::string path = std::string(TOMSTREAM_FIXTURES_DIR) + "/" + relative;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("fixture missing: " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ------------------------------------------------------------------ 1. SCRAM over SASL_SSL
TEST(IngestScram, HopJsonOverSaslSslIsStoredExactly) {
  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("scram");
  CreateTopics(env, {topic});
  StreamSpec s = HopskotchStream(env, "scram");
  ASSERT_FALSE(s.tls.has_value()) << "the Hopskotch setup relies on the tls default";
  s.routes = {RouteSpec{.topic = topic}};

  DaemonUnderTest d("it-scram");
  d.Configure({s});
  ASSERT_TRUE(d.Start());

  // Produced the Hopskotch way too: SASL_SSL + SCRAM-SHA-512.
  TestProducer producer(env, KafkaListener::kSaslSslScram);
  constexpr int kN = 25;
  std::vector<OutMessage> sent;
  for (int i = 0; i < kN; ++i) {
    sent.push_back(HopJson(Seq("scram", i), RandomId()));
    producer.Produce(topic, sent.back());
  }
  ASSERT_TRUE(producer.Flush());
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(producer.delivery(static_cast<size_t>(i)).offset, i);
  }

  const auto& store = d.store();
  ASSERT_TRUE(WaitUntil([&] { return store.IntOrZero(
                                  "SELECT count(*) FROM alerts WHERE topic = ?", {topic}) >= kN; },
                        kStoreWait))
      << "stored " << store.IntOrZero("SELECT count(*) FROM alerts WHERE topic = ?", {topic})
      << " of " << kN << "; log tail:\n" << d.LogTail();

  const auto rows = store.Query(
      "SELECT stream, topic, partition, \"offset\", payload, headers, format, handler, "
      "message_id, kafka_ts IS NOT NULL FROM alerts WHERE topic = ? ORDER BY \"offset\"",
      {topic});
  ASSERT_EQ(rows.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) {
    const Row& r = rows[static_cast<size_t>(i)];
    SCOPED_TRACE("offset " + std::to_string(i));
    EXPECT_EQ(r[0], s.name);
    EXPECT_EQ(r[1], topic);
    EXPECT_EQ(r[2], "0");
    EXPECT_EQ(r[3], std::to_string(i));
    EXPECT_EQ(r[4], sent[static_cast<size_t>(i)].payload);
    const auto headers = DecodeStoredHeaders(r[5].value_or(""));
    EXPECT_EQ(headers, sent[static_cast<size_t>(i)].headers);
    EXPECT_EQ(r[6], "json");
    EXPECT_EQ(r[7], "raw");
    EXPECT_EQ(r[8], sent[static_cast<size_t>(i)].headers[1].second) << "message_id is not the _id";
    EXPECT_EQ(r[9], "1") << "kafka_ts not kept";
  }
  EXPECT_EQ(store.NextOffset(s.name, topic), kN);
  const auto counters = store.StreamCounters(s.name);
  EXPECT_EQ(counters.stored, kN);
  EXPECT_EQ(counters.duplicates, 0);

  // tomctl: connected, stored == N, the partition caught up.
  json last;
  std::string error;
  const bool caught_up = WaitUntil(
      [&] {
        auto st = d.StreamStatus(s.name, &error);
        if (!st) return false;
        last = *st;
        const json* p = DaemonUnderTest::FindPartition(*st, topic);
        return st->value("state", "") == "STREAM_STATE_CONNECTED" &&
               JsonInt(st->value("stored", json(0))) == kN && p != nullptr &&
               JsonInt(p->value("stored_offset", json(-1))) == kN &&
               JsonInt(p->value("high_watermark", json(-1))) == kN &&
               JsonInt(p->value("lag", json(-1))) == 0;
      },
      30s, 250ms);
  EXPECT_TRUE(caught_up) << "status: " << last.dump(2) << "\n" << error;
  EXPECT_EQ(last.value("security", ""), "scram-sha-512");
  EXPECT_EQ(last.value("group_id", ""), s.group_id);
  EXPECT_EQ(last.dump().find(env.password), std::string::npos) << "status shows the password";
  EXPECT_TRUE(d.Stop());
}

TEST(IngestScram, WrongPasswordKeepsTheDaemonUpAndReportsIt) {
  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("scram-badpw");
  CreateTopics(env, {topic});
  TestProducer producer(env);
  producer.ProduceOne(topic, HopJson(Seq("badpw", 0), RandomId()));

  StreamSpec s = HopskotchStream(env, "badpw");
  s.password = env.password + "-wrong";
  s.routes = {RouteSpec{.topic = topic}};
  DaemonUnderTest d("it-badpw");
  d.Configure({s});
  ASSERT_TRUE(d.Start());

  json last;
  std::string error;
  const bool reported = WaitUntil(
      [&] {
        auto st = d.StreamStatus(s.name, &error);
        if (!st) return false;
        last = *st;
        const std::string state = st->value("state", "");
        return (state == "STREAM_STATE_AUTH_FAILED" || state == "STREAM_STATE_BACKOFF") &&
               !st->value("last_error", "").empty();
      },
      60s, 250ms);
  ASSERT_TRUE(reported) << "status: " << last.dump(2) << "\n" << error << "\nlog tail:\n"
                        << d.LogTail();
  RecordProperty("state", last.value("state", ""));
  RecordProperty("last_error", last.value("last_error", ""));
  std::string lower_error = last.value("last_error", "");
  for (char& c : lower_error) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_NE(lower_error.find("authentication"), std::string::npos)
      << "last_error does not say that authentication failed: " << last.value("last_error", "");
  EXPECT_EQ(last.dump().find(s.password), std::string::npos) << "status shows the password";
  EXPECT_EQ(d.Logs().find(s.password), std::string::npos) << "the log shows the password";

  // Still up and answering, several seconds (reconnect attempts) later.
  EXPECT_FALSE(WaitUntil([&] { return !d.Running(); }, 3s)) << d.LogTail();
  RunResult r = d.Tomctl({"status"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_LT(r.elapsed, 5s);
  auto st = d.StreamStatus(s.name, &error);
  ASSERT_TRUE(st) << error;
  EXPECT_NE(st->value("state", ""), "STREAM_STATE_CONNECTED");
  EXPECT_EQ(d.store().IntOrZero("SELECT count(*) FROM alerts"), 0);
  // A stream that never got through still stops promptly.
  const auto t_stop = Clock::now();
  EXPECT_TRUE(d.Stop());
  const auto stop_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t_stop).count();
  RecordProperty("stop_ms", std::to_string(stop_ms));
  EXPECT_LT(stop_ms, 5000) << d.LogTail();
}

// ------------------------------------------------------------------ 2. resume after restarts
TEST(IngestResume, CleanRestartAndKillNineStoreExactlyTheProducedSet) {
  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("resume");
  CreateTopics(env, {topic});
  StreamSpec s = PlaintextStream(env, "resume");
  s.routes = {RouteSpec{.topic = topic}};
  DaemonUnderTest d("it-resume");
  d.Configure({s});
  const auto& store = d.store();

  TestProducer producer(env);
  int produced = 0;
  auto produce = [&](int n) {
    for (int i = 0; i < n; ++i, ++produced) {
      // Half with a hop _id, half without (those dedupe by content hash).
      producer.Produce(topic, HopJson(Seq("resume", produced),
                                      produced % 2 == 0 ? std::optional(RandomId()) : std::nullopt));
    }
    ASSERT_TRUE(producer.Flush());
  };
  auto wait_stored = [&](int n) {
    return WaitUntil([&] { return store.IntOrZero("SELECT count(*) FROM alerts") >= n; },
                     kStoreWait);
  };

  ASSERT_NO_FATAL_FAILURE(produce(40));
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(wait_stored(40)) << d.LogTail();

  // Clean restart, with messages produced while it is down.
  ASSERT_TRUE(d.Stop());
  ASSERT_NO_FATAL_FAILURE(produce(40));
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(wait_stored(80)) << d.LogTail();

  // kill -9 while it consumes, then messages produced while it is down.
  ASSERT_NO_FATAL_FAILURE(produce(200));
  ASSERT_TRUE(WaitUntil([&] { return store.IntOrZero("SELECT count(*) FROM alerts") > 80; },
                        kStoreWait, 5ms));
  ASSERT_TRUE(d.Kill());
  RecordProperty("stored_at_kill", std::to_string(store.Int("SELECT count(*) FROM alerts")));
  ASSERT_NO_FATAL_FAILURE(produce(40));
  const auto t_restart = Clock::now();
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(wait_stored(produced)) << d.LogTail();
  const auto caught_up_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t_restart).count();
  RecordProperty("caught_up_after_kill9_restart_ms", std::to_string(caught_up_ms));
  std::cout << "caught up " << caught_up_ms << " ms after the restart that followed kill -9\n";
  // A restarted daemon must not wait for its killed predecessor's group session to expire
  // (45 s by default) before it consumes again.
  EXPECT_LT(caught_up_ms, 15000) << "consumption stalled after the restart that followed kill -9";
  // Give a re-delivery the chance to show up before counting.
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, topic) >= produced; }, kStoreWait));

  EXPECT_TRUE(StoredExactly(store, s.name, topic, producer.PayloadsByOffset(topic)));
  EXPECT_EQ(store.CountAlerts(s.name, topic), produced);
  EXPECT_EQ(store.DistinctOffsets(s.name, topic), produced);
  EXPECT_EQ(store.Int("SELECT min(\"offset\") FROM alerts WHERE topic = ?", {topic}), 0);
  EXPECT_EQ(store.Int("SELECT max(\"offset\") FROM alerts WHERE topic = ?", {topic}), produced - 1);
  EXPECT_EQ(store.NextOffset(s.name, topic), produced);
  const auto counters = store.StreamCounters(s.name);
  EXPECT_EQ(counters.duplicates, 0) << "messages were delivered again after the restarts";
  EXPECT_EQ(counters.stored, produced);
  EXPECT_TRUE(d.Stop());
}

// A clean stop while the daemon works through a backlog: it exits 0 promptly, and the restart
// continues exactly where it stopped.
TEST(IngestResume, SigtermMidStreamThenRestartStoresEverythingOnce) {
  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("sigterm");
  CreateTopics(env, {topic});
  StreamSpec s = PlaintextStream(env, "sigterm");
  s.routes = {RouteSpec{.topic = topic}};
  DaemonUnderTest d("it-sigterm");
  d.Configure({s}, "commit_max_messages = 10\n");  // slow enough to be stopped mid-stream
  const auto& store = d.store();
  constexpr int kN = 20000;
  TestProducer producer(env);
  for (int i = 0; i < kN; ++i) {
    producer.Produce(topic, HopJson(Seq("sigterm", i), i % 2 ? std::optional(RandomId())
                                                             : std::nullopt));
  }
  ASSERT_TRUE(producer.Flush(120s));

  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(WaitUntil([&] { return store.IntOrZero("SELECT count(*) FROM alerts") >= 1000; },
                        kStoreWait, 10ms)) << d.LogTail();
  const auto t_stop = Clock::now();
  ASSERT_TRUE(d.Stop());
  const auto stop_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t_stop).count();
  const int64_t at_stop = store.Int("SELECT count(*) FROM alerts");
  std::cout << "SIGTERM mid-stream: exited in " << stop_ms << " ms with " << at_stop << " of "
            << kN << " stored\n";
  RecordProperty("stored_at_sigterm", std::to_string(at_stop));
  EXPECT_LT(stop_ms, 10000);
  EXPECT_EQ(store.NextOffset(s.name, topic), at_stop) << "stored offset and stored rows disagree";

  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, topic) >= kN; }, kStoreWait))
      << store.NextOffset(s.name, topic) << "\n" << d.LogTail();
  EXPECT_TRUE(StoredExactly(store, s.name, topic, producer.PayloadsByOffset(topic)));
  EXPECT_EQ(store.StreamCounters(s.name).duplicates, 0);
  EXPECT_TRUE(d.Stop());
}

// The config gains a route while the daemon is down (stopped cleanly, or killed): after the
// restart the new route's topic is consumed too, and the old one continues.
TEST(IngestResume, RouteAddedToTheConfigWhileDownIsConsumedAfterTheRestart) {
  const auto env = KafkaEnv::from_environment();
  const std::string first = test::unique_topic("cfg-first");
  const std::string second = test::unique_topic("cfg-second");
  const std::string third = test::unique_topic("cfg-third");
  CreateTopics(env, {first, second, third});
  TestProducer producer(env);
  for (const auto& t : {first, second, third}) {
    for (int i = 0; i < 5; ++i) producer.Produce(t, HopJson(Seq(t, i), RandomId()));
  }
  ASSERT_TRUE(producer.Flush());

  StreamSpec s = PlaintextStream(env, "cfgroute");
  s.routes = {RouteSpec{.topic = first}};
  DaemonUnderTest d("it-cfgroute");
  d.Configure({s});
  const auto& store = d.store();
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, first) == 5; }, kStoreWait))
      << d.LogTail();

  // Clean stop, a second route, start.
  ASSERT_TRUE(d.Stop());
  s.routes.push_back(RouteSpec{.topic = second});
  d.Configure({s});
  ASSERT_TRUE(d.Start());
  EXPECT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, second) == 5; }, kStoreWait))
      << "the route added while stopped is not consumed; log tail:\n" << d.LogTail();

  // kill -9, a third route, start.
  ASSERT_TRUE(d.Kill());
  s.routes.push_back(RouteSpec{.topic = third});
  d.Configure({s});
  ASSERT_TRUE(d.Start());
  EXPECT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, third) == 5; }, kStoreWait))
      << "the route added while killed is not consumed; log tail:\n" << d.LogTail();
  for (int i = 5; i < 8; ++i) producer.Produce(first, HopJson(Seq(first, i), RandomId()));
  ASSERT_TRUE(producer.Flush());
  EXPECT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, first) == 8; }, kStoreWait))
      << "the first route stopped consuming; log tail:\n" << d.LogTail();

  EXPECT_EQ(StoredOffsets(store, s.name, first), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(StoredOffsets(store, s.name, second), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(StoredOffsets(store, s.name, third), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(store.StreamCounters(s.name).duplicates, 0);
  EXPECT_TRUE(d.Stop());
}

// The config loses a route while the daemon is down: its topic is no longer consumed (its
// stored position stays), and when the route comes back it resumes where it stopped.
TEST(IngestResume, RouteRemovedFromTheConfigWhileDownResumesWhereItStoppedWhenBack) {
  const auto env = KafkaEnv::from_environment();
  const std::string kept = test::unique_topic("cfg-kept");
  const std::string dropped = test::unique_topic("cfg-dropped");
  CreateTopics(env, {kept, dropped});
  TestProducer producer(env);
  auto produce = [&](const std::string& t, int from, int to) {
    for (int i = from; i < to; ++i) producer.Produce(t, HopJson(Seq(t, i), RandomId()));
    ASSERT_TRUE(producer.Flush());
  };
  ASSERT_NO_FATAL_FAILURE(produce(kept, 0, 5));
  ASSERT_NO_FATAL_FAILURE(produce(dropped, 0, 5));

  StreamSpec s = PlaintextStream(env, "cfgdrop");
  s.routes = {RouteSpec{.topic = kept}, RouteSpec{.topic = dropped}};
  DaemonUnderTest d("it-cfgdrop");
  d.Configure({s});
  const auto& store = d.store();
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(WaitUntil([&] {
    return store.NextOffset(s.name, kept) == 5 && store.NextOffset(s.name, dropped) == 5;
  }, kStoreWait)) << d.LogTail();

  for (const bool kill : {false, true}) {
    SCOPED_TRACE(kill ? "after kill -9" : "after SIGTERM");
    ASSERT_TRUE(kill ? d.Kill() : d.Stop());
    s.routes = {RouteSpec{.topic = kept}};
    d.Configure({s});
    const int base = kill ? 10 : 5;
    ASSERT_NO_FATAL_FAILURE(produce(dropped, base, base + 5));
    ASSERT_TRUE(d.Start());
    ASSERT_NO_FATAL_FAILURE(produce(kept, base, base + 5));
    ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, kept) == base + 5; }, kStoreWait))
        << d.LogTail();
    // Well past a topic refresh: nothing of the dropped route's topic consumed or skipped over.
    EXPECT_FALSE(WaitUntil([&] { return store.NextOffset(s.name, dropped) != base; }, 3s, 200ms))
        << "the stored position of a topic without a route moved to "
        << store.NextOffset(s.name, dropped) << "; log tail:\n" << d.LogTail();
    EXPECT_EQ(store.CountAlerts(s.name, dropped), base);
    const auto st = d.StreamStatus(s.name);
    ASSERT_TRUE(st);
    EXPECT_EQ(DaemonUnderTest::FindPartition(*st, dropped), nullptr) << st->dump(2);

    // The route comes back (clean restart): everything produced meanwhile is stored.
    ASSERT_TRUE(d.Stop());
    s.routes = {RouteSpec{.topic = kept}, RouteSpec{.topic = dropped}};
    d.Configure({s});
    ASSERT_TRUE(d.Start());
    ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, dropped) == base + 5; },
                          kStoreWait))
        << store.NextOffset(s.name, dropped) << "\n" << d.LogTail();
    EXPECT_EQ(store.CountAlerts(s.name, dropped), base + 5);
  }
  EXPECT_EQ(StoredOffsets(store, s.name, dropped).size(), 15u);
  EXPECT_EQ(store.StreamCounters(s.name).duplicates, 0);
  EXPECT_EQ(store.StreamCounters(s.name).skipped, 0);
  EXPECT_TRUE(d.Stop());
}

// Group commits larger than the consumer's read buffer (commit_max_messages may be up to
// 1,000,000): every message stored exactly once, the daemon alive.
TEST(IngestResume, CommitBatchesLargerThanTheReadBufferStoreEverythingOnce) {
  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("bigbatch");
  CreateTopics(env, {topic});
  constexpr int kN = 60000;
  TestProducer producer(env);
  for (int i = 0; i < kN; ++i) {
    producer.Produce(topic, HopJson(Seq("bigbatch", i), i % 2 ? std::optional(RandomId())
                                                              : std::nullopt));
  }
  ASSERT_TRUE(producer.Flush(120s));

  StreamSpec s = PlaintextStream(env, "bigbatch");
  s.routes = {RouteSpec{.topic = topic}};
  DaemonUnderTest d("it-bigbatch");
  d.Configure({s}, "commit_max_messages = 50000\ncommit_max_delay_ms = 2000\n");
  const auto& store = d.store();
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(WaitUntil([&] { return !d.Running() || store.NextOffset(s.name, topic) >= kN; },
                        kStoreWait))
      << store.NextOffset(s.name, topic) << "\n" << d.LogTail();
  ASSERT_TRUE(d.Running()) << "tomstreamd died; log tail:\n" << d.LogTail();
  EXPECT_TRUE(StoredExactly(store, s.name, topic, producer.PayloadsByOffset(topic)));
  EXPECT_EQ(store.StreamCounters(s.name).duplicates, 0);
  EXPECT_TRUE(d.Stop());
}

// ------------------------------------------------------------------ 4. dedupe
TEST(IngestDedupe, SameIdOrSameContentIsStoredOnce) {
  const auto env = KafkaEnv::from_environment();
  const std::string a = test::unique_topic("dedupe-a");
  const std::string b = test::unique_topic("dedupe-b");
  CreateTopics(env, {a, b});
  StreamSpec s = PlaintextStream(env, "dedupe");
  s.routes = {RouteSpec{.topic = a}, RouteSpec{.topic = b}};
  DaemonUnderTest d("it-dedupe");
  d.Configure({s});
  ASSERT_TRUE(d.Start());
  const auto& store = d.store();
  TestProducer producer(env);

  const std::string x = RandomId();
  const std::string p1 = Seq("dedupe-first", 1);
  // The first copy lands on topic a, stored before anything else is produced.
  ASSERT_EQ(producer.ProduceOne(a, HopJson(p1, x)).offset, 0);
  ASSERT_TRUE(WaitUntil([&] { return store.IntOrZero("SELECT count(*) FROM alerts") >= 1; },
                        kStoreWait))
      << d.LogTail();

  producer.Produce(b, HopJson(p1, x));                                   // b@0: same _id, dup
  producer.Produce(a, HopJson(p1, x));                                   // a@1: same _id, dup
  const std::string q = Seq("dedupe-no-id", 2);
  producer.Produce(a, HopJson(q, std::nullopt));                         // a@2: stored
  producer.Produce(a, HopJson(q, std::nullopt));                         // a@3: same content, dup
  producer.Produce(b, HopJson(q, std::nullopt));                         // b@1: other topic
  producer.Produce(a, HopJson(Seq("dedupe-r", 3), RandomId()));          // a@4
  producer.Produce(a, HopJson(Seq("dedupe-r", 4), RandomId()));          // a@5
  ASSERT_TRUE(producer.Flush());

  ASSERT_TRUE(WaitUntil([&] {
    return store.NextOffset(s.name, a) == 6 && store.NextOffset(s.name, b) == 2;
  }, kStoreWait)) << "a next " << store.NextOffset(s.name, a) << ", b next "
                  << store.NextOffset(s.name, b) << "; log tail:\n" << d.LogTail();

  EXPECT_EQ(StoredOffsets(store, s.name, a), (std::vector<int64_t>{0, 2, 4, 5}));
  EXPECT_EQ(StoredOffsets(store, s.name, b), (std::vector<int64_t>{1}));
  EXPECT_EQ(store.Int("SELECT count(*) FROM alerts WHERE message_id = CAST(? AS BLOB)", {x}), 1);
  const auto with_x = store.Query(
      "SELECT topic, \"offset\" FROM alerts WHERE message_id = CAST(? AS BLOB)", {x});
  ASSERT_EQ(with_x.size(), 1u);
  EXPECT_EQ(with_x[0][0], a);
  EXPECT_EQ(with_x[0][1], "0");
  // Without _id the id is a SHA-256 of topic and payload: the same payload on a and b differs.
  const auto q_rows = store.Query(
      "SELECT topic, message_id FROM alerts WHERE payload = CAST(? AS BLOB) ORDER BY topic", {q});
  ASSERT_EQ(q_rows.size(), 2u);
  EXPECT_EQ(q_rows[0][1].value_or("").size(), 32u);
  EXPECT_EQ(q_rows[1][1].value_or("").size(), 32u);
  EXPECT_NE(q_rows[0][1], q_rows[1][1]);

  const auto counters = store.StreamCounters(s.name);
  EXPECT_EQ(counters.stored, 5);
  EXPECT_EQ(counters.duplicates, 3);
  std::string error;
  json last;
  EXPECT_TRUE(WaitUntil([&] {
    auto st = d.StreamStatus(s.name, &error);
    if (!st) return false;
    last = *st;
    return JsonInt(st->value("stored", json(0))) == 5 &&
           JsonInt(st->value("duplicates_skipped", json(0))) == 3;
  }, 10s, 250ms)) << last.dump(2) << error;
  EXPECT_TRUE(d.Stop());
}

// ------------------------------------------------------------------ 5. quarantine
TEST(IngestQuarantine, MalformedHermesMessagesAreQuarantinedAndSkippedOver) {
  std::string fixture;
  ASSERT_NO_THROW(fixture = ReadFixture("hermes/photometry_example.json"))
      << "set up /work/shared/fixtures (TOMSTREAM_FIXTURES_DIR=" TOMSTREAM_FIXTURES_DIR ")";
  const json body = json::parse(fixture);
  ASSERT_EQ(body["data"]["photometry"].size(), 2u);

  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("hermes");
  CreateTopics(env, {topic});
  StreamSpec s = PlaintextStream(env, "quarantine");
  s.routes = {RouteSpec{.topic = topic, .handler = "hermes"}};
  DaemonUnderTest d("it-quar");
  d.Configure({s});
  ASSERT_TRUE(d.Start());

  auto valid = [&](int k) {
    if (k == 0) return fixture;  // the fixture byte for byte
    json v = body;
    v["title"] = v["title"].get<std::string>() + " #" + std::to_string(k);
    return v.dump();
  };
  const std::string photometry_object =
      R"({"title":"bad","topic":"hermes.test","submitter":"MyTOM","data":{"targets":[)"
      R"({"name":"SN 2026abc","ra":"150.1","dec":"-20.5"}],"photometry":{"target_name":)"
      R"("SN 2026abc","date_obs":"2026-05-01T03:04:05Z","bandpass":"g","brightness":18.5,)"
      R"("telescope":"t"}}})";
  struct Sent {
    std::string payload;
    bool ok;
    std::string error_hint;  // expected within the quarantine error (lower case)
  };
  const std::vector<Sent> messages{
      {valid(0), true, ""},
      {"this is not JSON {", false, "json"},
      {valid(1), true, ""},
      {photometry_object, false, "photometry"},
      {valid(2), true, ""},
      {"[1, 2, 3]", false, "object"},
      {valid(3), true, ""},
  };
  TestProducer producer(env);
  for (size_t i = 0; i < messages.size(); ++i) {
    // The last malformed one has no _id: quarantine must not depend on it.
    producer.Produce(topic, HopJson(messages[i].payload,
                                    i == 5 ? std::nullopt : std::optional(RandomId())));
  }
  ASSERT_TRUE(producer.Flush());

  const auto& store = d.store();
  const auto n = static_cast<int64_t>(messages.size());
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, topic) == n; }, kStoreWait))
      << "next offset " << store.NextOffset(s.name, topic) << "; log tail:\n" << d.LogTail();

  EXPECT_EQ(StoredOffsets(store, s.name, topic), (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(store.Int("SELECT count(*) FROM hermes_messages"), 4);
  EXPECT_EQ(store.Int("SELECT count(*) FROM photometry WHERE target_name = 'SN 2026abc'"), 8);
  EXPECT_EQ(store.Query("SELECT payload FROM alerts WHERE \"offset\" = 0")[0][0], fixture);

  const auto q = store.Query(
      "SELECT stream, topic, partition, \"offset\", handler, error, payload, headers "
      "FROM quarantine ORDER BY \"offset\"");
  ASSERT_EQ(q.size(), 3u);
  const int64_t bad_offsets[] = {1, 3, 5};
  for (size_t i = 0; i < q.size(); ++i) {
    const Sent& m = messages[static_cast<size_t>(bad_offsets[i])];
    SCOPED_TRACE("quarantined offset " + std::to_string(bad_offsets[i]));
    EXPECT_EQ(q[i][0], s.name);
    EXPECT_EQ(q[i][1], topic);
    EXPECT_EQ(q[i][2], "0");
    EXPECT_EQ(q[i][3], std::to_string(bad_offsets[i]));
    EXPECT_EQ(q[i][4], "hermes");
    std::string error = q[i][5].value_or("");
    EXPECT_FALSE(error.empty());
    for (char& c : error) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_NE(error.find(m.error_hint), std::string::npos) << q[i][5].value_or("");
    EXPECT_EQ(q[i][6], m.payload);
    EXPECT_TRUE(HasHeader(DecodeStoredHeaders(q[i][7].value_or("")), "_format", "json"));
  }
  const auto counters = store.StreamCounters(s.name);
  EXPECT_EQ(counters.stored, 4);
  EXPECT_EQ(counters.quarantined, 3);

  // tomctl shows the photometry (by name and by alias) and the quarantine.
  std::string error;
  auto phot = d.TomctlJson({"photometry", "ls", "SN 2026abc"}, &error);
  ASSERT_TRUE(phot) << error;
  EXPECT_EQ((*phot)["photometry"].size(), 8u) << phot->dump(2);
  auto by_alias = d.TomctlJson({"photometry", "ls", "ZTF26aaaaaaa"}, &error);
  ASSERT_TRUE(by_alias) << error;
  EXPECT_EQ((*by_alias)["photometry"].size(), 8u) << by_alias->dump(2);

  RunResult r = d.Tomctl({"quarantine", "ls"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const int64_t off : bad_offsets) {
    EXPECT_NE(r.out.find(topic + "[0]@" + std::to_string(off)), std::string::npos) << r.out;
  }
  auto ql = d.TomctlJson({"quarantine", "ls", "--payload"}, &error);
  ASSERT_TRUE(ql) << error;
  ASSERT_EQ((*ql)["messages"].size(), 3u) << ql->dump(2);
  std::set<int64_t> listed;
  for (const auto& m : (*ql)["messages"]) listed.insert(JsonInt(m["offset"]));
  EXPECT_EQ(listed, (std::set<int64_t>{1, 3, 5}));
  EXPECT_TRUE(d.Stop());
}

// ------------------------------------------------------------------ 6. _test messages
TEST(IngestTestMessages, SkippedUnlessTheRouteIncludesThem) {
  const auto env = KafkaEnv::from_environment();
  const std::string plain = test::unique_topic("test-skip");
  const std::string incl = test::unique_topic("test-incl");
  CreateTopics(env, {plain, incl});
  StreamSpec s = PlaintextStream(env, "testmsg");
  s.routes = {RouteSpec{.topic = plain}, RouteSpec{.topic = incl, .include_test = true}};
  DaemonUnderTest d("it-test");
  d.Configure({s});
  ASSERT_TRUE(d.Start());

  TestProducer producer(env);
  for (const auto& t : {plain, incl}) {
    producer.Produce(t, HopJson(Seq("normal", 0), RandomId()));
    producer.Produce(t, HopJson(Seq("test", 1), RandomId(), /*test=*/true));
    producer.Produce(t, HopJson(Seq("normal", 2), RandomId()));
  }
  ASSERT_TRUE(producer.Flush());
  const auto& store = d.store();
  ASSERT_TRUE(WaitUntil([&] {
    return store.NextOffset(s.name, plain) == 3 && store.NextOffset(s.name, incl) == 3;
  }, kStoreWait)) << d.LogTail();

  EXPECT_EQ(StoredOffsets(store, s.name, plain), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(StoredOffsets(store, s.name, incl), (std::vector<int64_t>{0, 1, 2}));
  const auto test_row = store.Query(
      "SELECT headers FROM alerts WHERE topic = ? AND \"offset\" = 1", {incl});
  ASSERT_EQ(test_row.size(), 1u);
  EXPECT_TRUE(HasHeader(DecodeStoredHeaders(test_row[0][0].value_or("")), "_test", "true"));
  const auto counters = store.StreamCounters(s.name);
  EXPECT_EQ(counters.stored, 5);
  EXPECT_EQ(counters.skipped, 1);
  EXPECT_EQ(counters.duplicates, 0);
  EXPECT_TRUE(d.Stop());
}

}  // namespace
}  // namespace tomstream::integration
