// Round trips through every listener of the real test broker (tests/kafka/broker.sh), and
// authentication / TLS failures that must surface as errors within a bounded time.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kafka_env.h"

namespace tomstream::test {

// Readable test parameters in GoogleTest output.
void PrintTo(KafkaListener listener, std::ostream* os) { *os << to_string(listener); }

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kWait = 30s;  // upper bound for every wait in this file
constexpr int kWaitMs = 30'000;

using Header = std::pair<std::string, std::optional<std::string>>;  // nullopt = null value

struct Record {
  std::string key;
  std::string value;
  std::vector<Header> headers;
  bool operator==(const Record&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Record& r) {
  os << "{key=" << testing::PrintToString(r.key) << " value=" << testing::PrintToString(r.value)
     << " headers=[";
  for (const auto& [name, value] : r.headers) {
    os << name << '=' << (value ? testing::PrintToString(*value) : std::string("null")) << ' ';
  }
  return os << "]}";
}

// Everything librdkafka reports through callbacks (the conf opaque of one client).
class ClientEvents {
 public:
  enum class Role { kProducer, kConsumer };

  void attach(rd_kafka_conf_t* conf, Role role = Role::kProducer) {
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_error_cb(conf, [](rd_kafka_t*, int err, const char* reason, void* opaque) {
      static_cast<ClientEvents*>(opaque)->on_error(static_cast<rd_kafka_resp_err_t>(err), reason);
    });
    if (role == Role::kProducer) {
      rd_kafka_conf_set_dr_msg_cb(conf,
                                  [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
                                    static_cast<ClientEvents*>(opaque)->on_delivery(m);
                                  });
    }
  }

  bool has_error(rd_kafka_resp_err_t code) const {
    const std::lock_guard lock(mu_);
    for (const auto& e : errors_) {
      if (e.first == code) return true;
    }
    return false;
  }
  std::string errors() const {
    const std::lock_guard lock(mu_);
    std::ostringstream os;
    for (const auto& [code, reason] : errors_) {
      os << "\n  " << rd_kafka_err2name(code) << ": " << reason;
    }
    return os.str();
  }
  int delivered() const {
    const std::lock_guard lock(mu_);
    return delivered_;
  }
  std::vector<std::string> delivery_failures() const {
    const std::lock_guard lock(mu_);
    return delivery_failures_;
  }

 private:
  void on_error(rd_kafka_resp_err_t code, const char* reason) {
    const std::lock_guard lock(mu_);
    errors_.emplace_back(code, reason != nullptr ? reason : "");
  }
  void on_delivery(const rd_kafka_message_t* m) {
    const std::lock_guard lock(mu_);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++delivered_;
    } else {
      delivery_failures_.emplace_back(rd_kafka_err2str(m->err));
    }
  }

  mutable std::mutex mu_;
  std::vector<std::pair<rd_kafka_resp_err_t, std::string>> errors_;
  int delivered_ = 0;
  std::vector<std::string> delivery_failures_;
};

std::vector<Record> test_records(KafkaListener listener) {
  std::vector<Record> records;
  const std::string uuid_bytes("\x01\x23\x45\x67\x89\xab\xcd\xef\x00\x10\x20\x30\x40\x50\x60\x70",
                               16);
  for (int i = 0; i < 5; ++i) {
    Record r;
    r.key = "key-" + std::to_string(i);
    r.value = R"({"n":)" + std::to_string(i) + R"(,"listener":")" + std::string(to_string(listener)) +
              R"("})";
    r.headers = {{"_id", uuid_bytes},
                 {"_format", "json"},
                 {"_sender", "alice"},
                 {"seq", std::to_string(i)}};
    if (i == 3) r.headers.emplace_back("_test", std::nullopt);  // a null-valued header
    records.push_back(std::move(r));
  }
  // Binary payload with embedded NUL bytes and an empty key.
  records.push_back(Record{"", std::string("\0bin\0ary\xff", 9), {{"_format", "blob"}}});
  return records;
}

