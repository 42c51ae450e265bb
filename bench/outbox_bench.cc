// Outbox benchmark: how fast tomstreamd accepts photometry for publishing and delivers it to a
// Kafka destination, against one tomstreamd started as a subprocess (a PLAINTEXT [[stream]] on
// the private broker without routes, a kind = "kafka" [[destination]] using it, max_in_flight
// 1000, log_level warn).
//
//   (a) EnqueuePhotometry through gRPC on the control socket: one message per call from one
//       client thread and from 16 concurrent client threads (calls/s), and 1,000 messages per
//       call (rows/s). Every message has a target of its own (the content hash would otherwise
//       make repeats duplicates). Delivery runs meanwhile, as in normal operation; each part
//       starts once everything enqueued before it has been delivered.
//   (c) latency at a steady 1,000 msg/s for 10 s, paced single-message calls from 8 client
//       threads: enqueue->ack is the call's duration; enqueue->delivered runs from the call's
//       start until a test consumer, assigned to the topic at its end before the run, receives
//       the message carrying that _id header.
//   (b) delivery rate of a backlog of N entries: from the first to the last entry seen as
//       delivered by polling the store read-only every 20 ms (SELECT count(*) FROM outbox
//       WHERE state = 3, restricted to the backlog's ids); compared in the same run with a raw
//       librdkafka producer (idempotent, acks = all) sending the same bodies and headers to
//       another topic, timed from its first delivery report to its last.
//   (d) restart on a backlog of 1,000,000 pending entries: time from spawn to READY=1 on
//       NOTIFY_SOCKET, and peak RSS (VmHWM) while the daemon works through it for 15 s.
//
// (c) runs before (b) so that it sees an empty outbox. For (b) and (d) the backlog is put into
// the store with SQL while the daemon is stopped (see InsertBacklog() for why).
//
// Needs a broker: $TOMSTREAM_KAFKA_ENV names a broker.env written by tests/kafka/broker.sh
// (bench/run-outbox.sh starts one). Usage: outbox_bench [--messages N] [--backlog M]
#include <grpcpp/grpcpp.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kafka_env.h"
#include "notify_listener.h"
#include "subprocess.h"
#include "tomstream/v1/control.grpc.pb.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using tomstream::test::KafkaEnv;
using tomstream::test::KafkaListener;
namespace pb = tomstream::v1;

constexpr const char* kDestination = "bench";

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// ------------------------------------------------------------------------------------ messages

// A target name unique per phase letter and sequence number; the 9-character token ("A00000042")
// occurs only in the names, so a rendered body can be turned into another message's body by
// replacing it (InsertBacklog()).
std::string Token(char phase, long seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%c%08ld", phase, seq);
  return buf;
}

// A realistic photometry message: one target, one photometry row; the body the daemon renders
// from it is about 500 bytes.
pb::PhotometryMessage MakeMessage(const std::string& topic, const std::string& token) {
  const std::string name = "AT 2026" + token;
  pb::PhotometryMessage m;
  m.set_destination(kDestination);
  m.set_topic(topic);
  m.set_title("Photometry of " + name);
  m.set_submitter("bench");
  m.set_authors("A. Observer, B. Observer");
  m.set_message_text("g-band photometry from the outbox benchmark");
  pb::Target* t = m.add_targets();
  t->set_name(name);
  t->set_ra("150.1234");
  t->set_dec("-20.5678");
  t->add_aliases("ZTF26" + token);
  pb::Photometry* p = m.add_photometry();
  p->set_target_name(name);
  p->set_date_obs_iso("2026-05-01T03:04:05+00:00");
  p->set_telescope("1m0a.doma.elp.lco");
  p->set_instrument("fa16");
  p->set_bandpass("g");
  p->set_brightness(18.52);
  p->set_brightness_error(0.05);
  p->set_brightness_unit("AB mag");
  return m;
}

