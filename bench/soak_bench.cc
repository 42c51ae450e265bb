// Soak: tomstreamd ingesting and publishing at once for a fixed time, its resources sampled.
//
// One tomstreamd (a subprocess, log_level warn) with a PLAINTEXT [[stream]] whose route sends
// topic IN to a handler (hermes by default) and a kind = "kafka" [[destination]] that writes
// topic OUT on the same broker. For --seconds:
//   - a producer paces hop-format Hermes messages into IN at --rate msg/s: the ingest
//     benchmark's message (~470 bytes, a target of its own, a random 16-byte _id);
//   - a gRPC client makes one-message EnqueuePhotometry calls at --publish-rate calls/s from 4
//     threads (each a new target, so none is a duplicate; the call durations are kept as the
//     enqueue -> ack latency under load); the outbox delivers them to OUT;
//   - every --sample-seconds the daemon's VmRSS, its open file descriptors (entries of
//     /proc/PID/fd), its CPU time, the sizes of the store's WAL and database files and the free
//     space of their file system are read from /proc and the file system, and the stored and
//     delivered counts from GetStatus.
// Then both loads stop, the daemon gets up to --drain-seconds to catch up (store every message
// the broker acknowledged, deliver every accepted enqueue), and it is stopped with SIGTERM.
//
// Writes one CSV line per sample (--csv) and a JSON summary (--json), and prints first / max /
// last of each resource. Whether they stayed bounded is judged by bench/report.py, which
// documents the rule. Everything is bounded: the loads stop after --seconds, the catch-up after
// --drain-seconds, every call has a deadline, and the run stops early (and says so) when the
// store's file system has less than --min-free-gb left.
//
// Needs a broker: $TOMSTREAM_KAFKA_ENV names a broker.env written by tests/kafka/broker.sh
// (bench/report.sh starts one). Usage:
//   soak_bench --rate N [--publish-rate N] [--seconds N] [--sample-seconds N] [--handler H]
//              [--drain-seconds N] [--min-free-gb N] [--csv FILE] [--json FILE]
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

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
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kafka_env.h"
#include "subprocess.h"
#include "tomstream/v1/control.grpc.pb.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using tomstream::test::KafkaEnv;
using tomstream::test::KafkaListener;
namespace pb = tomstream::v1;

constexpr const char* kDestination = "soak-out";

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Options {
  double rate = 0;            // ingest messages/s
  double publish_rate = 100;  // EnqueuePhotometry calls/s
  long seconds = 600;
  long sample_seconds = 5;
  long drain_seconds = 120;
  double min_free_gb = 8;
  std::string handler = "hermes";
  std::string csv;
  std::string json;
};

// ------------------------------------------------------------------------------------ messages

// The ingest benchmark's message (bench/ingest_bench.cc MakePayload): a Hermes message of about
// 470 bytes whose target name carries the sequence number.
std::string AlertPayload(long seq) {
  char buf[640];
  std::snprintf(buf, sizeof buf,
                R"({"title":"Photometry of SN 2026soak%ld","topic":"hermes.soak",)"
                R"("submitter":"soak","authors":"A. Observer","message_text":"",)"
                R"("data":{"targets":[{"name":"SN 2026soak%ld","ra":"150.1234","dec":"-20.5678",)"
                R"("aliases":["ZTF26soak%ld"]}],"photometry":[{"target_name":"SN 2026soak%ld",)"
                R"("date_obs":"2026-05-01T03:04:05+00:00","telescope":"1m0a.doma.elp.lco",)"
                R"("instrument":"fa16","bandpass":"g","brightness":18.52,"brightness_error":0.05,)"
                R"("brightness_unit":"AB mag"}]}})",
                seq, seq, seq, seq);
  return buf;
}