void produce(rd_kafka_t* producer, const std::string& topic, const Record& r) {
  KafkaHeadersPtr headers(rd_kafka_headers_new(r.headers.size()));
  for (const auto& [name, value] : r.headers) {
    const auto err = value ? rd_kafka_header_add(headers.get(), name.data(),
                                                 static_cast<ssize_t>(name.size()), value->data(),
                                                 static_cast<ssize_t>(value->size()))
                           : rd_kafka_header_add(headers.get(), name.data(),
                                                 static_cast<ssize_t>(name.size()), nullptr, 0);
    ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  }
  std::vector<rd_kafka_vu_t> vus(5);
  vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[0].u.cstr = topic.c_str();
  vus[1].vtype = RD_KAFKA_VTYPE_KEY;
  vus[1].u.mem = {const_cast<char*>(r.key.data()), r.key.size()};
  vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[2].u.mem = {const_cast<char*>(r.value.data()), r.value.size()};
  vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[3].u.i = RD_KAFKA_MSG_F_COPY;
  vus[4].vtype = RD_KAFKA_VTYPE_HEADERS;  // ownership passes to librdkafka on success
  vus[4].u.headers = headers.get();
  KafkaErrorPtr error(rd_kafka_produceva(producer, vus.data(), vus.size()));
  ASSERT_FALSE(error) << "produce: " << rd_kafka_error_string(error.get());
  static_cast<void>(headers.release());
}

Record to_record(const rd_kafka_message_t* m) {
  Record r;
  if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* hdrs = nullptr;  // owned by the message
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) ==
                       RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      r.headers.emplace_back(name, value != nullptr ? std::optional<std::string>(std::string(
                                                          static_cast<const char*>(value), size))
                                                    : std::nullopt);
    }
  }
  return r;
}

class KafkaListenerTest : public testing::TestWithParam<KafkaListener> {};