// "0190a1b2-c3d4-..." as its 16 bytes.
std::string UuidBytes(const std::string& text) {
  std::string hex;
  for (char c : text) {
    if (c != '-') hex += c;
  }
  if (hex.size() != 32) throw std::runtime_error("not a uuid: " + text);
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

// ------------------------------------------------------------------------------------- daemon

// tomstreamd as a subprocess, READY=1 awaited on a NOTIFY_SOCKET of ours.
class Daemon {
 public:
  Daemon(const std::string& dir, const std::string& config)
      : notify_(dir + "/notify.sock"),
        spawned_(Clock::now()),
        process_({TOMSTREAMD_BIN, "--config", config}, dir,
                 {{"NOTIFY_SOCKET", notify_.path()}}) {}
  ~Daemon() {
    if (!stopped_) Terminate();
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Seconds from spawn to READY=1.
  double WaitReady(std::chrono::milliseconds limit) {
    if (!notify_.WaitFor("READY=1", limit)) {
      throw std::runtime_error("tomstreamd sent no READY=1 within " +
                               std::to_string(limit.count()) + " ms; log:\n" + process_.Stderr());
    }
    return Seconds(Clock::now() - spawned_);
  }

  long VmHwmKb() const {
    std::ifstream in("/proc/" + std::to_string(process_.pid()) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
  }

  bool Running() { return process_.Running(); }
  std::string Stderr() const { return process_.Stderr(); }

  // SIGTERM and wait (bounded); throws unless it exits with status 0.
  void Stop() {
    const std::optional<int> status = Terminate();
    if (status != 0) {
      throw std::runtime_error("tomstreamd did not exit cleanly (" +
                               (status ? "status " + std::to_string(*status) : "timeout") +
                               "); log:\n" + process_.Stderr());
    }
  }

 private:
  tomstream::testing::NotifyListener notify_;
  Clock::time_point spawned_;
  tomstream::testing::Subprocess process_;
  bool stopped_ = false;

  std::optional<int> Terminate() {
    stopped_ = true;
    process_.Signal(SIGTERM);
    return process_.Wait(30s);
  }
};

std::unique_ptr<pb::Control::Stub> Connect(const std::string& socket) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  auto channel =
      grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + 10s)) {
    throw std::runtime_error("cannot connect to " + socket);
  }
  return pb::Control::NewStub(channel);
}

// One EnqueuePhotometry call; throws on an error or a duplicate. The uuids (text form).
std::vector<std::string> Enqueue(pb::Control::Stub& stub, const pb::EnqueuePhotometryRequest& req) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 30s);
  pb::EnqueuePhotometryResponse resp;
  const grpc::Status st = stub.EnqueuePhotometry(&ctx, req, &resp);
  if (!st.ok()) throw std::runtime_error("EnqueuePhotometry: " + st.error_message());
  std::vector<std::string> uuids;
  for (const pb::EnqueueResult& r : resp.results()) {
    if (r.duplicate()) throw std::runtime_error("EnqueuePhotometry returned a duplicate");
    uuids.push_back(r.uuid());
  }
  return uuids;
}

// ------------------------------------------------------------------------------------- store

