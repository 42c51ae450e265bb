// The outbox's Kafka sink under an idempotent-producer fatal error, injected into its producer
// (rd_kafka_test_fatal_error) on librdkafka's mock cluster: the sink recreates the producer,
// reports what was in flight as not sent or transient (never as delivered unless it was), and
// entries sent again arrive under their own _id. Nothing is lost.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "outbox/kafka_sink.h"
#include "outbox/uuid.h"

namespace tomstream::outbox {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct MockDeleter {
  void operator()(rd_kafka_mock_cluster_t* m) const { rd_kafka_mock_cluster_destroy(m); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

KafkaPtr NewClient(rd_kafka_type_t type, const std::string& bootstrap,
                   const std::map<std::string, std::string>& props = {}) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[256];
  if (!bootstrap.empty()) {
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  }
  for (const auto& [k, v] : props) rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) rd_kafka_conf_destroy(conf);
  return KafkaPtr(rk);
}

store::OutboxWork Work(int64_t id, const std::string& topic) {
  store::OutboxWork w;
  w.id = id;
  w.uuid = NewUuidV7();
  w.destination = "mock";
  w.topic = topic;
  w.title = "entry " + std::to_string(id);
  w.body = "{\"title\":\"entry " + std::to_string(id) + "\"}";
  w.attempts = 1;
  return w;
}

// Polls until `want` outcomes arrived or 30 s passed.
std::vector<SinkOutcome> PollFor(KafkaSink& sink, size_t want) {
  std::vector<SinkOutcome> out;
  const auto deadline = Clock::now() + 30s;
  while (out.size() < want && Clock::now() < deadline) sink.Poll(50ms, out);
  return out;
}

// The _id headers of every message on partition 0 of `topic`.
std::multiset<std::string> ReadIds(const std::string& bootstrap, const std::string& topic,
                                   size_t want) {
  KafkaPtr consumer = NewClient(RD_KAFKA_CONSUMER, bootstrap,
                                {{"group.id", "kafka-sink-test"}, {"enable.auto.commit", "false"}});
  rd_kafka_poll_set_consumer(consumer.get());
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(consumer.get(), list);
  rd_kafka_topic_partition_list_destroy(list);
  std::multiset<std::string> ids;
  const auto deadline = Clock::now() + 30s;
  while (ids.size() < want && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 100);
    if (m == nullptr) continue;
    rd_kafka_headers_t* hdrs = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, "_id", &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ids.insert(std::string(static_cast<const char*>(value), size));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(consumer.get());
  return ids;
}

TEST(KafkaSinkFaults, FatalProducerErrorRecreatesTheProducerAndLosesNothing) {
  KafkaPtr owner = NewClient(RD_KAFKA_PRODUCER, "");
  ASSERT_NE(owner, nullptr);
  std::unique_ptr<rd_kafka_mock_cluster_t, MockDeleter> mock(
      rd_kafka_mock_cluster_new(owner.get(), 1));
  ASSERT_NE(mock, nullptr);
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(mock.get());
  const std::string topic = "outbox-fatal";
  ASSERT_EQ(rd_kafka_mock_topic_create(mock.get(), topic.c_str(), 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);

  config::StreamConfig stream;
  stream.name = "mock";
  stream.bootstrap = {bootstrap};
  config::DestinationConfig dest;
  dest.name = "mock";
  dest.kind = config::DestinationKind::kKafka;
  dest.stream = "mock";
  dest.topics = {topic};
  dest.max_in_flight = 100;
  dest.request_timeout = 10000ms;
  KafkaSink sink(dest, stream, "tester");
  ASSERT_NE(sink.producer_for_testing(), nullptr);

  std::map<int64_t, store::OutboxWork> entries;  // every entry, by id
  std::set<int64_t> delivered;
  auto send = [&](int64_t id) {
    store::OutboxWork w = Work(id, topic);
    entries[id] = w;
    sink.Send(std::move(w));
  };
  auto settle = [&](size_t want, std::vector<int64_t>* transient) {
    for (const SinkOutcome& o : PollFor(sink, want)) {
      if (o.kind == SinkOutcome::Kind::kDelivered) {
        delivered.insert(o.id);
      } else {
        // Purged before it left (not sent) or while in flight (fate unknown): sent again.
        EXPECT_TRUE(o.kind == SinkOutcome::Kind::kTransient ||
                    o.kind == SinkOutcome::Kind::kNotSent)
            << static_cast<int>(o.kind) << ": " << o.error;
        transient->push_back(o.id);
      }
    }
  };

  std::vector<int64_t> transient;
  for (int64_t id = 1; id <= 10; ++id) send(id);
  settle(10, &transient);
  ASSERT_EQ(delivered.size(), 10u);
  ASSERT_TRUE(transient.empty());

  // In flight when the producer fails fatally.
  for (int64_t id = 11; id <= 30; ++id) send(id);
  ASSERT_EQ(rd_kafka_test_fatal_error(sink.producer_for_testing(),
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                      "injected by the test"),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  settle(20, &transient);
  EXPECT_EQ(sink.recreated(), 1);
  EXPECT_EQ(sink.in_flight(), 0u);
  EXPECT_EQ(delivered.size() + transient.size(), 30u) << "an entry's outcome was never reported";

  // The outbox sends them again (same uuid) with a fresh producer; new entries go too.
  std::vector<int64_t> again = transient;
  transient.clear();
  for (int64_t id : again) sink.Send(entries[id]);
  for (int64_t id = 31; id <= 40; ++id) send(id);
  settle(again.size() + 10, &transient);
  EXPECT_TRUE(transient.empty());
  EXPECT_EQ(delivered.size(), 40u);

  // Every entry is on the topic under its own _id; the only repeats are entries whose fate the
  // fatal error made unknown.
  const std::multiset<std::string> ids = ReadIds(bootstrap, topic, 40);
  for (const auto& [id, w] : entries) {
    EXPECT_GE(ids.count(w.uuid), 1u) << "entry " << id << " never reached the topic";
  }
  std::cout << "fatal error: " << again.size() << " of 20 in-flight entries reported transient, "
            << ids.size() - 40 << " repeats on the topic\n";
}

}  // namespace
}  // namespace tomstream::outbox