TEST_P(KafkaListenerTest, ProducesAndConsumesWithHeaders) {
  const auto env = KafkaEnv::from_environment();
  const auto listener = GetParam();
  const auto topic = unique_topic(to_string(listener));
  const auto records = test_records(listener);

  // Produce, idempotently, and wait for every delivery report.
  ClientEvents producer_events;
  auto pconf = make_kafka_conf(
      env, listener,
      {.extra = {{"enable.idempotence", "true"}, {"message.timeout.ms", std::to_string(kWaitMs)}}});
  producer_events.attach(pconf.get());
  auto producer = make_producer(std::move(pconf));
  create_topic(producer.get(), topic);
  for (const auto& r : records) {
    ASSERT_NO_FATAL_FAILURE(produce(producer.get(), topic, r));
  }
  ASSERT_EQ(rd_kafka_flush(producer.get(), kWaitMs), RD_KAFKA_RESP_ERR_NO_ERROR)
      << "delivery not confirmed within " << kWaitMs << " ms; errors:" << producer_events.errors();
  EXPECT_EQ(producer_events.delivered(), static_cast<int>(records.size()));
  EXPECT_TRUE(producer_events.delivery_failures().empty())
      << testing::PrintToString(producer_events.delivery_failures());

  // Consume them back in a consumer group from the beginning.
  ClientEvents consumer_events;
  auto cconf = make_kafka_conf(env, listener,
                               {.extra = {{"group.id", "tomstream-test-group-" + topic},
                                          {"auto.offset.reset", "earliest"},
                                          {"enable.auto.commit", "false"},
                                          {"enable.partition.eof", "false"}}});
  consumer_events.attach(cconf.get(), ClientEvents::Role::kConsumer);
  auto consumer = make_consumer(std::move(cconf));
  KafkaTopicPartitionListPtr subscription(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(subscription.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  ASSERT_EQ(rd_kafka_subscribe(consumer.get(), subscription.get()), RD_KAFKA_RESP_ERR_NO_ERROR);

  std::vector<Record> received;
  std::vector<std::string> consume_errors;
  const auto deadline = Clock::now() + kWait;
  while (received.size() < records.size() && Clock::now() < deadline) {
    KafkaMessagePtr m(rd_kafka_consumer_poll(consumer.get(), 200));
    if (!m) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      consume_errors.push_back(std::string(rd_kafka_err2name(m->err)) + ": " +
                               rd_kafka_message_errstr(m.get()));
      continue;
    }
    EXPECT_EQ(rd_kafka_topic_name(m->rkt), topic);
    received.push_back(to_record(m.get()));
  }
  ASSERT_EQ(received.size(), records.size())
      << "consumed " << received.size() << " of " << records.size() << " within "
      << kWait.count() << " s; consume errors: " << testing::PrintToString(consume_errors)
      << "; client errors:" << consumer_events.errors();
  EXPECT_EQ(received, records);

  // Committing the consumed offsets through the group works on this listener too.
  EXPECT_EQ(rd_kafka_commit(consumer.get(), nullptr, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(rd_kafka_consumer_close(consumer.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
}

INSTANTIATE_TEST_SUITE_P(AllListeners, KafkaListenerTest,
                         testing::Values(KafkaListener::kPlaintext,
                                         KafkaListener::kSaslPlaintextPlain,
                                         KafkaListener::kSaslPlaintextScram,
                                         KafkaListener::kSaslSslScram),
                         [](const testing::TestParamInfo<KafkaListener>& p) {
                           return std::string(to_string(p.param));
                         });

class KafkaSaslListenerTest : public testing::TestWithParam<KafkaListener> {};

// The second user can authenticate on each SASL listener (metadata request succeeds).
TEST_P(KafkaSaslListenerTest, SecondUserAuthenticates) {
  const auto env = KafkaEnv::from_environment();
  ClientEvents events;
  auto conf = make_kafka_conf(env, GetParam(), {.username = env.user2, .password = env.password2});
  events.attach(conf.get());
  auto producer = make_producer(std::move(conf));
  const rd_kafka_metadata_t* metadata = nullptr;
  const auto err = rd_kafka_metadata(producer.get(), 1, nullptr, &metadata, kWaitMs);
  ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_err2str(err) << "; client errors:" << events.errors();
  EXPECT_EQ(metadata->broker_cnt, 1);
  rd_kafka_metadata_destroy(metadata);
  EXPECT_FALSE(events.has_error(RD_KAFKA_RESP_ERR__AUTHENTICATION)) << events.errors();
}

INSTANTIATE_TEST_SUITE_P(SaslListeners, KafkaSaslListenerTest,
                         testing::Values(KafkaListener::kSaslPlaintextPlain,
                                         KafkaListener::kSaslPlaintextScram,
                                         KafkaListener::kSaslSslScram),
                         [](const testing::TestParamInfo<KafkaListener>& p) {
                           return std::string(to_string(p.param));
                         });

// Serve the client's callbacks until `code` was reported or the bounded wait ends.
bool wait_for_error(rd_kafka_t* rk, const ClientEvents& events, rd_kafka_resp_err_t code) {
  const auto deadline = Clock::now() + kWait;
  while (Clock::now() < deadline) {
    rd_kafka_poll(rk, 100);
    if (events.has_error(code)) return true;
  }
  return false;
}

// A client that must fail: its error must be reported in time and metadata must not be served.
void expect_connection_error(const KafkaEnv& env, KafkaListener listener,
                             const KafkaClientOptions& options, rd_kafka_resp_err_t code) {
  ClientEvents events;
  auto conf = make_kafka_conf(env, listener, options);
  events.attach(conf.get());
  auto producer = make_producer(std::move(conf));
  const auto t0 = Clock::now();
  EXPECT_TRUE(wait_for_error(producer.get(), events, code))
      << "no " << rd_kafka_err2name(code) << " within " << kWait.count()
      << " s; errors:" << events.errors();
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  testing::Test::RecordProperty("error_after_ms", std::to_string(elapsed.count()));

  const rd_kafka_metadata_t* metadata = nullptr;
  const auto err = rd_kafka_metadata(producer.get(), 1, nullptr, &metadata, 2000);
  EXPECT_NE(err, RD_KAFKA_RESP_ERR_NO_ERROR) << "metadata served to a client that should fail";
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_metadata_destroy(metadata);
}

TEST(KafkaAuthFailure, WrongScramPasswordOnSaslSsl) {
  const auto env = KafkaEnv::from_environment();
  expect_connection_error(env, KafkaListener::kSaslSslScram,
                          {.password = env.password + "-wrong"},
                          RD_KAFKA_RESP_ERR__AUTHENTICATION);
}

TEST(KafkaAuthFailure, WrongPlainPasswordOnSaslPlaintext) {
  const auto env = KafkaEnv::from_environment();
  expect_connection_error(env, KafkaListener::kSaslPlaintextPlain,
                          {.password = "not-" + env.password}, RD_KAFKA_RESP_ERR__AUTHENTICATION);
}

TEST(KafkaAuthFailure, UnknownScramUser) {
  const auto env = KafkaEnv::from_environment();
  expect_connection_error(env, KafkaListener::kSaslPlaintextScram,
                          {.username = "mallory", .password = "x"},
                          RD_KAFKA_RESP_ERR__AUTHENTICATION);
}

// Without our CA the broker certificate cannot be verified (only the system CAs are trusted).
TEST(KafkaTlsFailure, UnknownCaFailsVerification) {
  const auto env = KafkaEnv::from_environment();
  expect_connection_error(env, KafkaListener::kSaslSslScram, {.with_ca = false},
                          RD_KAFKA_RESP_ERR__SSL);
}

TEST(KafkaEnvFile, MissingFileThrowsClearError) {
  try {
    static_cast<void>(KafkaEnv::load("/nonexistent/broker.env"));
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/broker.env"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tomstream::test