// A read-only connection to the daemon's store.
class StoreReader {
 public:
  explicit StoreReader(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + path + ": " + sqlite3_errmsg(db_));
    }
    sqlite3_busy_timeout(db_, 1000);
  }
  ~StoreReader() { sqlite3_close(db_); }
  StoreReader(const StoreReader&) = delete;
  StoreReader& operator=(const StoreReader&) = delete;

  // The integer the query `sql` returns.
  long Scalar(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    long v = -1;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (v < 0) throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    return v;
  }
  // Delivered entries with ids above `after_id` (the index on (state, id) keeps this cheap).
  long Delivered(long after_id) {
    return Scalar("SELECT count(*) FROM outbox WHERE state = 3 AND id > " +
                  std::to_string(after_id));
  }
  long Undelivered() { return Scalar("SELECT count(*) FROM outbox WHERE state IN (1, 2)"); }
  long MaxId() { return Scalar("SELECT coalesce(max(id), 0) FROM outbox"); }

  // The body of the entry with this uuid (text form).
  std::string Body(const std::string& uuid) {
    sqlite3_stmt* st = nullptr;
    std::string body;
    const std::string id = UuidBytes(uuid);
    if (sqlite3_prepare_v2(db_, "SELECT body FROM outbox WHERE uuid = ?", -1, &st, nullptr) ==
            SQLITE_OK &&
        sqlite3_bind_blob(st, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      body = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (body.empty()) throw std::runtime_error("no outbox entry " + uuid);
    return body;
  }

 private:
  sqlite3* db_ = nullptr;
};

// Waits (bounded) until nothing is pending or being sent.
void WaitDrained(StoreReader& store, Daemon& daemon, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (store.Undelivered() > 0) {
    if (Clock::now() > deadline || !daemon.Running()) {
      throw std::runtime_error("outbox not drained within " + std::to_string(limit.count()) +
                               " s; log:\n" + daemon.Stderr());
    }
    std::this_thread::sleep_for(20ms);
  }
}

struct BacklogRow {
  std::string uuid;  // 16 bytes
  std::string title;
  std::string body;
};

std::string Sha256(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("EVP_Digest failed");
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

// Puts `n` pending entries into the store of a STOPPED daemon, as Enqueue() would have stored
// them: the body is the daemon's own rendering of a message enqueued earlier (`template_body`,
// whose token is `template_token`) with another target name, the dedupe key its content hash,
// the uuid version-7-like (time then a counter, so distinct and increasing), due now.
//
// Why SQL rather than enqueueing through gRPC, or pointing the destination at a topic that does
// not exist yet: a delivery rate (b) and a start-up on a backlog (d) need the backlog to exist
// before the publisher starts. Enqueued through a running daemon, delivery would start at once,
// race the enqueue (capping the rate at the enqueue rate) and shrink the backlog; and the daemon
// has no switch to pause a destination. A topic that does not exist does not stop delivery
// either: the private broker creates topics on first use (auto.create.topics.enable), and if it
// did not, the daemon would hold 1,000 messages waiting for metadata and deliver nothing, so
// (d) would measure an idle daemon instead of one working through its backlog. With SQL the
// rows are what Enqueue() writes and the daemon really sends them.
std::vector<BacklogRow> InsertBacklog(const std::string& path, const std::string& topic,
                                      const std::string& template_body,
                                      const std::string& template_token, char phase, long n,
                                      bool keep) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    throw std::runtime_error("cannot open " + path + " for writing");
  }
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> guard(db, &sqlite3_close);
  auto exec = [&](const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string(sql) + ": " + sqlite3_errmsg(db));
    }
  };
  // Set-up only: durability of the load itself does not matter, the checkpoint below does.
  exec("PRAGMA synchronous=OFF");
  exec("PRAGMA cache_size=-262144");
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO outbox(uuid, destination, topic, title, idempotency_key, "
                         "dedupe_key, dedupe_id, body, state, attempts, next_attempt_at, "
                         "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, '', ?5, ?8, ?6, 1, 0, "
                         "?7, ?7, ?7)",
                         -1, &st, nullptr) != SQLITE_OK) {
    throw std::runtime_error(std::string("prepare insert: ") + sqlite3_errmsg(db));
  }
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(st, &sqlite3_finalize);
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  std::mt19937_64 rng(std::random_device{}());
  std::vector<BacklogRow> kept;
  if (keep) kept.reserve(static_cast<size_t>(n));
  exec("BEGIN");
  for (long i = 0; i < n; ++i) {
    const std::string token = Token(phase, i);
    std::string body = template_body;
    for (size_t at = body.find(template_token); at != std::string::npos;
         at = body.find(template_token, at + token.size())) {
      body.replace(at, template_token.size(), token);
    }
    const std::string title = "Photometry of AT 2026" + token;
    std::string uuid(16, '\0');
    const uint64_t seq = (static_cast<uint64_t>(phase) << 40) | static_cast<uint64_t>(i);
    const uint64_t rand = rng();
    for (int b = 0; b < 6; ++b) uuid[b] = static_cast<char>(now_ms >> (40 - 8 * b));
    uuid[6] = static_cast<char>(0x70 | (rand & 0x0f));  // version 7
    uuid[7] = static_cast<char>(rand >> 8);
    uuid[8] = static_cast<char>(0x80 | ((seq >> 56) & 0x3f));  // variant 10
    for (int b = 9; b < 16; ++b) uuid[b] = static_cast<char>(seq >> (8 * (15 - b)));
    const std::string dedupe = Sha256(std::string("body\0", 5) + body);

    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, uuid.data(), 16, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kDestination, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, topic.data(), static_cast<int>(topic.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 4, title.data(), static_cast<int>(title.size()), SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, dedupe.data(), static_cast<int>(dedupe.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 6, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, now_ms);
    // dedupe_id: the key's first 8 bytes, little-endian (store/sqlite.h MessageIdKey).
    uint64_t dedupe_id = 0;
    for (int b = 0; b < 8; ++b) {
      dedupe_id |= uint64_t{static_cast<unsigned char>(dedupe[static_cast<size_t>(b)])} << (8 * b);
    }
    sqlite3_bind_int64(st, 8, static_cast<int64_t>(dedupe_id));
    if (sqlite3_step(st) != SQLITE_DONE) {
      throw std::runtime_error(std::string("insert: ") + sqlite3_errmsg(db));
    }
    if ((i + 1) % 50000 == 0) {
      exec("COMMIT");
      exec("BEGIN");
    }
    if (keep) kept.push_back({uuid, title, std::move(body)});
  }
  exec("COMMIT");
  exec("PRAGMA wal_checkpoint(TRUNCATE)");
  return kept;
}

