// The outbox's Kafka sink end to end: tomctl publishes photometry, tomstreamd delivers it to a
// topic of the real broker with hop-client's headers, the body passes the Hermes rules (checked
// by the fake Hermes server's validator, an independent implementation), and a subscription of
// the same daemon ingests it back. Then a kill -9 loop while 10,000 entries are being published.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "daemon_under_test.h"

namespace tomstream::integration {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::KafkaEnv;
using test::KafkaListener;

struct Published {
  std::map<std::string, std::string> headers;  // last value of each header
  std::string body;
};

// Every message on partition 0 of `topic`, read from the beginning until `want` messages came
// or `limit` passed.
std::vector<Published> ReadTopic(const KafkaEnv& env, const std::string& topic, size_t want,
                                 std::chrono::milliseconds limit) {
  auto conf = test::make_kafka_conf(env, KafkaListener::kPlaintext,
                                    {.extra = {{"group.id", UniqueName("outbox-reader")},
                                               {"enable.auto.commit", "false"}}});
  auto consumer = test::make_consumer(std::move(conf));
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(consumer.get(), list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<Published> out;
  const auto deadline = Clock::now() + limit;
  while (out.size() < want && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Published p;
      p.body.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          p.headers[name] = std::string(static_cast<const char*>(value), size);
        }
      }
      out.push_back(std::move(p));
    }
    rd_kafka_message_destroy(m);
  }
  return out;
}