// Photometry to publish, as the outbox benchmark makes it: one target, one photometry row.
pb::PhotometryMessage PhotometryMessage(const std::string& topic, long seq) {
  const std::string name = "AT 2026pub" + std::to_string(seq);
  pb::PhotometryMessage m;
  m.set_destination(kDestination);
  m.set_topic(topic);
  m.set_title("Photometry of " + name);
  m.set_submitter("soak");
  m.set_authors("A. Observer, B. Observer");
  m.set_message_text("g-band photometry from the soak");
  pb::Target* t = m.add_targets();
  t->set_name(name);
  t->set_ra("150.1234");
  t->set_dec("-20.5678");
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

// ------------------------------------------------------------------------------------- loads

// The paced producer. Counters are read by the sampler while it runs.
class PacedProducer {
 public:
  PacedProducer(const KafkaEnv& env, std::string topic, double rate)
      : topic_(std::move(topic)), rate_(rate) {
    auto conf = tomstream::test::make_kafka_conf(
        env, KafkaListener::kPlaintext,
        {.extra = {{"linger.ms", "5"}, {"acks", "1"}, {"enable.idempotence", "false"},
                   {"queue.buffering.max.messages", "100000"}}});
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &PacedProducer::OnDelivery);
    rd_kafka_conf_set_opaque(conf.get(), this);
    producer_ = tomstream::test::make_producer(std::move(conf));
    tomstream::test::create_topic(producer_.get(), topic_, 1);
  }

  // Produces at the rate until Stop(); then flushes (bounded).
  void Run() {
    std::mt19937_64 rng(std::random_device{}());
    const auto t0 = Clock::now();
    long seq = 0;
    while (!stop_) {
      const long due = static_cast<long>(Seconds(Clock::now() - t0) * rate_);
      while (seq < due && !stop_) {
        const std::string payload = AlertPayload(seq);
        const uint64_t id[2] = {rng(), rng()};
        // rd_kafka_produceva() rather than the producev() macros, which are full of C casts.
        rd_kafka_vu_t vus[6] = {};
        vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
        vus[0].u.cstr = topic_.c_str();
        vus[1].vtype = RD_KAFKA_VTYPE_VALUE;
        vus[1].u.mem.ptr = const_cast<char*>(payload.data());
        vus[1].u.mem.size = payload.size();
        vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
        vus[2].u.i = RD_KAFKA_MSG_F_COPY;
        vus[3] = Header("_format", "json", 4);
        vus[4] = Header("_id", id, sizeof id);
        vus[5] = Header("_sender", "soak", 4);
        tomstream::test::KafkaErrorPtr error(rd_kafka_produceva(producer_.get(), vus, 6));
        const rd_kafka_resp_err_t err =
            error ? rd_kafka_error_code(error.get()) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          rd_kafka_poll(producer_.get(), 10);
          continue;
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) ++failed_;
        ++seq;
      }
      rd_kafka_poll(producer_.get(), 0);
      std::this_thread::sleep_for(2ms);
    }
    rd_kafka_flush(producer_.get(), 60000);
  }
  void Stop() { stop_ = true; }

  long acknowledged() const { return acknowledged_; }
  long failed() const { return failed_; }

 private:
  static rd_kafka_vu_t Header(const char* name, const void* value, size_t size) {
    rd_kafka_vu_t vu{};
    vu.vtype = RD_KAFKA_VTYPE_HEADER;
    vu.u.header.name = name;
    vu.u.header.val = value;
    vu.u.header.size = static_cast<ssize_t>(size);
    return vu;
  }
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
    auto* self = static_cast<PacedProducer*>(opaque);
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++self->acknowledged_;
    } else {
      ++self->failed_;
    }
  }

  const std::string topic_;
  const double rate_;
  tomstream::test::KafkaPtr producer_;
  std::atomic<bool> stop_{false};
  std::atomic<long> acknowledged_{0};  // delivery reports without error
  std::atomic<long> failed_{0};        // produce calls or delivery reports with an error
};

// One-message EnqueuePhotometry calls at a steady rate: call i is due at t0 + i / rate and made
// by client thread i % kThreads, so that a call slowed by a busy store delays no other.
class PacedPublisher {
 public:
  static constexpr int kThreads = 4;

  PacedPublisher(pb::Control::Stub& stub, std::string topic, double rate)
      : stub_(stub), topic_(std::move(topic)), rate_(rate) {}