// ----------------------------------------------------------------------------------- (a)

struct EnqueueRun {
  long calls = 0;
  long rows = 0;
  double seconds = 0;
};

// `calls` EnqueuePhotometry calls of `per_call` messages each, from `threads` client threads
// sharing one channel, stopped after `limit`. Message tokens are `phase` + a running number.
// With `validate_only` the daemon validates and renders but stores nothing: the same call
// without the commit, the floor the committed figures are compared with.
EnqueueRun EnqueueRate(pb::Control::Stub& stub, const std::string& topic, char phase,
                       int threads, long calls, int per_call, std::chrono::seconds limit,
                       bool validate_only = false) {
  // Requests are built beforehand so that the clock sees the calls only.
  std::vector<pb::EnqueuePhotometryRequest> requests(static_cast<size_t>(calls));
  for (long c = 0; c < calls; ++c) {
    for (int m = 0; m < per_call; ++m) {
      *requests[static_cast<size_t>(c)].add_messages() =
          MakeMessage(topic, Token(phase, c * per_call + m));
    }
    requests[static_cast<size_t>(c)].set_validate_only(validate_only);
  }
  std::atomic<long> next{0};
  std::atomic<long> done{0};
  std::atomic<bool> failed{false};
  std::string error;
  std::mutex error_mu;
  const auto t0 = Clock::now();
  const auto deadline = t0 + limit;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (long c = next++; c < calls && !failed && Clock::now() < deadline; c = next++) {
        try {
          Enqueue(stub, requests[static_cast<size_t>(c)]);
          ++done;
        } catch (const std::exception& e) {
          std::lock_guard lock(error_mu);
          error = e.what();
          failed = true;
        }
      }
    });
  }
  for (std::thread& t : pool) t.join();
  const double secs = Seconds(Clock::now() - t0);
  if (failed) throw std::runtime_error(error);
  return {done.load(), done.load() * per_call, secs};
}

// ----------------------------------------------------------------------------------- (c)

struct Latency {
  double ack_p50 = 0, ack_p99 = 0, delivered_p50 = 0, delivered_p99 = 0;  // ms
  long sent = 0, received = 0;
  double rate = 0;  // calls/s achieved
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

// Single-message calls at `rate`/s for `duration`, from `threads` client threads (call i is due
// at t0 + i / rate and made by thread i % threads), while a consumer reads the topic.
Latency MeasureLatency(const KafkaEnv& env, pb::Control::Stub& stub, const std::string& topic,
                       int rate, std::chrono::seconds duration, int threads) {
  // The test consumer: assigned to the topic's end before the run starts.
  auto consumer = tomstream::test::make_consumer(tomstream::test::make_kafka_conf(
      env, KafkaListener::kPlaintext,
      {.extra = {{"group.id", topic + "-latency"}, {"enable.auto.commit", "false"},
                 {"fetch.wait.max.ms", "100"}}}));
  int64_t low = 0, high = 0;
  if (rd_kafka_query_watermark_offsets(consumer.get(), topic.c_str(), 0, &low, &high, 10000) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("cannot read the watermarks of " + topic);
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), 0)->offset = high;
  rd_kafka_assign(consumer.get(), list);
  rd_kafka_topic_partition_list_destroy(list);

