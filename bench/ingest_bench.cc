// Ingest benchmark: how fast tomstreamd stores a backlog, compared in the same run with a raw
// librdkafka consumer reading the same messages and doing nothing else.
//
//   (a) raw librdkafka consumer (batch API), no storage
//   (b) tomstreamd, raw handler: payload + headers into SQLite, synchronous=FULL
//   (c) tomstreamd, hermes handler: also targets and photometry rows
//
// Rates are measured from the first message seen (or stored) to the last, so process start-up
// and the consumer group join are not counted. tomstreamd's peak RSS is its VmHWM.
//
// Needs a broker: $TOMSTREAM_KAFKA_ENV names a broker.env written by tests/kafka/broker.sh
// (bench/run-ingest.sh starts one). Usage: ingest_bench [--messages N]
#include <signal.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "kafka_env.h"
#include "subprocess.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using tomstream::test::KafkaEnv;
using tomstream::test::KafkaListener;

// A Hermes message of about 500 bytes; %s is replaced by a unique sequence number.
std::string MakePayload(long seq) {
  char buf[640];
  std::snprintf(buf, sizeof buf,
                R"({"title":"Photometry of SN 2026bench%ld","topic":"hermes.bench","submitter":"bench",)"
                R"("authors":"A. Observer","message_text":"","data":{"targets":[{"name":"SN 2026bench%ld",)"
                R"("ra":"150.1234","dec":"-20.5678","aliases":["ZTF26bench%ld"]}],"photometry":[{)"
                R"("target_name":"SN 2026bench%ld","date_obs":"2026-05-01T03:04:05+00:00",)"
                R"("telescope":"1m0a.doma.elp.lco","instrument":"fa16","bandpass":"g","brightness":18.52,)"
                R"("brightness_error":0.05,"brightness_unit":"AB mag"}]}})",
                seq, seq, seq, seq);
  return buf;
}

void Produce(const KafkaEnv& env, const std::string& topic, long n) {
  auto conf = tomstream::test::make_kafka_conf(
      env, KafkaListener::kPlaintext,
      {.extra = {{"linger.ms", "20"}, {"batch.size", "1000000"},
                 {"queue.buffering.max.messages", "200000"}, {"enable.idempotence", "false"},
                 {"acks", "1"}}});
  auto producer = tomstream::test::make_producer(std::move(conf));
  tomstream::test::create_topic(producer.get(), topic, 1);
  std::mt19937_64 rng(42);
  for (long i = 0; i < n; ++i) {
    const std::string payload = MakePayload(i);
    uint64_t id[2] = {rng(), rng()};
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADER("_format", "json", 4),
          RD_KAFKA_V_HEADER("_id", id, 16), RD_KAFKA_V_HEADER("_sender", "bench", 5),
          RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(producer.get(), 10);
        continue;
      }
      if (err) throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
      break;
    }
  }
  if (rd_kafka_flush(producer.get(), 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("flush timed out");
  }
}

struct Rate {
  double msg_per_s = 0;
  double seconds = 0;
  long peak_rss_kb = 0;
};

