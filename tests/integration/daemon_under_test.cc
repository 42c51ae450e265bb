#include "daemon_under_test.h"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tomstream::integration {
namespace {

using namespace std::chrono_literals;

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

std::string TomlString(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string StreamToml(const StreamSpec& s) {
  std::ostringstream o;
  o << "\n[[stream]]\n"
    << "name = " << TomlString(s.name) << "\n"
    << "url = " << TomlString(s.url) << "\n"
    << "security = " << TomlString(s.security) << "\n";
  if (s.tls) o << "tls = " << (*s.tls ? "true" : "false") << "\n";
  if (!s.ca_file.empty()) o << "ca_file = " << TomlString(s.ca_file) << "\n";
  if (!s.username.empty()) o << "username = " << TomlString(s.username) << "\n";
  if (!s.password.empty()) o << "password = " << TomlString(s.password) << "\n";
  if (!s.group_id.empty()) o << "group_id = " << TomlString(s.group_id) << "\n";
  if (!s.start.empty()) o << "start = " << TomlString(s.start) << "\n";
  o << "topic_refresh_ms = " << s.topic_refresh_ms << "\n";
  for (const RouteSpec& r : s.routes) {
    o << "\n  [[stream.route]]\n"
      << "  " << r.selector << " = " << TomlString(r.topic) << "\n"
      << "  handler = " << TomlString(r.handler) << "\n";
    if (!r.start.empty()) o << "  start = " << TomlString(r.start) << "\n";
    if (r.include_test) o << "  include_test = true\n";
  }
  return o.str();
}

}  // namespace

// ------------------------------------------------------------------------------------- waiting
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds limit,
               std::chrono::milliseconds poll) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

std::string UniqueName(const std::string& prefix) {
  static std::atomic<unsigned> counter{0};
  static const unsigned salt = std::random_device{}() & 0xffffffu;
  std::ostringstream name;
  name << prefix << '-' << ::getpid() << '-' << counter.fetch_add(1) << '-' << std::hex << salt;
  std::string s = name.str();
  for (char& c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-';
    if (!ok) c = '-';
  }
  if (s.size() > 64) s.erase(0, s.size() - 64);
  return s;
}

// ------------------------------------------------------------------------------------ messages
std::string RandomId() {
  std::string id(16, '\0');
  auto& rng = Rng();
  for (char& c : id) c = static_cast<char>(rng() & 0xff);
  // uuid4 version and variant bits, as hop-client's uuid.uuid4().bytes would have.
  id[6] = static_cast<char>((static_cast<unsigned char>(id[6]) & 0x0f) | 0x40);
  id[8] = static_cast<char>((static_cast<unsigned char>(id[8]) & 0x3f) | 0x80);
  return id;
}

OutMessage HopJson(std::string payload, std::optional<std::string> id, bool test) {
  OutMessage m;
  m.payload = std::move(payload);
  m.headers.emplace_back("_format", "json");
  if (id) m.headers.emplace_back("_id", *id);
  m.headers.emplace_back("_sender", "alice");
  if (test) m.headers.emplace_back("_test", "true");
  return m;
}

TestProducer::TestProducer(const KafkaEnv& env, KafkaListener listener,
                           std::map<std::string, std::string> extra) {
  std::map<std::string, std::string> props{
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"message.timeout.ms", "60000"},
      {"linger.ms", "10"},
      {"batch.num.messages", "10000"},
      {"batch.size", "1000000"},
      {"compression.type", "lz4"},
      {"queue.buffering.max.messages", "200000"},
      {"queue.buffering.max.kbytes", "262144"},
  };
  for (auto& [k, v] : extra) props[k] = v;
  auto conf = test::make_kafka_conf(env, listener, {.extra = props});
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &TestProducer::OnDelivery);
  rk_ = test::make_producer(std::move(conf));
}

TestProducer::~TestProducer() {
  if (rk_) rd_kafka_flush(rk_.get(), 10000);
}

void TestProducer::OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<TestProducer*>(opaque);
  const auto index = static_cast<size_t>(reinterpret_cast<uintptr_t>(m->_private));
  std::lock_guard lock(self->mu_);
  if (index >= self->deliveries_.size()) return;
  Delivery& d = self->deliveries_[index];
  d.partition = m->partition;
  d.offset = m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? m->offset : -1;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    d.error = std::string(rd_kafka_err2name(m->err)) + ": " + rd_kafka_err2str(m->err);
  }
  ++self->reported_;
}