  const long total = rate * duration.count();
  std::unordered_map<std::string, Clock::time_point> received;  // _id -> receipt; reader only
  std::atomic<long> received_count{0};
  std::atomic<bool> stop_reader{false};
  std::thread reader([&] {
    while (!stop_reader && received_count < total) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 50);
      if (m == nullptr) continue;
      const auto now = Clock::now();
      rd_kafka_headers_t* hdrs = nullptr;
      const void* id = nullptr;
      size_t size = 0;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
          rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          rd_kafka_header_get_last(hdrs, "_id", &id, &size) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        received.emplace(std::string(static_cast<const char*>(id), size), now);
        received_count = static_cast<long>(received.size());
      }
      rd_kafka_message_destroy(m);
    }
  });
  std::this_thread::sleep_for(1s);  // let the consumer connect and start fetching

  struct Call {
    Clock::time_point start, end;
    std::string id;  // 16 bytes
  };
  std::vector<std::vector<Call>> calls(static_cast<size_t>(threads));
  std::atomic<bool> failed{false};
  std::string error;
  std::mutex error_mu;
  const auto t0 = Clock::now() + 100ms;
  const auto interval = std::chrono::nanoseconds(1000000000L / rate);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (long i = t; i < total && !failed; i += threads) {
        std::this_thread::sleep_until(t0 + i * interval);
        if (Clock::now() > t0 + duration + 20s) break;  // far behind: give up (bounded)
        pb::EnqueuePhotometryRequest req;
        *req.add_messages() = MakeMessage(topic, Token('C', i));
        Call c;
        try {
          c.start = Clock::now();
          const std::vector<std::string> ids = Enqueue(stub, req);
          c.end = Clock::now();
          c.id = UuidBytes(ids.at(0));
        } catch (const std::exception& e) {
          std::lock_guard lock(error_mu);
          error = e.what();
          failed = true;
          break;
        }
        calls[static_cast<size_t>(t)].push_back(std::move(c));
      }
    });
  }
  for (std::thread& t : pool) t.join();
  const double secs = Seconds(Clock::now() - t0);
  // Late deliveries get up to 10 s more.
  long made = 0;
  for (const auto& v : calls) made += static_cast<long>(v.size());
  const auto wait_until = Clock::now() + 10s;
  while (received_count < made && Clock::now() < wait_until) std::this_thread::sleep_for(20ms);
  stop_reader = true;
  reader.join();
  rd_kafka_consumer_close(consumer.get());
  if (failed) throw std::runtime_error(error);

  Latency out;
  std::vector<double> ack, delivered;
  for (const auto& v : calls) {
    for (const Call& c : v) {
      ack.push_back(Millis(c.end - c.start));
      if (auto it = received.find(c.id); it != received.end()) {
        delivered.push_back(Millis(it->second - c.start));
      }
    }
  }
  out.sent = static_cast<long>(ack.size());
  out.received = static_cast<long>(delivered.size());
  out.rate = static_cast<double>(out.sent) / secs;
  out.ack_p50 = Percentile(ack, 0.50);
  out.ack_p99 = Percentile(ack, 0.99);
  // A message never received counts as infinitely late, so a loss cannot improve the p99.
  delivered.resize(ack.size(), INFINITY);
  out.delivered_p50 = Percentile(delivered, 0.50);
  out.delivered_p99 = Percentile(delivered, 0.99);
  return out;
}

// ----------------------------------------------------------------------------------- (b)

struct Rate {
  double msg_per_s = 0;
  double seconds = 0;
};

// The daemon (just started on a backlog of the `n` rows with ids above `after_id`) delivering
// them: their count in state delivered, read every 20 ms, from the first increase to n.
Rate MeasureDelivery(StoreReader& store, Daemon& daemon, long after_id, long n,
                     std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  long first = -1, delivered = 0;
  Clock::time_point t0;
  while (delivered < n && Clock::now() < deadline && daemon.Running()) {
    delivered = store.Delivered(after_id);
    if (first < 0 && delivered > 0) {
      first = delivered;
      t0 = Clock::now();
    }
    if (delivered < n) std::this_thread::sleep_for(20ms);
  }
  if (delivered < n) {
    throw std::runtime_error("delivered only " + std::to_string(delivered) + " of " +
                             std::to_string(n) + "; log:\n" + daemon.Stderr());
  }
  const double secs = Seconds(Clock::now() - t0);
  return {static_cast<double>(n - first) / secs, secs};
}

struct RawReports {
  long ok = 0, failed = 0;
  Clock::time_point first, last;
};

void OnRawDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* r = static_cast<RawReports*>(opaque);
  const auto now = Clock::now();
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++r->failed;
    return;
  }
  if (r->ok++ == 0) r->first = now;
  r->last = now;
}