  // Runs the client threads until Stop().
  void Run() {
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < kThreads; ++t) pool.emplace_back([this, t0, t] { Calls(t0, t); });
    for (std::thread& th : pool) th.join();
  }
  void Stop() { stop_ = true; }

  long accepted() const { return accepted_; }
  long failed() const { return failed_; }
  std::string first_error() const {
    std::lock_guard lock(mu_);
    return first_error_;
  }
  // Call durations (enqueue -> ack) in ms; call after Run() returned.
  std::vector<double> latencies_ms() const {
    std::lock_guard lock(mu_);
    return latencies_ms_;
  }

 private:
  void Calls(Clock::time_point t0, int thread) {
    std::vector<double> mine;
    for (long i = thread; !stop_; i += kThreads) {
      const auto due = t0 + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(static_cast<double>(i) / rate_));
      while (!stop_ && Clock::now() < due) {
        std::this_thread::sleep_for(std::min<Clock::duration>(due - Clock::now(), 50ms));
      }
      if (stop_) break;
      pb::EnqueuePhotometryRequest req;
      *req.add_messages() = PhotometryMessage(topic_, i);
      pb::EnqueuePhotometryResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 10s);
      const auto start = Clock::now();
      const grpc::Status st = stub_.EnqueuePhotometry(&ctx, req, &resp);
      mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      if (st.ok() && resp.results_size() == 1 && !resp.results(0).duplicate()) {
        ++accepted_;
      } else {
        ++failed_;
        std::lock_guard lock(mu_);
        if (first_error_.empty()) {
          first_error_ = st.ok() ? "unexpected answer (duplicate?)" : st.error_message();
        }
      }
    }
    std::lock_guard lock(mu_);
    latencies_ms_.insert(latencies_ms_.end(), mine.begin(), mine.end());
  }

  pb::Control::Stub& stub_;
  const std::string topic_;
  const double rate_;
  std::atomic<bool> stop_{false};
  std::atomic<long> accepted_{0};
  std::atomic<long> failed_{0};
  mutable std::mutex mu_;
  std::string first_error_;           // guarded by mu_
  std::vector<double> latencies_ms_;  // guarded by mu_
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

// ------------------------------------------------------------------------------- measurements

long StatusKb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  const std::string prefix = std::string(field) + ":";
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size()));
  }
  return -1;
}

long OpenFds(pid_t pid) {
  std::error_code ec;
  long n = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end;
       !ec && it != end; it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n;
}