size_t TestProducer::Produce(const std::string& topic, const OutMessage& m, int32_t partition) {
  size_t index = 0;
  {
    std::lock_guard lock(mu_);
    index = deliveries_.size();
    deliveries_.push_back({topic, partition, -1, ""});
    payloads_.push_back(m.payload);
  }
  const auto deadline = Clock::now() + 60s;
  for (;;) {
    test::KafkaHeadersPtr headers(rd_kafka_headers_new(m.headers.size()));
    for (const auto& [name, value] : m.headers) {
      rd_kafka_header_add(headers.get(), name.data(), static_cast<ssize_t>(name.size()),
                          value ? value->data() : nullptr,
                          value ? static_cast<ssize_t>(value->size()) : 0);
    }
    rd_kafka_vu_t vus[6];
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vus[1].u.i32 = partition;
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem = {const_cast<char*>(m.payload.data()), m.payload.size()};
    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[3].u.i = RD_KAFKA_MSG_F_COPY;
    vus[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[4].u.ptr = reinterpret_cast<void*>(static_cast<uintptr_t>(index));
    vus[5].vtype = RD_KAFKA_VTYPE_HEADERS;  // librdkafka owns them on success
    vus[5].u.headers = headers.get();
    test::KafkaErrorPtr error(rd_kafka_produceva(rk_.get(), vus, 6));
    if (!error) {
      static_cast<void>(headers.release());
      rd_kafka_poll(rk_.get(), 0);
      return index;
    }
    const auto code = rd_kafka_error_code(error.get());
    if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL && Clock::now() < deadline) {
      rd_kafka_poll(rk_.get(), 50);
      continue;
    }
    throw std::runtime_error("produce to " + topic + ": " + rd_kafka_error_string(error.get()));
  }
}

::testing::AssertionResult TestProducer::Flush(std::chrono::milliseconds limit) {
  const auto err = rd_kafka_flush(rk_.get(), static_cast<int>(limit.count()));
  std::lock_guard lock(mu_);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || reported_ != deliveries_.size()) {
    return ::testing::AssertionFailure()
           << "only " << reported_ << " of " << deliveries_.size()
           << " delivery reports within " << limit.count() << " ms";
  }
  size_t failed = 0;
  std::string first;
  for (const Delivery& d : deliveries_) {
    if (!d.error.empty()) {
      if (failed++ == 0) first = d.error;
    }
  }
  if (failed > 0) {
    return ::testing::AssertionFailure() << failed << " messages not delivered, e.g. " << first;
  }
  return ::testing::AssertionSuccess();
}

Delivery TestProducer::ProduceOne(const std::string& topic, const OutMessage& m) {
  const size_t index = Produce(topic, m);
  EXPECT_TRUE(Flush());
  return delivery(index);
}

std::vector<Delivery> TestProducer::deliveries() const {
  std::lock_guard lock(mu_);
  return deliveries_;
}

std::map<int64_t, std::string> TestProducer::PayloadsByOffset(const std::string& topic) const {
  std::lock_guard lock(mu_);
  std::map<int64_t, std::string> out;
  for (size_t i = 0; i < deliveries_.size(); ++i) {
    const Delivery& d = deliveries_[i];
    if (d.topic == topic && d.partition == 0 && d.offset >= 0) out[d.offset] = payloads_[i];
  }
  return out;
}

Delivery TestProducer::delivery(size_t index) const {
  std::lock_guard lock(mu_);
  return deliveries_.at(index);
}

void CreateTopics(const KafkaEnv& env, const std::vector<std::string>& topics, int partitions) {
  auto admin = test::make_producer(test::make_kafka_conf(env, KafkaListener::kPlaintext));
  for (const auto& t : topics) test::create_topic(admin.get(), t, partitions);
}