// A plain librdkafka producer sending `rows` with the daemon's headers and its producer settings
// (daemon/kafka/client_config.cc: idempotent, acks = all, linger 5 ms, the same queue bounds),
// timed like the daemon: from the first delivery report to the last.
Rate RawProducer(const KafkaEnv& env, const std::string& topic,
                 const std::vector<BacklogRow>& rows) {
  RawReports reports;
  auto conf = tomstream::test::make_kafka_conf(
      env, KafkaListener::kPlaintext,
      {.extra = {{"enable.idempotence", "true"}, {"acks", "all"}, {"linger.ms", "5"},
                 {"queue.buffering.max.kbytes", "16384"},
                 {"queue.buffering.max.messages", "20000"}}});
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &OnRawDelivery);
  rd_kafka_conf_set_opaque(conf.get(), &reports);
  auto producer = tomstream::test::make_producer(std::move(conf));
  tomstream::test::create_topic(producer.get(), topic, 1);
  // rd_kafka_produceva() rather than the producev() macros, which are full of C casts.
  auto header = [](const char* name, const std::string& value) {
    rd_kafka_vu_t vu{};
    vu.vtype = RD_KAFKA_VTYPE_HEADER;
    vu.u.header.name = name;
    vu.u.header.val = value.data();
    vu.u.header.size = static_cast<ssize_t>(value.size());
    return vu;
  };
  const std::string json = "json", sender = "tomstreamd";
  const auto deadline = Clock::now() + 300s;
  for (const BacklogRow& r : rows) {
    rd_kafka_vu_t vus[8] = {};
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[1].u.mem.ptr = const_cast<char*>(r.body.data());
    vus[1].u.mem.size = r.body.size();
    vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[2].u.i = RD_KAFKA_MSG_F_COPY;
    vus[3] = header("_id", r.uuid);
    vus[4] = header("_format", json);
    vus[5] = header("_sender", sender);
    vus[6] = header("title", r.title);
    vus[7] = header("topic", topic);
    for (;;) {
      tomstream::test::KafkaErrorPtr error(rd_kafka_produceva(producer.get(), vus, 8));
      const rd_kafka_resp_err_t err =
          error ? rd_kafka_error_code(error.get()) : RD_KAFKA_RESP_ERR_NO_ERROR;
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && Clock::now() < deadline) {
        rd_kafka_poll(producer.get(), 10);
        continue;
      }
      if (err) throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
      break;
    }
    rd_kafka_poll(producer.get(), 0);
  }
  if (rd_kafka_flush(producer.get(), 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("raw producer: flush timed out");
  }
  if (reports.ok != static_cast<long>(rows.size())) {
    throw std::runtime_error("raw producer: " + std::to_string(reports.failed) + " failed");
  }
  const double secs = Seconds(reports.last - reports.first);
  return {static_cast<double>(reports.ok - 1) / secs, secs};
}

// ----------------------------------------------------------------------------------- output

const char* Verdict(bool met) { return met ? "met" : "MISSED"; }

void Line(const std::string& figure, const std::string& measured, const char* target,
          const char* verdict) {
  std::printf("%-46s %-22s %-14s %s\n", figure.c_str(), measured.c_str(), target, verdict);
}

