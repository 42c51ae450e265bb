// Faults a real broker cannot be made to produce on demand, injected with librdkafka's mock
// cluster: request errors, a broker going down, high round-trip times, failed offset commits,
// and a store that refuses batches. Each test checks that exactly the produced messages end up
// stored: none lost, none twice.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "store/sqlite.h"
#include "store/store.h"
#include "stream/consumer.h"
#include "stream/route_table.h"

namespace tomstream {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Kafka protocol API keys.
constexpr int16_t kFetch = 1;
constexpr int16_t kOffsetCommit = 8;

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct MockDeleter {
  void operator()(rd_kafka_mock_cluster_t* m) const { rd_kafka_mock_cluster_destroy(m); }
};

std::unique_ptr<rd_kafka_t, KafkaDeleter> NewProducer(const std::string& bootstrap) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[256];
  if (!bootstrap.empty()) {
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  }
  rd_kafka_conf_set(conf, "message.timeout.ms", "60000", err, sizeof err);
  rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) rd_kafka_conf_destroy(conf);
  return std::unique_ptr<rd_kafka_t, KafkaDeleter>(rk);
}

class MockClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tomstream-mock.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    host_ = NewProducer("");
    ASSERT_TRUE(host_);
    mock_.reset(rd_kafka_mock_cluster_new(host_.get(), 1));
    ASSERT_TRUE(mock_);
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(mock_.get());
    ASSERT_EQ(rd_kafka_mock_topic_create(mock_.get(), topic_.c_str(), 1, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    producer_ = NewProducer(bootstrap_);
    ASSERT_TRUE(producer_);
    OpenStore();
  }

  void TearDown() override {
    consumer_.reset();
    store_.reset();
    producer_.reset();
    mock_.reset();
    host_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  void OpenStore() {
    store::StoreOptions options;
    options.path = dir_ + "/tomstream.db";
    auto opened = store::Store::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }

  void StartConsumer() {
    stream::ConsumerOptions options;
    options.stream.name = "mock";
    options.stream.bootstrap = {bootstrap_};
    options.stream.group_id = "tomstream-mock-test";
    options.stream.start.kind = config::StartPosition::Kind::kEarliest;
    options.commit_max_messages = 200;
    options.commit_max_delay = 5ms;
    options.topic_refresh = 500ms;
    // The mock coordinator waits out the session of a member that left before it lets a new one
    // join (a real broker rebalances at once on LeaveGroup); keep that wait short.
    options.kafka_overrides.emplace_back("session.timeout.ms", "6000");
    if (const char* dbg = std::getenv("TOMSTREAM_KAFKA_DEBUG")) {
      options.kafka_overrides.emplace_back("debug", dbg);
      spdlog::set_level(spdlog::level::debug);
    }
    stream::Route route;
    route.topic = topic_;
    route.handler = "raw";
    consumer_ = std::make_unique<stream::StreamConsumer>(options, *store_,
                                                          stream::RouteTable({route}));
    consumer_->Start();
  }

  // Produces `count` unique messages numbered from `first`; waits for delivery (bounded).
  void Produce(int first, int count) {
    for (int i = first; i < first + count; ++i) {
      const std::string payload = "{\"n\":" + std::to_string(i) + "}";
      rd_kafka_vu_t vus[3] = {};
      vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vus[0].u.cstr = topic_.c_str();
      vus[1].vtype = RD_KAFKA_VTYPE_VALUE;
      vus[1].u.mem.ptr = const_cast<char*>(payload.data());
      vus[1].u.mem.size = payload.size();
      vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vus[2].u.i = RD_KAFKA_MSG_F_COPY;
      rd_kafka_resp_err_t err;
      do {
        rd_kafka_error_t* error = rd_kafka_produceva(producer_.get(), vus, 3);
        err = error != nullptr ? rd_kafka_error_code(error) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (error != nullptr) rd_kafka_error_destroy(error);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) rd_kafka_poll(producer_.get(), 10);
      } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
      ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ASSERT_EQ(rd_kafka_flush(producer_.get(), 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  int64_t Query(const std::string& sql) {
    int64_t v = -1;
    Status st = store_->Read([&](store::Connection& db) {
      auto r = db.QueryInt(sql);
      if (!r.ok()) return r.status();
      v = *r;
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return v;
  }

  // Waits until `count` alerts are stored; false after `limit`.
  bool WaitStored(int64_t count, std::chrono::seconds limit = 60s) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (Query("SELECT count(*) FROM alerts") >= count) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // Exactly offsets 0..count-1 stored, once each, and the stored position right after them.
  void ExpectExactlyOnce(int64_t count) {
    EXPECT_EQ(Query("SELECT count(*) FROM alerts"), count);
    EXPECT_EQ(Query("SELECT count(DISTINCT \"offset\") FROM alerts"), count);
    EXPECT_EQ(Query("SELECT min(\"offset\") FROM alerts"), 0);
    EXPECT_EQ(Query("SELECT max(\"offset\") FROM alerts"), count - 1);
    EXPECT_EQ(Query("SELECT next_offset FROM partition_offsets"), count);
    EXPECT_EQ(Query("SELECT coalesce(sum(duplicates), 0) FROM stream_counters"), 0);
  }

  std::string dir_;
  std::string topic_ = "alerts.mock";
  std::string bootstrap_;
  std::unique_ptr<rd_kafka_t, KafkaDeleter> host_;
  std::unique_ptr<rd_kafka_mock_cluster_t, MockDeleter> mock_;
  std::unique_ptr<rd_kafka_t, KafkaDeleter> producer_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<stream::StreamConsumer> consumer_;
};

TEST_F(MockClusterTest, FetchErrorsAndDisconnectsLoseNothing) {
  Produce(0, 1000);
  rd_kafka_mock_push_request_errors(mock_.get(), kFetch, 6,
                                    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                    RD_KAFKA_RESP_ERR__TRANSPORT,
                                    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                    RD_KAFKA_RESP_ERR__TRANSPORT,
                                    RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                                    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  StartConsumer();
  Produce(1000, 1000);
  ASSERT_TRUE(WaitStored(2000));
  consumer_->Stop(10s);
  ExpectExactlyOnce(2000);
}

TEST_F(MockClusterTest, BrokerDownThenUpResumesWithNothingLost) {
  StartConsumer();
  Produce(0, 500);
  ASSERT_TRUE(WaitStored(500));
  rd_kafka_mock_broker_set_down(mock_.get(), 1);
  // While the broker is down the stream says so.
  const auto deadline = Clock::now() + 30s;
  bool noticed = false;
  while (!noticed && Clock::now() < deadline) {
    const auto s = consumer_->status();
    noticed = s.state != stream::StreamState::kConnected || !s.last_error.empty();
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(noticed) << "status did not show the broker going down";
  std::this_thread::sleep_for(2s);
  rd_kafka_mock_broker_set_up(mock_.get(), 1);
  Produce(500, 500);
  ASSERT_TRUE(WaitStored(1000));
  consumer_->Stop(10s);
  ExpectExactlyOnce(1000);
}

TEST_F(MockClusterTest, HighRoundTripTimesStillDeliverEverything) {
  rd_kafka_mock_broker_set_rtt(mock_.get(), 1, 300);
  Produce(0, 300);
  StartConsumer();
  ASSERT_TRUE(WaitStored(300, 90s));
  consumer_->Stop(10s);
  ExpectExactlyOnce(300);
}

// Kafka's committed offset is only a hint: the store's offsets decide where consumption resumes.
TEST_F(MockClusterTest, FailedOffsetCommitsDoNotCauseRedeliveryAfterRestart) {
  const std::vector<rd_kafka_resp_err_t> errors(50, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  rd_kafka_mock_push_request_errors_array(mock_.get(), kOffsetCommit, errors.size(),
                                          errors.data());
  Produce(0, 600);
  StartConsumer();
  ASSERT_TRUE(WaitStored(600));
  consumer_->Stop(10s);
  consumer_.reset();
  StartConsumer();
  Produce(600, 400);
  ASSERT_TRUE(WaitStored(1000));
  // Give a wrong redelivery time to show up before judging.
  std::this_thread::sleep_for(1s);
  consumer_->Stop(10s);
  ExpectExactlyOnce(1000);
}

// A store that refuses batches pauses consumption; when it accepts writes again the consumer
// reads again from the first unstored message, so nothing is lost and nothing stored twice.
TEST_F(MockClusterTest, StoreFailurePausesThenResumesFromTheFirstUnstoredMessage) {
  ASSERT_TRUE(store_
                  ->Write([](store::Connection& db) {
                    return db.Exec(
                        "CREATE TRIGGER refuse BEFORE INSERT ON alerts "
                        "WHEN (SELECT count(*) FROM alerts) >= 300 "
                        "BEGIN SELECT RAISE(ABORT, 'injected store failure'); END");
                  })
                  .ok());
  StartConsumer();
  Produce(0, 1000);
  const auto deadline = Clock::now() + 30s;
  while (consumer_->status().state != stream::StreamState::kPaused && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  const auto paused = consumer_->status();
  ASSERT_EQ(paused.state, stream::StreamState::kPaused);
  EXPECT_NE(paused.last_error.find("injected store failure"), std::string::npos)
      << paused.last_error;
  EXPECT_LE(Query("SELECT count(*) FROM alerts"), 300);
  // Offsets never run ahead of what is stored.
  EXPECT_EQ(Query("SELECT next_offset FROM partition_offsets"),
            Query("SELECT max(\"offset\") + 1 FROM alerts"));

  ASSERT_TRUE(store_->Write([](store::Connection& db) { return db.Exec("DROP TRIGGER refuse"); })
                  .ok());
  ASSERT_TRUE(WaitStored(1000));
  consumer_->Stop(10s);
  ExpectExactlyOnce(1000);
  EXPECT_EQ(consumer_->status().stored, 1000);
}

}  // namespace
}  // namespace tomstream