// ------------------------------------------------------------------------------------ the store
std::vector<Row> StoreReader::Query(const std::string& sql,
                                    const std::vector<std::string>& params) const {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> guard(db, &sqlite3_close_v2);
  if (rc != SQLITE_OK) {
    throw std::runtime_error("open " + path_ + " read-only: " +
                             (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    throw std::runtime_error("prepare \"" + sql + "\": " + sqlite3_errmsg(db));
  }
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, &sqlite3_finalize);
  for (size_t i = 0; i < params.size(); ++i) {
    sqlite3_bind_text(raw, static_cast<int>(i + 1), params[i].data(),
                      static_cast<int>(params[i].size()), SQLITE_TRANSIENT);
  }
  std::vector<Row> rows;
  for (;;) {
    const int step = sqlite3_step(raw);
    if (step == SQLITE_DONE) break;
    if (step != SQLITE_ROW) {
      throw std::runtime_error("query \"" + sql + "\": " + sqlite3_errmsg(db));
    }
    Row row;
    const int n = sqlite3_column_count(raw);
    for (int c = 0; c < n; ++c) {
      if (sqlite3_column_type(raw, c) == SQLITE_NULL) {
        row.emplace_back(std::nullopt);
        continue;
      }
      const void* data = sqlite3_column_blob(raw, c);
      const int size = sqlite3_column_bytes(raw, c);
      row.emplace_back(data != nullptr ? std::string(static_cast<const char*>(data),
                                                     static_cast<size_t>(size))
                                       : std::string());
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

int64_t StoreReader::Int(const std::string& sql, const std::vector<std::string>& params,
                         int64_t fallback) const {
  const auto rows = Query(sql, params);
  if (rows.empty() || rows[0].empty() || !rows[0][0]) return fallback;
  return std::stoll(*rows[0][0]);
}

int64_t StoreReader::IntOrZero(const std::string& sql,
                               const std::vector<std::string>& params) const {
  try {
    return Int(sql, params);
  } catch (const std::exception&) {
    return 0;
  }
}

int64_t StoreReader::CountAlerts(const std::string& stream, const std::string& topic) const {
  return Int("SELECT count(*) FROM alerts WHERE stream = ? AND topic = ?", {stream, topic});
}

int64_t StoreReader::DistinctOffsets(const std::string& stream, const std::string& topic) const {
  return Int("SELECT count(DISTINCT \"offset\") FROM alerts WHERE stream = ? AND topic = ?",
             {stream, topic});
}

int64_t StoreReader::NextOffset(const std::string& stream, const std::string& topic,
                                int32_t partition) const {
  return Int("SELECT next_offset FROM partition_offsets WHERE stream = ? AND topic = ? AND "
             "partition = " + std::to_string(partition),
             {stream, topic}, -1);
}

StoreReader::Counters StoreReader::StreamCounters(const std::string& stream) const {
  Counters c;
  const auto rows = Query(
      "SELECT stored, duplicates, quarantined, skipped FROM stream_counters WHERE stream = ?",
      {stream});
  if (rows.empty()) return c;
  c.stored = std::stoll(rows[0][0].value_or("0"));
  c.duplicates = std::stoll(rows[0][1].value_or("0"));
  c.quarantined = std::stoll(rows[0][2].value_or("0"));
  c.skipped = std::stoll(rows[0][3].value_or("0"));
  return c;
}

::testing::AssertionResult StoredExactly(const StoreReader& store, const std::string& stream,
                                         const std::string& topic,
                                         const std::map<int64_t, std::string>& expected) {
  const auto rows = store.Query(
      "SELECT partition, \"offset\", payload FROM alerts WHERE stream = ? AND topic = ? "
      "ORDER BY \"offset\", id",
      {stream, topic});
  std::ostringstream problems;
  size_t n_problems = 0;
  auto problem = [&](const std::string& text) {
    if (n_problems++ < 20) problems << "\n  " << text;
  };
  std::map<int64_t, int> seen;
  for (const Row& r : rows) {
    const int64_t partition = std::stoll(r[0].value_or("-1"));
    const int64_t offset = std::stoll(r[1].value_or("-1"));
    if (partition != 0) problem("row at partition " + std::to_string(partition));
    if (++seen[offset] == 2) problem("offset " + std::to_string(offset) + " stored twice");
    const auto it = expected.find(offset);
    if (it == expected.end()) {
      problem("offset " + std::to_string(offset) + " stored but not expected");
    } else if (r[2].value_or("") != it->second) {
      problem("offset " + std::to_string(offset) + " has payload " + r[2].value_or("NULL") +
              ", expected " + it->second);
    }
  }
  size_t missing = 0;
  int64_t first_missing = -1;
  for (const auto& [offset, payload] : expected) {
    if (seen.count(offset) == 0 && missing++ == 0) first_missing = offset;
  }
  if (missing > 0) {
    problem(std::to_string(missing) + " expected offsets not stored, the first " +
            std::to_string(first_missing));
  }
  if (rows.size() != expected.size()) {
    problem(std::to_string(rows.size()) + " rows, expected " + std::to_string(expected.size()));
  }
  if (n_problems == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << n_problems << " problems with the alerts of " << stream
                                       << " on " << topic << ":" << problems.str();
}

std::vector<int64_t> StoredOffsets(const StoreReader& store, const std::string& stream,
                                   const std::string& topic) {
  std::vector<int64_t> out;
  for (const Row& r : store.Query("SELECT \"offset\" FROM alerts WHERE stream = ? AND topic = ? "
                                  "ORDER BY \"offset\"",
                                  {stream, topic})) {
    out.push_back(std::stoll(r[0].value_or("-1")));
  }
  return out;
}

std::vector<Header> DecodeStoredHeaders(const std::string& blob) {
  std::vector<Header> out;
  size_t pos = 0;
  auto u32 = [&](uint32_t& v) {
    if (blob.size() - pos < 4) return false;
    v = 0;
    for (size_t i = 0; i < 4; ++i) {
      v |= uint32_t{static_cast<unsigned char>(blob[pos + i])} << (8 * i);
    }
    pos += 4;
    return true;
  };
  while (pos < blob.size()) {
    uint32_t n = 0;
    if (!u32(n) || n > blob.size() - pos) throw std::runtime_error("bad header blob (key)");
    std::string key = blob.substr(pos, n);
    pos += n;
    if (!u32(n)) throw std::runtime_error("bad header blob (value length)");
    if (n == 0xFFFFFFFFu) {
      out.emplace_back(std::move(key), std::nullopt);
      continue;
    }
    if (n > blob.size() - pos) throw std::runtime_error("bad header blob (value)");
    out.emplace_back(std::move(key), blob.substr(pos, n));
    pos += n;
  }
  return out;
}

// ------------------------------------------------------------------------------------ config
StreamSpec PlaintextStream(const KafkaEnv& env, const std::string& prefix) {
  StreamSpec s;
  s.name = UniqueName(prefix);
  s.url = "kafka://" + env.plaintext + "/";
  s.security = "none";
  s.group_id = "tomstream-it-" + s.name;
  return s;
}

StreamSpec HopskotchStream(const KafkaEnv& env, const std::string& prefix) {
  StreamSpec s;
  s.name = UniqueName(prefix);
  s.url = "kafka://" + env.sasl_ssl + "/";
  s.security = "scram-sha-512";  // tls defaults to true
  s.ca_file = env.ca;
  s.username = env.user;
  s.password = env.password;
  s.group_id = env.user + "-tomstream-it-" + s.name;  // Hopskotch: the user name first
  return s;
}

// ------------------------------------------------------------------------------------ daemon
std::string KafkaDestination(const std::string& stream, const std::string& topic,
                             int max_in_flight) {
  return "[[destination]]\nname = \"hop\"\nkind = \"kafka\"\nstream = \"" + stream +
         "\"\ntopics = [\"" + topic + "\"]\nretry_initial_ms = 100\nretry_max_ms = 1000\n"
         "max_in_flight = " + std::to_string(max_in_flight) + "\n";
}

std::string PhotometryCsv(const std::string& prefix, int first, int count) {
  std::ostringstream csv;
  csv << "target_name,ra,dec,date_obs,bandpass,telescope,brightness\n";
  for (int i = first; i < first + count; ++i) {
    csv << prefix << i << ",150.1,-20.5,2461161.5,g,1m0," << 15 + i % 5 << "\n";
  }
  return csv.str();
}

int64_t JsonInt(const json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number()) return static_cast<int64_t>(j.get<double>());
  if (j.is_string()) return std::stoll(j.get<std::string>());
  return 0;
}

DaemonUnderTest::DaemonUnderTest(const std::string& prefix)
    : dir_(testing::MakeTempDir(prefix)),
      socket_(dir_ + "/ctl.sock"),
      store_path_(dir_ + "/state/tomstream.db"),
      config_(dir_ + "/tomstreamd.toml"),
      store_(store_path_) {}

DaemonUnderTest::~DaemonUnderTest() {
  if (daemon_ && daemon_->Running()) {
    daemon_->Signal(SIGKILL);
    daemon_->Wait(10s);
  }
  daemon_.reset();
  notify_.reset();
  if (::testing::Test::HasFailure()) {
    std::cerr << "daemon test directory kept: " << dir_ << "\n";
  } else {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

void DaemonUnderTest::Configure(const std::vector<StreamSpec>& streams,
                                const std::string& store_extra, const std::string& tail) {
  std::ostringstream o;
  // The default stop deadline (after which the daemon exits 1 by itself), below Stop()'s limit.
  o << "[daemon]\nlog_level = \"info\"\nshutdown_timeout_ms = 10000\n"
    << "[store]\npath = " << TomlString(store_path_) << "\n"
    << store_extra << "\n"
    << "[control]\nsocket = " << TomlString(socket_) << "\n";
  for (const auto& s : streams) o << StreamToml(s);
  o << tail << "\n";
  testing::WriteFile(config_, o.str());
}

::testing::AssertionResult DaemonUnderTest::Start(std::chrono::milliseconds limit) {
  if (daemon_ && daemon_->Running()) {
    return ::testing::AssertionFailure() << "tomstreamd is already running";
  }
  Retire();
  notify_.reset();  // before binding its path again
  notify_ = std::make_unique<testing::NotifyListener>(dir_ + "/notify.sock");
  ++instance_;
  daemon_ = std::make_unique<testing::Subprocess>(
      std::vector<std::string>{TOMSTREAMD_BIN, "--config", config_}, dir_,
      std::map<std::string, std::string>{{"NOTIFY_SOCKET", notify_->path()}});
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (notify_->WaitFor("READY=1", 200ms)) return ::testing::AssertionSuccess();
    if (!daemon_->Running()) {
      return ::testing::AssertionFailure()
             << "tomstreamd exited before READY=1; log tail:\n" << LogTail();
    }
  }
  return ::testing::AssertionFailure() << "no READY=1 within " << limit.count()
                                       << " ms; log tail:\n" << LogTail();
}

::testing::AssertionResult DaemonUnderTest::Reload(std::chrono::milliseconds limit) {
  if (!daemon_ || !daemon_->Running()) return ::testing::AssertionFailure() << "not running";
  daemon_->Signal(SIGHUP);
  if (!notify_->WaitFor("RELOADING=1", limit)) {
    return ::testing::AssertionFailure() << "no RELOADING=1; log tail:\n" << LogTail();
  }
  if (!notify_->WaitFor("READY=1", limit)) {
    return ::testing::AssertionFailure() << "no READY=1 after RELOADING=1; log tail:\n"
                                         << LogTail();
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult DaemonUnderTest::Stop(std::chrono::milliseconds limit) {
  if (!daemon_) return ::testing::AssertionFailure() << "no daemon started";
  daemon_->Signal(SIGTERM);
  const auto code = daemon_->Wait(limit);
  if (!code) {
    const std::string stacks = Stacks();
    daemon_->Signal(SIGKILL);
    daemon_->Wait(10s);
    return ::testing::AssertionFailure()
           << "tomstreamd still running " << limit.count() << " ms after SIGTERM; log tail:\n"
           << LogTail() << "\nits threads:\n" << stacks;
  }
  if (*code != 0) {
    return ::testing::AssertionFailure() << "tomstreamd exited with status " << *code
                                         << " after SIGTERM; log tail:\n" << LogTail();
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult DaemonUnderTest::Kill() {
  if (!daemon_) return ::testing::AssertionFailure() << "no daemon started";
  if (!daemon_->Running()) {
    return ::testing::AssertionFailure() << "tomstreamd was not running when it was to be killed"
                                         << "; log tail:\n" << LogTail();
  }
  daemon_->Signal(SIGKILL);
  const auto code = daemon_->Wait(10s);
  if (!code) return ::testing::AssertionFailure() << "tomstreamd survived SIGKILL for 10 s";
  return ::testing::AssertionSuccess();
}

std::string DaemonUnderTest::Stacks() {
  if (!daemon_ || !daemon_->Running()) return "(not running)";
  if (!std::filesystem::exists("/usr/bin/gdb")) return "(no /usr/bin/gdb to show them)";
  RunResult r = testing::RunProgram({"/usr/bin/gdb", "-p", std::to_string(daemon_->pid()),
                                     "-batch", "-ex", "thread apply all bt"},
                                    dir_, 60s);
  // Thread headers and the frames that name a function (not the libc internals).
  std::istringstream in(r.out);
  std::string line;
  std::string out;
  while (std::getline(in, line)) {
    const bool frame = line.rfind('#', 0) == 0;
    if (line.rfind("Thread ", 0) == 0 ||
        (frame && (line.find("tomstream") != std::string::npos ||
                   line.find("rd_kafka") != std::string::npos ||
                   line.find("librdkafka") != std::string::npos))) {
      out += line.substr(0, 200) + "\n";
    }
  }
  return out.empty() ? "(gdb: " + r.err.substr(0, 500) + ")" : out;
}

bool DaemonUnderTest::Running() { return daemon_ && daemon_->Running(); }

pid_t DaemonUnderTest::pid() const { return daemon_ ? daemon_->pid() : -1; }

void DaemonUnderTest::Retire() {
  if (!daemon_) return;
  old_logs_ += "----- tomstreamd instance " + std::to_string(instance_) + " -----\n" +
               daemon_->Stderr();
  daemon_.reset();
}

RunResult DaemonUnderTest::Tomctl(std::vector<std::string> args, std::chrono::milliseconds limit) {
  std::vector<std::string> argv{TOMCTL_BIN, "--socket", socket_};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::RunProgram(argv, dir_, limit);
}

std::optional<json> DaemonUnderTest::TomctlJson(std::vector<std::string> args,
                                                std::string* error) {
  args.insert(args.begin(), "--json");
  RunResult r = Tomctl(args);
  if (r.status != 0) {
    if (error != nullptr) *error = "tomctl exited " + std::to_string(r.status) + ": " + r.err;
    return std::nullopt;
  }
  try {
    return json::parse(r.out);
  } catch (const std::exception& e) {
    if (error != nullptr) *error = std::string("tomctl printed no JSON: ") + e.what() + ": " + r.out;
    return std::nullopt;
  }
}

std::optional<json> DaemonUnderTest::StreamStatus(const std::string& stream, std::string* error) {
  auto s = TomctlJson({"status"}, error);
  if (!s) return std::nullopt;
  for (const auto& st : (*s)["streams"]) {
    if (st.value("name", "") == stream) return st;
  }
  if (error != nullptr) *error = "no stream " + stream + " in status: " + s->dump();
  return std::nullopt;
}

const json* DaemonUnderTest::FindPartition(const json& stream_status, const std::string& topic,
                                           int32_t partition) {
  if (!stream_status.contains("partitions")) return nullptr;
  for (const auto& p : stream_status["partitions"]) {
    if (p.value("topic", "") == topic && JsonInt(p.value("partition", json(0))) == partition) {
      return &p;
    }
  }
  return nullptr;
}

std::string DaemonUnderTest::Logs() const {
  std::string all = old_logs_;
  if (daemon_) {
    all += "----- tomstreamd instance " + std::to_string(instance_) + " -----\n" +
           daemon_->Stderr();
  }
  return all;
}

std::string DaemonUnderTest::LogTail(size_t lines) const {
  const std::string all = Logs();
  size_t pos = all.size();
  for (size_t n = 0; n <= lines && pos > 0; ++n) {
    pos = all.rfind('\n', pos - 1);
    if (pos == std::string::npos) return all;
  }
  return all.substr(pos + 1);
}

// ------------------------------------------------------------------------------------ broker
BrokerProcess::BrokerProcess(std::string dir) : dir_(std::move(dir)) {}

BrokerProcess::~BrokerProcess() {
  if (started_) {
    const auto r = Run("stop", 60s);
    if (!r) std::cerr << "private broker stop failed: " << r.message() << "\n";
  }
  if (!::testing::Test::HasFailure()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  } else {
    std::cerr << "private broker directory kept: " << dir_ << "\n";
  }
}

::testing::AssertionResult BrokerProcess::Run(const std::string& command,
                                              std::chrono::seconds limit) {
  std::filesystem::create_directories(dir_);
  RunResult r = testing::RunProgram({"/bin/bash", TOMSTREAM_BROKER_SH, command, dir_}, dir_, limit);
  if (r.status != 0) {
    return ::testing::AssertionFailure() << "broker.sh " << command << " " << dir_ << " exited "
                                         << r.status << " after " << r.elapsed.count()
                                         << " ms:\n" << r.out << r.err;
  }
  return ::testing::AssertionSuccess() << r.out;
}

::testing::AssertionResult BrokerProcess::Start() {
  started_ = true;  // from here on the destructor stops whatever may run
  return Run("start", 300s);
}

::testing::AssertionResult BrokerProcess::Stop() { return Run("stop", 60s); }

::testing::AssertionResult BrokerProcess::Restart() {
  started_ = true;
  return Run("restart", 180s);
}

KafkaEnv BrokerProcess::env() const { return KafkaEnv::load(dir_ + "/broker.env"); }

}  // namespace tomstream::integration