// User + system CPU time of the process, in seconds (/proc/PID/stat fields 14 and 15).
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = all.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(all.substr(paren + 2));  // field 3 onwards
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stol(f);
    if (i == 15) stime = std::stol(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long FileBytes(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<long>(size);
}

double FreeGb(const std::string& dir) {
  struct statvfs vfs {};
  if (statvfs(dir.c_str(), &vfs) != 0) return -1;
  return static_cast<double>(vfs.f_bavail) * static_cast<double>(vfs.f_frsize) / 1e9;
}

struct Counts {
  long stored = -1;     // messages the stream stored
  long delivered = -1;  // outbox entries delivered
};

Counts DaemonCounts(pb::Control::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  pb::GetStatusResponse resp;
  Counts c;
  if (stub.GetStatus(&ctx, pb::GetStatusRequest(), &resp).ok()) {
    c.stored = 0;
    for (const pb::StreamStatus& s : resp.streams()) c.stored += s.stored();
    c.delivered = resp.outbox().delivered();
  }
  return c;
}

struct Sample {
  double t = 0;
  long rss_kb = 0;
  long fds = 0;
  long wal_bytes = 0;
  long db_bytes = 0;
  double cpu_s = 0;
  long produced = 0;  // acknowledged by the broker
  long stored = 0;
  long enqueued = 0;  // accepted by the daemon
  long delivered = 0;
  double free_gb = 0;
};

std::string Json(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::runtime_error("missing value after " + flag);
    const std::string value = argv[++i];
    if (flag == "--rate") {
      o.rate = std::stod(value);
    } else if (flag == "--publish-rate") {
      o.publish_rate = std::stod(value);
    } else if (flag == "--seconds") {
      o.seconds = std::stol(value);
    } else if (flag == "--sample-seconds") {
      o.sample_seconds = std::stol(value);
    } else if (flag == "--drain-seconds") {
      o.drain_seconds = std::stol(value);
    } else if (flag == "--min-free-gb") {
      o.min_free_gb = std::stod(value);
    } else if (flag == "--handler") {
      o.handler = value;
    } else if (flag == "--csv") {
      o.csv = value;
    } else if (flag == "--json") {
      o.json = value;
    } else {
      throw std::runtime_error("unknown option " + flag);
    }
  }
  if (o.rate <= 0 || o.publish_rate <= 0 || o.seconds <= 0 || o.sample_seconds <= 0 ||
      o.drain_seconds < 0) {
    throw std::runtime_error(
        "usage: soak_bench --rate N [--publish-rate N] [--seconds N] [--sample-seconds N] "
        "[--handler H] [--drain-seconds N] [--min-free-gb N] [--csv FILE] [--json FILE]");
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string workdir;
  try {
    const Options opt = ParseOptions(argc, argv);
    const KafkaEnv env = KafkaEnv::from_environment();
    const std::string in_topic = tomstream::test::unique_topic("soak-in");
    const std::string out_topic = tomstream::test::unique_topic("soak-out");
    workdir = tomstream::testing::MakeTempDir("tomstream-soak");
    const std::string db = workdir + "/tomstream.db";
    const std::string socket = workdir + "/control.sock";
    tomstream::testing::WriteFile(
        workdir + "/tomstreamd.toml",
        "[daemon]\nlog_level = \"warn\"\n[store]\npath = \"" + db + "\"\n[control]\nsocket = \"" +
            socket + "\"\n[[stream]]\nname = \"soak\"\nurl = \"kafka://" + env.plaintext +
            "/\"\ngroup_id = \"" + in_topic + "\"\nstart = \"earliest\"\n"
            "[[stream.route]]\ntopic = \"" + in_topic + "\"\nhandler = \"" + opt.handler +
            "\"\n[[destination]]\nname = \"" + kDestination +
            "\"\nkind = \"kafka\"\nstream = \"soak\"\ntopics = [\"" + out_topic + "\"]\n");
    {
      auto admin = tomstream::test::make_producer(
          tomstream::test::make_kafka_conf(env, KafkaListener::kPlaintext));
      tomstream::test::create_topic(admin.get(), out_topic, 1);
    }
    std::printf("soak: %ld s, %.0f msg/s into %s (handler %s), %.0f EnqueuePhotometry calls/s "
                "to %s, a sample every %ld s; store %s\n",
                opt.seconds, opt.rate, in_topic.c_str(), opt.handler.c_str(), opt.publish_rate,
                out_topic.c_str(), opt.sample_seconds, db.c_str());

    // The input topic exists before the daemon starts, so that its route subscribes at once.
    PacedProducer producer(env, in_topic, opt.rate);

    // No NOTIFY_SOCKET: nothing would read the STATUS= datagrams of a ten-minute run.
    tomstream::testing::Subprocess daemon(
        {TOMSTREAMD_BIN, "--config", workdir + "/tomstreamd.toml"}, workdir,
        {{"NOTIFY_SOCKET", ""}});
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    auto channel =
        grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args);
    const auto ready_deadline = Clock::now() + 30s;
    while (!channel->WaitForConnected(std::chrono::system_clock::now() + 200ms)) {
      if (Clock::now() > ready_deadline || !daemon.Running()) {
        throw std::runtime_error("tomstreamd's control socket did not answer; log:\n" +
                                 daemon.Stderr());
      }
    }
    auto status_stub = pb::Control::NewStub(channel);
    auto publish_stub = pb::Control::NewStub(channel);
    const pid_t pid = daemon.pid();

    // The loads start once the route's partition is assigned: the samples show the steady
    // state, not the group join.
    const auto assign_deadline = Clock::now() + 30s;
    for (;;) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      pb::GetStatusResponse resp;
      const bool assigned = status_stub->GetStatus(&ctx, pb::GetStatusRequest(), &resp).ok() &&
                            resp.streams_size() > 0 && resp.streams(0).partitions_size() > 0;
      if (assigned) break;
      if (Clock::now() > assign_deadline || !daemon.Running()) {
        throw std::runtime_error("the stream got no partition of " + in_topic +
                                 " within 30 s; log:\n" + daemon.Stderr());
      }
      std::this_thread::sleep_for(100ms);
    }
    PacedPublisher publisher(*publish_stub, out_topic, opt.publish_rate);

    std::FILE* csv = opt.csv.empty() ? nullptr : std::fopen(opt.csv.c_str(), "w");
    if (!opt.csv.empty() && csv == nullptr) throw std::runtime_error("cannot write " + opt.csv);
    if (csv != nullptr) {
      std::fprintf(csv, "phase,t_s,rss_kb,fds,wal_bytes,db_bytes,cpu_s,produced,stored,"
                        "enqueued,delivered,free_gb\n");
    }
    std::vector<Sample> samples;
    const auto t0 = Clock::now();
    // `phase`: "load" while the loads run, "stopped" right after they stop, "drained" at the end.
    auto take_sample = [&](const char* phase) {
      Sample s;
      s.t = Seconds(Clock::now() - t0);
      s.rss_kb = StatusKb(pid, "VmRSS");
      s.fds = OpenFds(pid);
      s.wal_bytes = FileBytes(db + "-wal");
      s.db_bytes = FileBytes(db);
      s.cpu_s = CpuSeconds(pid);
      s.produced = producer.acknowledged();
      s.enqueued = publisher.accepted();
      const Counts c = DaemonCounts(*status_stub);
      s.stored = c.stored;
      s.delivered = c.delivered;
      s.free_gb = FreeGb(workdir);
      samples.push_back(s);
      if (csv != nullptr) {
        std::fprintf(csv, "%s,%.2f,%ld,%ld,%ld,%ld,%.2f,%ld,%ld,%ld,%ld,%.2f\n", phase, s.t,
                     s.rss_kb, s.fds, s.wal_bytes, s.db_bytes, s.cpu_s, s.produced, s.stored,
                     s.enqueued, s.delivered, s.free_gb);
        std::fflush(csv);
      }
      return s;
    };

    take_sample("load");
    std::thread producer_thread([&] { producer.Run(); });
    std::thread publisher_thread([&] { publisher.Run(); });
    const auto load_end = t0 + std::chrono::seconds(opt.seconds);
    std::string stopped_early;
    for (long i = 1; stopped_early.empty(); ++i) {
      const auto next = t0 + std::chrono::seconds(i * opt.sample_seconds);
      if (next > load_end) break;
      std::this_thread::sleep_until(next);
      if (!daemon.Running()) {
        stopped_early = "tomstreamd exited";
        break;
      }
      const Sample s = take_sample("load");
      if (s.free_gb >= 0 && s.free_gb < opt.min_free_gb) {
        stopped_early = "less than " + std::to_string(opt.min_free_gb) + " GB free on the store's "
                        "file system";
      }
      if (i % std::max(1L, 60 / opt.sample_seconds) == 0) {
        std::printf("  %4.0f s  RSS %6.1f MB  fds %3ld  WAL %6.1f MB  db %7.1f MB  produced %ld "
                    "stored %ld  enqueued %ld delivered %ld\n",
                    s.t, s.rss_kb / 1024.0, s.fds, s.wal_bytes / 1048576.0,
                    s.db_bytes / 1048576.0, s.produced, s.stored, s.enqueued, s.delivered);
      }
    }
    const double load_seconds = Seconds(Clock::now() - t0);
    publisher.Stop();
    producer.Stop();
    publisher_thread.join();
    producer_thread.join();
    const Sample at_stop = take_sample("stopped");
    const long produced = producer.acknowledged();
    const long enqueued = publisher.accepted();
    const std::vector<double> latencies = publisher.latencies_ms();
    const double ack_p50 = Percentile(latencies, 0.50);
    const double ack_p99 = Percentile(latencies, 0.99);
    const double ack_max = Percentile(latencies, 1.0);
    std::printf("loads stopped after %.0f s: %ld produced (%ld failed), %ld enqueued (%ld "
                "failed); lag then: %ld to store, %ld to deliver\n",
                load_seconds, produced, producer.failed(), enqueued, publisher.failed(),
                produced - at_stop.stored, enqueued - at_stop.delivered);
    std::printf("enqueue->ack under the load: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", ack_p50,
                ack_p99, ack_max);

    // Catch-up: bounded by --drain-seconds.
    const auto drain_start = Clock::now();
    const auto drain_deadline = drain_start + std::chrono::seconds(opt.drain_seconds);
    Counts last = DaemonCounts(*status_stub);
    while ((last.stored < produced || last.delivered < enqueued) &&
           Clock::now() < drain_deadline && daemon.Running()) {
      std::this_thread::sleep_for(200ms);
      last = DaemonCounts(*status_stub);
    }
    const bool caught_up = last.stored >= produced && last.delivered >= enqueued;
    const double drain_seconds = Seconds(Clock::now() - drain_start);
    const Sample final_sample = take_sample("drained");
    if (csv != nullptr) std::fclose(csv);

    status_stub.reset();
    publish_stub.reset();
    channel.reset();
    daemon.Signal(SIGTERM);
    const std::optional<int> exit_status = daemon.Wait(60s);
    std::printf("%s in %.1f s (stored %ld of %ld, delivered %ld of %ld); tomstreamd exit %s\n",
                caught_up ? "caught up" : "DID NOT catch up", drain_seconds, last.stored,
                produced, last.delivered, enqueued,
                exit_status ? std::to_string(*exit_status).c_str() : "timeout");
    if (!stopped_early.empty()) std::printf("STOPPED EARLY: %s\n", stopped_early.c_str());

    auto stats = [&](const char* name, auto field, double scale, const char* unit) {
      double first = field(samples.front()), max = first;
      for (const Sample& s : samples) max = std::max(max, static_cast<double>(field(s)));
      std::printf("%-10s first %10.1f  max %10.1f  last %10.1f %s\n", name, first / scale,
                  max / scale, field(samples.back()) / scale, unit);
    };
    stats("VmRSS", [](const Sample& s) { return static_cast<double>(s.rss_kb); }, 1024, "MB");
    stats("fds", [](const Sample& s) { return static_cast<double>(s.fds); }, 1, "");
    stats("WAL", [](const Sample& s) { return static_cast<double>(s.wal_bytes); }, 1048576,
          "MB");
    stats("database", [](const Sample& s) { return static_cast<double>(s.db_bytes); }, 1048576,
          "MB");

    if (!opt.json.empty()) {
      std::ofstream out(opt.json);
      out << "{\n  \"seconds\": " << opt.seconds << ",\n  \"load_seconds\": " << load_seconds
          << ",\n  \"rate\": " << opt.rate << ",\n  \"publish_rate\": " << opt.publish_rate
          << ",\n  \"sample_seconds\": " << opt.sample_seconds
          << ",\n  \"handler\": " << Json(opt.handler) << ",\n  \"produced\": " << produced
          << ",\n  \"produce_failures\": " << producer.failed()
          << ",\n  \"enqueued\": " << enqueued
          << ",\n  \"publish_failures\": " << publisher.failed()
          << ",\n  \"publish_first_error\": " << Json(publisher.first_error())
          << ",\n  \"enqueue_ack_ms_p50\": " << ack_p50
          << ",\n  \"enqueue_ack_ms_p99\": " << ack_p99
          << ",\n  \"enqueue_ack_ms_max\": " << ack_max
          << ",\n  \"lag_to_store_at_stop\": " << produced - at_stop.stored
          << ",\n  \"lag_to_deliver_at_stop\": " << enqueued - at_stop.delivered
          << ",\n  \"stored\": " << last.stored << ",\n  \"delivered\": " << last.delivered
          << ",\n  \"caught_up\": " << (caught_up ? "true" : "false")
          << ",\n  \"drain_seconds\": " << drain_seconds
          << ",\n  \"stopped_early\": " << Json(stopped_early)
          << ",\n  \"exit_status\": " << (exit_status ? *exit_status : -1)
          << ",\n  \"db_bytes_end\": " << final_sample.db_bytes
          << ",\n  \"cpu_seconds\": " << final_sample.cpu_s
          << ",\n  \"in_topic\": " << Json(in_topic) << ",\n  \"out_topic\": " << Json(out_topic)
          << "\n}\n";
    }
    if (exit_status != 0) {
      std::fprintf(stderr, "soak_bench: tomstreamd did not exit cleanly; log:\n%s\n",
                   daemon.Stderr().c_str());
    }
    std::filesystem::remove_all(workdir);
    return exit_status == 0 && stopped_early != "tomstreamd exited" ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak_bench: %s\n", e.what());
    if (!workdir.empty()) std::filesystem::remove_all(workdir);
    return 1;
  }
}