Rate RawConsumer(const KafkaEnv& env, const std::string& topic, long n) {
  auto conf = tomstream::test::make_kafka_conf(
      env, KafkaListener::kPlaintext,
      {.extra = {{"group.id", topic + "-raw"}, {"auto.offset.reset", "earliest"},
                 {"enable.auto.commit", "false"}}});
  auto consumer = tomstream::test::make_consumer(std::move(conf));
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(consumer.get(), list);
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_queue_t* q = rd_kafka_queue_get_consumer(consumer.get());
  std::vector<rd_kafka_message_t*> buf(1000);
  long seen = 0;
  Clock::time_point t0;
  const auto deadline = Clock::now() + 300s;
  while (seen < n && Clock::now() < deadline) {
    const ssize_t got = rd_kafka_consume_batch_queue(q, 100, buf.data(), buf.size());
    for (ssize_t i = 0; i < got; ++i) {
      if (buf[static_cast<size_t>(i)]->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (seen == 0) t0 = Clock::now();
        ++seen;
      }
      rd_kafka_message_destroy(buf[static_cast<size_t>(i)]);
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  rd_kafka_queue_destroy(q);
  rd_kafka_consumer_close(consumer.get());
  if (seen < n) throw std::runtime_error("raw consumer saw only " + std::to_string(seen));
  return {static_cast<double>(n - 1) / secs, secs, 0};
}

long VmHwmKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

long StoredCount(sqlite3* db) {
  sqlite3_stmt* st = nullptr;
  long v = 0;
  if (sqlite3_prepare_v2(db, "SELECT coalesce(sum(stored), 0) FROM stream_counters", -1, &st,
                         nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    v = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  return v;
}

Rate Daemon(const KafkaEnv& env, const std::string& topic, long n, const std::string& handler,
            const std::string& workdir) {
  const std::string dir = workdir + "/" + handler;
  std::filesystem::create_directories(dir);
  const std::string db = dir + "/tomstream.db";
  tomstream::testing::WriteFile(
      dir + "/tomstreamd.toml",
      "[daemon]\nlog_level = \"warn\"\n[store]\npath = \"" + db + "\"\n[control]\nsocket = \"" +
          dir + "/control.sock\"\n[[stream]]\nname = \"bench\"\nurl = \"kafka://" + env.plaintext +
          "/\"\ngroup_id = \"" + topic + "-" + handler + "\"\nstart = \"earliest\"\n"
          "topic_refresh_ms = 500\n[[stream.route]]\ntopic = \"" + topic + "\"\nhandler = \"" +
          handler + "\"\n");
  tomstream::testing::Subprocess daemon({TOMSTREAMD_BIN, "--config", dir + "/tomstreamd.toml"},
                                        dir);
  sqlite3* conn = nullptr;
  const auto deadline = Clock::now() + 600s;
  while (conn == nullptr && Clock::now() < deadline) {
    if (std::filesystem::exists(db) &&
        sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(conn);
      conn = nullptr;
    }
    std::this_thread::sleep_for(20ms);
  }
  sqlite3_busy_timeout(conn, 1000);
  long first = 0;
  Clock::time_point t0;
  long stored = 0;
  while (stored < n && Clock::now() < deadline && daemon.Running()) {
    stored = StoredCount(conn);
    if (first == 0 && stored > 0) {
      first = stored;
      t0 = Clock::now();
    }
    std::this_thread::sleep_for(20ms);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const long rss = VmHwmKb(daemon.pid());
  sqlite3_close(conn);
  daemon.Signal(SIGTERM);
  daemon.Wait(30s);
  if (stored < n) {
    throw std::runtime_error("tomstreamd (" + handler + ") stored only " + std::to_string(stored) +
                             " of " + std::to_string(n) + "; log:\n" + daemon.Stderr());
  }
  return {static_cast<double>(n - first) / secs, secs, rss};
}

}  // namespace

int main(int argc, char** argv) {
  long n = 1000000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--messages") == 0) n = std::stol(argv[i + 1]);
  }
  try {
    const KafkaEnv env = KafkaEnv::from_environment();
    const std::string topic = tomstream::test::unique_topic("bench-ingest");
    const std::string workdir = tomstream::testing::MakeTempDir("tomstream-bench");
    std::printf("ingest benchmark: %ld hop-format Hermes JSON messages of ~%zu bytes, topic %s\n",
                n, MakePayload(123456).size(), topic.c_str());
    auto t = Clock::now();
    Produce(env, topic, n);
    std::printf("produced in %.1f s\n", std::chrono::duration<double>(Clock::now() - t).count());
    std::fflush(stdout);

    const Rate a = RawConsumer(env, topic, n);
    std::printf("(a) raw librdkafka consumer      %10.0f msg/s  (%.2f s)\n", a.msg_per_s, a.seconds);
    std::fflush(stdout);
    const Rate b = Daemon(env, topic, n, "raw", workdir);
    std::printf("(b) tomstreamd, raw handler      %10.0f msg/s  (%.2f s)  peak RSS %.1f MB\n",
                b.msg_per_s, b.seconds, b.peak_rss_kb / 1024.0);
    std::fflush(stdout);
    const Rate c = Daemon(env, topic, n, "hermes", workdir);
    std::printf("(c) tomstreamd, hermes handler   %10.0f msg/s  (%.2f s)  peak RSS %.1f MB\n",
                c.msg_per_s, c.seconds, c.peak_rss_kb / 1024.0);
    std::printf("\nb/a = %.2f   c/a = %.2f\n", b.msg_per_s / a.msg_per_s, c.msg_per_s / a.msg_per_s);
    std::printf("targets: (b) >= 100000 msg/s: %s; b/a >= 0.3: %s; peak RSS <= 64 MB: %s\n",
                b.msg_per_s >= 100000 ? "met" : "MISSED",
                b.msg_per_s / a.msg_per_s >= 0.3 ? "met" : "MISSED",
                std::max(b.peak_rss_kb, c.peak_rss_kb) <= 64 * 1024 ? "met" : "MISSED");
    std::filesystem::remove_all(workdir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ingest_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