// `v` with `decimals` decimals.
std::string F(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  long n = 100000;         // (b)
  long backlog = 1000000;  // (d)
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--messages") == 0) n = std::stol(argv[i + 1]);
    if (std::strcmp(argv[i], "--backlog") == 0) backlog = std::stol(argv[i + 1]);
  }
  signal(SIGPIPE, SIG_IGN);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines appear as they are printed
  std::string workdir;
  try {
    const KafkaEnv env = KafkaEnv::from_environment();
    const std::string topic = tomstream::test::unique_topic("bench-outbox");
    workdir = tomstream::testing::MakeTempDir("tomstream-obench");
    const std::string db = workdir + "/tomstream.db";
    const std::string socket = workdir + "/control.sock";
    const std::string config = workdir + "/tomstreamd.toml";
    tomstream::testing::WriteFile(
        config, "[daemon]\nlog_level = \"warn\"\n[store]\npath = \"" + db +
                    "\"\n[control]\nsocket = \"" + socket +
                    "\"\n[[stream]]\nname = \"local\"\nurl = \"kafka://" + env.plaintext +
                    "/\"\n[[destination]]\nname = \"" + kDestination +
                    "\"\nkind = \"kafka\"\nstream = \"local\"\ntopics = [\"" + topic +
                    "\"]\nmax_in_flight = 1000\n");
    {
      auto admin = tomstream::test::make_producer(
          tomstream::test::make_kafka_conf(env, KafkaListener::kPlaintext));
      tomstream::test::create_topic(admin.get(), topic, 1);
    }
    std::printf("outbox benchmark: topic %s, store %s, %u CPUs\n", topic.c_str(), db.c_str(),
                std::thread::hardware_concurrency());

    // ------------------------------------------------------------------ first run: (a), (c)
    auto daemon = std::make_unique<Daemon>(workdir, config);
    daemon->WaitReady(20s);
    auto stub = Connect(socket);
    StoreReader reader(db);

    // Warm-up (connection, statement cache, producer connection); also the template body.
    const std::string template_token = Token('W', 0);
    const std::string template_uuid =
        Enqueue(*stub, [&] {
          pb::EnqueuePhotometryRequest r;
          *r.add_messages() = MakeMessage(topic, template_token);
          return r;
        }()).at(0);
    EnqueueRate(*stub, topic, 'X', 1, 200, 1, 30s);
    WaitDrained(reader, *daemon, 60s);
    const std::string template_body = reader.Body(template_uuid);
    std::printf("messages: one target, one photometry row; rendered body %zu bytes\n",
                template_body.size());

    const EnqueueRun floor_seq = EnqueueRate(*stub, topic, 'V', 1, 10000, 1, 30s, true);
    const EnqueueRun floor_conc = EnqueueRate(*stub, topic, 'V', 16, 20000, 1, 30s, true);
    std::printf("(a) validate_only: %ld sequential calls in %.2f s, %ld from 16 threads in %.2f s\n",
                floor_seq.calls, floor_seq.seconds, floor_conc.calls, floor_conc.seconds);
    const EnqueueRun seq = EnqueueRate(*stub, topic, 'S', 1, 10000, 1, 30s);
    std::printf("(a) sequential:   %ld calls in %.2f s\n", seq.calls, seq.seconds);
    WaitDrained(reader, *daemon, 120s);
    const EnqueueRun conc = EnqueueRate(*stub, topic, 'P', 16, 20000, 1, 30s);
    std::printf("(a) 16 threads:   %ld calls in %.2f s\n", conc.calls, conc.seconds);
    WaitDrained(reader, *daemon, 120s);
    const EnqueueRun batch = EnqueueRate(*stub, topic, 'B', 1, 100, 1000, 60s);
    std::printf("(a) batched:      %ld rows in %ld calls in %.2f s\n", batch.rows, batch.calls,
                batch.seconds);
    WaitDrained(reader, *daemon, 180s);

    const Latency lat = MeasureLatency(env, *stub, topic, 1000, 10s, 8);
    std::printf("(c) %ld calls at %.0f/s, %ld received by the consumer\n", lat.sent, lat.rate,
                lat.received);
    WaitDrained(reader, *daemon, 60s);
    const long rss_first_kb = daemon->VmHwmKb();
    stub.reset();
    daemon->Stop();
    daemon.reset();

    // ------------------------------------------------------------------ (b) delivery rate
    const long before_b = reader.MaxId();
    auto t = Clock::now();
    const std::vector<BacklogRow> rows =
        InsertBacklog(db, topic, template_body, template_token, 'N', n, /*keep=*/true);
    std::printf("(b) %ld pending entries inserted in %.1f s\n", n, Seconds(Clock::now() - t));
    daemon = std::make_unique<Daemon>(workdir, config);
    daemon->WaitReady(60s);
    const Rate delivery = MeasureDelivery(reader, *daemon, before_b, n, 300s);
    std::printf("(b) tomstreamd delivered %ld in %.2f s\n", n, delivery.seconds);
    daemon->Stop();
    daemon.reset();
    const Rate raw = RawProducer(env, tomstream::test::unique_topic("bench-outbox-raw"), rows);
    std::printf("(b) raw producer delivered %zu in %.2f s\n", rows.size(), raw.seconds);

    // ------------------------------------------------------------------ (d) restart on a backlog
    t = Clock::now();
    const long before_d = reader.MaxId();
    InsertBacklog(db, topic, template_body, template_token, 'D', backlog, /*keep=*/false);
    std::printf("(d) %ld pending entries inserted in %.1f s (store %.0f MB)\n", backlog,
                Seconds(Clock::now() - t), std::filesystem::file_size(db) / 1048576.0);
    daemon = std::make_unique<Daemon>(workdir, config);
    const double ready_s = daemon->WaitReady(60s);
    const auto work_until = Clock::now() + 15s;
    long hwm_kb = 0;
    while (Clock::now() < work_until && daemon->Running()) {
      hwm_kb = std::max(hwm_kb, daemon->VmHwmKb());
      std::this_thread::sleep_for(100ms);
    }
    if (!daemon->Running()) {
      throw std::runtime_error("tomstreamd exited; log:\n" + daemon->Stderr());
    }
    hwm_kb = std::max(hwm_kb, daemon->VmHwmKb());
    const long delivered_d = reader.Delivered(before_d);
    daemon->Stop();
    daemon.reset();
    std::printf("(d) READY after %.3f s; %ld of the backlog delivered in the 15 s after READY\n",
                ready_s, delivered_d);

    // ------------------------------------------------------------------ results
    const double seq_rate = seq.calls / seq.seconds;
    const double conc_rate = conc.calls / conc.seconds;
    const double batch_rate = batch.rows / batch.seconds;
    std::printf("\n%-46s %-22s %-14s %s\n", "figure", "measured", "target", "");
    Line("(a) enqueue 1 msg/call, sequential (1 thread)", F(seq_rate, 0) + " calls/s",
         ">= 5000", Verdict(seq_rate >= 5000));
    Line("(a) enqueue 1 msg/call, 16 threads", F(conc_rate, 0) + " calls/s", ">= 5000",
         Verdict(conc_rate >= 5000));
    Line("    same calls validate_only (no commit), 1 / 16", F(floor_seq.calls / floor_seq.seconds, 0) +
         " / " + F(floor_conc.calls / floor_conc.seconds, 0) + " calls/s", "(comparison)", "");
    Line("(a) enqueue 1000 msgs/call", F(batch_rate, 0) + " rows/s", ">= 50000",
         Verdict(batch_rate >= 50000));
    Line("(b) delivery of a " + std::to_string(n) + " backlog to the broker",
         F(delivery.msg_per_s, 0) + " msg/s", ">= 20000", Verdict(delivery.msg_per_s >= 20000));
    Line("    raw librdkafka producer, same messages", F(raw.msg_per_s, 0) + " msg/s",
         "(comparison)", "");
    Line("(c) enqueue->ack p50 / p99", F(lat.ack_p50, 2) + " / " + F(lat.ack_p99, 2) + " ms",
         "p99 <= 5 ms", Verdict(lat.ack_p99 <= 5));
    Line("(c) enqueue->delivered p50 / p99",
         F(lat.delivered_p50, 2) + " / " + F(lat.delivered_p99, 2) + " ms", "p99 <= 50 ms",
         Verdict(lat.delivered_p99 <= 50));
    Line("(d) start to READY=1, " + std::to_string(backlog) + " pending", F(ready_s, 3) + " s",
         "<= 2 s", Verdict(ready_s <= 2));
    Line("(d) peak RSS (VmHWM), 15 s on the backlog", F(hwm_kb / 1024.0, 1) + " MB",
         "<= 64 MB", Verdict(hwm_kb <= 64 * 1024));
    std::printf("\nsingle-message target (>= 5000 calls/s) met by: %s\n",
                seq_rate >= 5000 && conc_rate >= 5000 ? "sequential and 16 threads"
                : seq_rate >= 5000                    ? "sequential only"
                : conc_rate >= 5000                   ? "16 threads only"
                                                      : "neither");
    std::printf("(b) tomstreamd / raw producer = %.2f; (c) %.0f calls/s achieved, %ld of %ld "
                "received; (d) %.0f msg/s delivered while on the backlog; first run peak RSS "
                "%.1f MB\n",
                delivery.msg_per_s / raw.msg_per_s, lat.rate, lat.received, lat.sent,
                delivered_d / 15.0, rss_first_kb / 1024.0);
    std::filesystem::remove_all(workdir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "outbox_bench: %s\n", e.what());
    if (!workdir.empty()) std::filesystem::remove_all(workdir);
    return 1;
  }
  return 0;
}