// "0190a1b2-c3d4-..." as its 16 bytes.
std::string UuidBytes(const std::string& text) {
  std::string hex;
  for (char c : text) {
    if (c != '-') hex += c;
  }
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

// The fake Hermes server's validator (tests/outbox/fake_hermes.py) on `body`: "{}" when valid.
std::string HermesErrors(const std::string& dir, const std::string& body) {
  const std::string file = dir + "/body.json";
  testing::WriteFile(file, body);
  const std::string cmd = "python3 -c 'import json, sys; sys.path.insert(0, sys.argv[1]); "
                          "import fake_hermes; print(json.dumps(fake_hermes.validate_message("
                          "fake_hermes.parse_json(open(sys.argv[2], \"rb\").read()))))' '" +
                          std::string(FAKE_HERMES_DIR) + "' '" + file + "' 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

TEST(OutboxKafka, PublishedMessageCarriesHopHeadersPassesHermesRulesAndIsIngestedBack) {
  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("outbox-kafka");
  CreateTopics(env, {topic});
  StreamSpec s = PlaintextStream(env, "obk");
  s.routes = {RouteSpec{.topic = topic, .handler = "hermes"}};
  DaemonUnderTest d("it-obk");
  d.Configure({s}, "", KafkaDestination(s.name, topic, 100));
  ASSERT_TRUE(d.Start());

  auto published = d.TomctlJson({"publish", "photometry", "--destination", "hop", "--topic", topic,
                                 "--submitter", "tester", "--target", "SN 2026kfk", "--ra",
                                 "150.1234", "--dec", "-20.5678", "--date-obs", "2461161.5",
                                 "--bandpass", "r", "--telescope", "1m0a.doma.elp.lco",
                                 "--limiting-brightness", "20.2"});
  ASSERT_TRUE(published) << d.LogTail();
  const std::string uuid = (*published)["results"][0]["uuid"].get<std::string>();
  ASSERT_EQ(uuid.size(), 36u);

  const auto& store = d.store();
  ASSERT_TRUE(WaitUntil([&] { return store.IntOrZero("SELECT count(*) FROM outbox WHERE state = 3") == 1; },
                        30s))
      << d.LogTail();
  const std::string body = *store.Query("SELECT body FROM outbox")[0][0];

  const auto messages = ReadTopic(env, topic, 1, 30s);
  ASSERT_EQ(messages.size(), 1u);
  const Published& m = messages[0];
  EXPECT_EQ(m.headers.at("_id"), UuidBytes(uuid));
  EXPECT_EQ(m.headers.at("_id").size(), 16u);
  EXPECT_EQ(m.headers.at("_format"), "json");
  EXPECT_EQ(m.headers.at("_sender"), "tomstreamd");  // PLAINTEXT: no credential name
  EXPECT_EQ(m.headers.at("title"), "Photometry of SN 2026kfk");
  EXPECT_EQ(m.headers.at("topic"), topic);
  EXPECT_EQ(m.body, body);
  const json doc = json::parse(m.body);
  EXPECT_EQ(doc["topic"], topic);
  EXPECT_EQ(doc["data"]["photometry"][0]["date_obs"], 2461161.5);
  EXPECT_EQ(doc["data"]["photometry"][0]["limiting_brightness_unit"], "AB mag");
  EXPECT_EQ(HermesErrors(d.dir(), m.body), "{}");

  // The daemon's own subscription stores it, keyed by the same _id, with its photometry.
  ASSERT_TRUE(WaitUntil([&] {
    return store.IntOrZero("SELECT count(*) FROM alerts WHERE topic = ? AND handler = 'hermes'",
                           {topic}) == 1;
  }, 30s)) << d.LogTail();
  EXPECT_EQ(*store.Query("SELECT message_id FROM alerts WHERE topic = ?", {topic})[0][0],
            UuidBytes(uuid));
  EXPECT_EQ(store.IntOrZero("SELECT count(*) FROM photometry WHERE target_name = 'SN 2026kfk' "
                            "AND bandpass = 'r' AND limiting_brightness = 20.2"),
            1);
  EXPECT_EQ(store.IntOrZero("SELECT count(*) FROM quarantine"), 0);
  EXPECT_TRUE(d.Stop());
}

// At least 20 kill -9s while 10,000 acknowledged entries are being published: every entry ends
// delivered, every one reached the topic, and a message sent twice carries the same _id and
// body both times.
TEST(OutboxKafka, KillNineWhilePublishingLosesNothing) {
  constexpr int kEntries = 10000;
  constexpr int kKills = 20;
  constexpr int kPerFile = 1000;
  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("outbox-kill9");
  CreateTopics(env, {topic});
  StreamSpec s = PlaintextStream(env, "obk9");  // used for its broker only: no routes
  DaemonUnderTest d("it-obk9");
  // A small window of messages in flight: publishing takes long enough to be interrupted.
  d.Configure({s}, "", KafkaDestination(s.name, topic, 20));
  ASSERT_TRUE(d.Start());

  // Acknowledged entries: enqueued before the loop, in batches of 1,000 targets per CSV file.
  for (int f = 0; f < kEntries / kPerFile; ++f) {
    const std::string file = d.dir() + "/batch" + std::to_string(f) + ".csv";
    testing::WriteFile(file, PhotometryCsv("K9-", f * kPerFile, kPerFile));
    RunResult r = d.Tomctl({"publish", "photometry", "--destination", "hop", "--topic", topic,
                            "--submitter", "kill9", "--file", file});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  const auto& store = d.store();
  ASSERT_EQ(store.Int("SELECT count(*) FROM outbox"), kEntries);
  auto delivered = [&] { return store.IntOrZero("SELECT count(*) FROM outbox WHERE state = 3"); };

  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> progress(1, 2 * kEntries * 3 / 4 / kKills);
  std::uniform_int_distribution<int> extra_ms(0, 20);
  RecordProperty("seed", std::to_string(seed));
  int mid_stream = 0;
  int64_t before = 0;
  for (int k = 0; k < kKills; ++k) {
    const int64_t want = before + progress(rng);
    WaitUntil([&] { return delivered() >= want; }, 30s, 5ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(extra_ms(rng)));
    ASSERT_TRUE(d.Kill()) << "kill " << k + 1;
    const int64_t n = delivered();
    if (n > 0 && n < kEntries) ++mid_stream;
    ASSERT_GE(n, before) << "a delivered entry went back";
    before = n;
    ASSERT_EQ(store.Int("SELECT count(*) FROM outbox"), kEntries) << "an entry was lost";
    ASSERT_TRUE(d.Start()) << "restart after kill " << k + 1;
  }
  ASSERT_TRUE(WaitUntil([&] { return delivered() == kEntries; }, 120s, 100ms))
      << delivered() << " of " << kEntries << " delivered; log tail:\n" << d.LogTail();
  std::cout << "outbox kill -9 loop: " << kEntries << " entries, " << kKills << " kills ("
            << mid_stream << " mid-stream), seed " << seed << "\n";
  EXPECT_GE(mid_stream, kKills / 2);

  // Every entry reached the topic; repeats are exact copies under the same _id.
  std::map<std::string, std::string> body_by_uuid;
  for (const Row& r : store.Query("SELECT uuid, body FROM outbox")) body_by_uuid[*r[0]] = *r[1];
  ASSERT_EQ(body_by_uuid.size(), static_cast<size_t>(kEntries));
  const auto messages = ReadTopic(env, topic, kEntries * 2, 60s);
  std::map<std::string, int> seen;
  size_t foreign = 0;
  size_t altered = 0;
  for (const Published& m : messages) {
    const auto it = body_by_uuid.find(m.headers.count("_id") ? m.headers.at("_id") : "");
    if (it == body_by_uuid.end()) {
      ++foreign;
      continue;
    }
    if (it->second != m.body) ++altered;
    ++seen[it->first];
  }
  size_t repeats = 0;
  for (const auto& [uuid, n] : seen) repeats += static_cast<size_t>(n - 1);
  std::cout << "  " << messages.size() << " messages on the topic, " << repeats
            << " repeats (same _id)\n";
  RecordProperty("repeats", std::to_string(repeats));
  EXPECT_EQ(seen.size(), static_cast<size_t>(kEntries)) << "entries never published";
  EXPECT_EQ(foreign, 0u) << "messages with an _id of no entry";
  EXPECT_EQ(altered, 0u) << "a repeat differs from the entry's body";
  EXPECT_TRUE(d.Stop());
}

}  // namespace
}  // namespace tomstream::integration
