// End-to-end tests of the Hermes HTTP path of the outbox: the real tomstreamd and tomctl binaries
// against the fake Hermes server (tests/outbox/fake_hermes.py), which a test starts as a
// subprocess and drives through its control API. No Kafka broker is involved: the daemon runs
// with no streams and one [[destination]] of kind "hermes".
//
// Each test has its own daemon (own directory, store and socket) and its own fake server. Retries
// are made fast (retry_initial_ms 100, retry_max_ms 300) and every wait is bounded.
#include <curl/curl.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "daemon_under_test.h"

namespace tomstream::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto kWait = 30s;  // upper bound for "the outbox gets there"
constexpr const char* kToken = "fake-hermes-token";
constexpr const char* kDestination = "hermes";
constexpr const char* kTopic = "hermes.test";

// OutboxState numbers (store/outbox.h, control.proto).
constexpr int64_t kPending = 1;
constexpr int64_t kSending = 2;
constexpr int64_t kDelivered = 3;
constexpr int64_t kDead = 4;
constexpr int64_t kCancelled = 5;

// ------------------------------------------------------------------------ the fake Hermes server
// fake_hermes.py as a subprocess: started on a free port (read from its "PORT n" line), driven
// through its control API over HTTP (libcurl), stopped (SIGTERM, then SIGKILL) on destruction.
class FakeHermes {
 public:
  FakeHermes(const std::string& log_dir, const std::string& token) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    process_ = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{"/usr/bin/env", "python3", FAKE_HERMES_PY, "--port", "0",
                                 "--token", token, "--verbose"},
        log_dir);
    const auto deadline = Clock::now() + 20s;
    while (Clock::now() < deadline) {
      const std::string out = process_->Stdout();
      const size_t at = out.find("PORT ");
      if (at != std::string::npos && out.find('\n', at) != std::string::npos) {
        port_ = std::stoi(out.substr(at + 5));
        return;
      }
      if (!process_->Running()) break;
      std::this_thread::sleep_for(20ms);
    }
    const std::string err = process_->Stderr();
    process_.reset();
    throw std::runtime_error("fake_hermes.py printed no PORT line; stderr:\n" + err);
  }

  ~FakeHermes() {
    if (process_ && process_->Running()) {
      process_->Signal(SIGTERM);
      if (!process_->Wait(5s)) process_->Signal(SIGKILL);
      process_->Wait(5s);
    }
  }

  FakeHermes(const FakeHermes&) = delete;
  FakeHermes& operator=(const FakeHermes&) = delete;

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

  // POST /_control/mode; count -1: until changed.
  json SetMode(const std::string& mode, int count = -1) {
    return Call("POST", "/_control/mode", json{{"mode", mode}, {"count", count}}.dump());
  }
  // The accepted messages, in arrival order: [{"uuid", "body", "headers"}, ...].
  json Messages() { return Call("GET", "/_control/messages", "")["messages"]; }
  // {"requests", "accepted", "rejected", "faults"} over submit requests.
  json Stats() { return Call("GET", "/_control/stats", ""); }
  int64_t Requests() { return Stats()["requests"].get<int64_t>(); }
  void Reset() { Call("POST", "/_control/reset", ""); }

  // The server's request log (--verbose), for failure messages.
  std::string Log() const { return process_ ? process_->Stderr() : std::string(); }

 private:
  static size_t Append(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  }

  // One control request; its JSON answer. Throws unless the answer is HTTP 200 with JSON.
  json Call(const std::string& method, const std::string& path, const std::string& body) {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
    if (!curl) throw std::runtime_error("curl_easy_init failed");
    CURL* c = curl.get();
    const std::string url = "http://127.0.0.1:" + std::to_string(port_) + path;
    std::string answer;
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    if (method == "POST") {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    }
    const CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      throw std::runtime_error("fake hermes " + method + " " + path + ": " +
                               curl_easy_strerror(rc));
    }
    if (status != 200) {
      throw std::runtime_error("fake hermes " + method + " " + path + ": HTTP " +
                               std::to_string(status) + ": " + answer);
    }
    return json::parse(answer);
  }

  std::unique_ptr<testing::Subprocess> process_;
  int port_ = 0;
};

// --------------------------------------------------------------------------------- helpers
struct DestinationOptions {
  std::string api_key = kToken;
  int request_timeout_ms = 3000;
  int max_attempts = 10;
  int retry_initial_ms = 100;
  int retry_max_ms = 300;
  int max_in_flight = 2;
};

std::string DestinationToml(const std::string& base_url, const DestinationOptions& o) {
  return "\n[[destination]]\n"
         "name = \"" + std::string(kDestination) + "\"\n"
         "kind = \"hermes\"\n"
         "base_url = \"" + base_url + "\"\n"
         "api_key = \"" + o.api_key + "\"\n"
         "default_authors = \"A. Tester, B. Tester\"\n"
         "topics = [\"" + std::string(kTopic) + "\", \"hermes.other\"]\n"
         "request_timeout_ms = " + std::to_string(o.request_timeout_ms) + "\n"
         "max_attempts = " + std::to_string(o.max_attempts) + "\n"
         "retry_initial_ms = " + std::to_string(o.retry_initial_ms) + "\n"
         "retry_max_ms = " + std::to_string(o.retry_max_ms) + "\n"
         "max_in_flight = " + std::to_string(o.max_in_flight) + "\n";
}

// `tomctl publish photometry` of one row given by flags.
std::vector<std::string> PublishArgs(const std::string& target, const std::string& brightness = "18.5") {
  return {"publish",      "photometry",   "--destination", kDestination, "--topic",
          kTopic,         "--submitter",  "tomstream-test", "--target",   target,
          "--ra",         "150.125",      "--dec=-20.5",   "--date-obs", "2460000.5",
          "--bandpass",   "g",            "--telescope",   "LCO-1m",     "--brightness",
          brightness,     "--brightness-error", "0.05"};
}

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// The stored uuid column (16 bytes) as SQL sees it: hex(uuid) of the text form.
std::string Hex(const std::string& uuid) {
  std::string out;
  for (const char c : uuid) {
    if (c != '-') out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string Text(const Cell& cell) { return cell.value_or(""); }

class OutboxHermesTest : public ::testing::Test {
 protected:
  // Starts the fake (requiring `fake_token`) and a daemon publishing to it.
  void StartAll(const DestinationOptions& o = {}, const std::string& fake_token = kToken,
                const std::string& store_extra = "") {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    daemon_ = std::make_unique<DaemonUnderTest>("ohx");
    fake_ = std::make_unique<FakeHermes>(daemon_->dir(), fake_token);
    daemon_->Configure({}, store_extra, DestinationToml(fake_->base_url(), o));
    ASSERT_TRUE(daemon_->Start()) << name;
  }

  void TearDown() override {
    if (HasFailure() && daemon_) {
      std::cerr << "---- tomstreamd log tail ----\n" << daemon_->LogTail(80) << "\n";
      if (fake_) {
        // Its request log without the test's polling of the control API.
        std::string log;
        std::istringstream in(fake_->Log());
        for (std::string line; std::getline(in, line);) {
          if (line.find("GET /_control/") == std::string::npos) log += line + "\n";
        }
        if (log.size() > 6000) log = "..." + log.substr(log.size() - 6000);
        std::cerr << "---- fake_hermes log ----\n" << log << "\n";
      }
    }
    // The fake first: its hanging requests end when it stops; then the daemon (SIGKILL).
    fake_.reset();
    daemon_.reset();
  }

  DaemonUnderTest& d() { return *daemon_; }
  FakeHermes& fake() { return *fake_; }
  const StoreReader& store() { return daemon_->store(); }

  // Publishes with --json; the results array (fails the test and returns an empty array on error).
  json PublishJson(const std::vector<std::string>& args) {
    std::string error;
    auto r = d().TomctlJson(args, &error);
    EXPECT_TRUE(r.has_value()) << error;
    if (!r || !r->contains("results")) return json::array();
    return (*r)["results"];
  }
  // Publishes one message with --json; its uuid ("" on failure).
  std::string PublishOne(const std::vector<std::string>& args) {
    json results = PublishJson(args);
    EXPECT_EQ(results.size(), 1u) << results.dump();
    if (results.size() != 1) return "";
    EXPECT_FALSE(results[0].value("duplicate", false));
    EXPECT_EQ(results[0].value("state", ""), "OUTBOX_STATE_PENDING");
    return results[0].value("uuid", "");
  }

  json Show(const std::string& uuid) {
    std::string error;
    auto r = d().TomctlJson({"outbox", "show", uuid}, &error);
    EXPECT_TRUE(r.has_value()) << error;
    return r.value_or(json::object());
  }

  json OutboxStatus() {
    std::string error;
    auto r = d().TomctlJson({"status"}, &error);
    EXPECT_TRUE(r.has_value()) << error;
    if (!r || !r->contains("outbox")) return json::object();
    return (*r)["outbox"];
  }

  int64_t State(const std::string& uuid) {
    return store().IntOrZero("SELECT state FROM outbox WHERE hex(uuid) = ?", {Hex(uuid)});
  }
  int64_t Attempts(const std::string& uuid) {
    return store().IntOrZero("SELECT attempts FROM outbox WHERE hex(uuid) = ?", {Hex(uuid)});
  }
  // One column of the entry, as text.
  std::string Column(const std::string& uuid, const std::string& column) {
    const auto rows =
        store().Query("SELECT " + column + " FROM outbox WHERE hex(uuid) = ?", {Hex(uuid)});
    if (rows.empty() || rows[0].empty()) return "";
    return Text(rows[0][0]);
  }
  int64_t Count(const std::string& where = "1") {
    return store().IntOrZero("SELECT count(*) FROM outbox WHERE " + where);
  }

  ::testing::AssertionResult WaitState(const std::string& uuid, int64_t state,
                                       std::chrono::milliseconds limit = kWait) {
    if (WaitUntil([&] { return State(uuid) == state; }, limit, 50ms)) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "entry " << uuid << " is in state " << State(uuid) << ", not " << state
           << " after " << limit.count() << " ms (attempts " << Attempts(uuid)
           << ", last_error \"" << Column(uuid, "last_error") << "\")";
  }

  // The fake's accepted message whose title is `title` (nullopt if none); counts them in *n.
  std::optional<json> MessageTitled(const std::string& title, int* n = nullptr) {
    std::optional<json> found;
    int count = 0;
    for (const json& m : fake().Messages()) {
      if (m["body"].value("title", "") == title) {
        ++count;
        found = m;
      }
    }
    if (n != nullptr) *n = count;
    return found;
  }

  std::unique_ptr<DaemonUnderTest> daemon_;
  std::unique_ptr<FakeHermes> fake_;
};

// ---------------------------------------------------------------- 1. publish from flags
TEST_F(OutboxHermesTest, PublishFromFlagsIsDeliveredExactlyAsStored) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const std::string uuid = PublishOne(PublishArgs("SN 2026abc"));
  ASSERT_FALSE(uuid.empty());
  ASSERT_TRUE(WaitState(uuid, kDelivered));

  const json messages = fake().Messages();
  ASSERT_EQ(messages.size(), 1u) << messages.dump();
  const json& m = messages[0];
  const std::string stored_body = Column(uuid, "body");
  EXPECT_EQ(json::parse(stored_body), m["body"]) << "stored: " << stored_body;
  EXPECT_EQ(m["headers"].value("authorization", ""), std::string("Token ") + kToken);
  EXPECT_EQ(m["headers"].value("content-type", ""), "application/json");
  EXPECT_EQ(Column(uuid, "hermes_uuid"), m["uuid"].get<std::string>());

  // What was sent: the flags, the destination's default authors, the default title.
  const json& body = m["body"];
  EXPECT_EQ(body.value("title", ""), "Photometry of SN 2026abc");
  EXPECT_EQ(body.value("topic", ""), kTopic);
  EXPECT_EQ(body.value("submitter", ""), "tomstream-test");
  EXPECT_EQ(body.value("authors", ""), "A. Tester, B. Tester");
  ASSERT_EQ(body["data"]["targets"].size(), 1u);
  EXPECT_EQ(body["data"]["targets"][0].value("name", ""), "SN 2026abc");
  ASSERT_EQ(body["data"]["photometry"].size(), 1u);
  const json& p = body["data"]["photometry"][0];
  EXPECT_EQ(p.value("bandpass", ""), "g");
  EXPECT_DOUBLE_EQ(p.value("brightness", 0.0), 18.5);
  EXPECT_DOUBLE_EQ(p.value("date_obs", 0.0), 2460000.5);
  EXPECT_EQ(p.value("brightness_unit", ""), "AB mag");

  const json e = Show(uuid);
  EXPECT_EQ(e.value("uuid", ""), uuid);
  EXPECT_EQ(e.value("state", ""), "OUTBOX_STATE_DELIVERED");
  EXPECT_EQ(e.value("destination", ""), kDestination);
  EXPECT_EQ(e.value("topic", ""), kTopic);
  EXPECT_EQ(e.value("title", ""), "Photometry of SN 2026abc");
  EXPECT_EQ(e.value("attempts", -1), 1);
  EXPECT_EQ(e.value("last_error", "x"), "");
  EXPECT_EQ(e.value("response_body", "x"), "");
  EXPECT_EQ(e.value("hermes_uuid", ""), m["uuid"].get<std::string>());
  EXPECT_EQ(e.value("idempotency_key", "x"), "");
  EXPECT_TRUE(e.contains("created_at"));
  EXPECT_TRUE(e.contains("delivered_at")) << e.dump();
  EXPECT_FALSE(e.contains("next_attempt_at")) << e.dump();
  EXPECT_EQ(e.value("body_json", ""), stored_body);

  const json s = OutboxStatus();
  EXPECT_EQ(JsonInt(s.value("delivered", json(0))), 1) << s.dump();
  EXPECT_EQ(JsonInt(s.value("pending", json(0))), 0) << s.dump();
  EXPECT_EQ(JsonInt(s.value("dead", json(0))), 0) << s.dump();
  ASSERT_TRUE(s.contains("destinations") && s["destinations"].size() == 1) << s.dump();
  EXPECT_EQ(s["destinations"][0].value("name", ""), kDestination);
  EXPECT_EQ(s["destinations"][0].value("kind", ""), "hermes");
  EXPECT_EQ(JsonInt(s["destinations"][0].value("delivered", json(0))), 1);

  const json stats = fake().Stats();
  EXPECT_EQ(stats["requests"], 1) << stats.dump();
  EXPECT_EQ(stats["accepted"], 1) << stats.dump();
  EXPECT_TRUE(d().Stop());
}

// ---------------------------------------------------------------- 2. publish from a CSV file
TEST_F(OutboxHermesTest, PublishFromCsvWithTwoTargetsDeliversTwoMessages) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const std::string csv = d().dir() + "/photometry.csv";
  testing::WriteFile(csv,
                     "target_name,ra,dec,date_obs,filter,telescope,magnitude,error\n"
                     "SN 2026aaa,150.1,-20.5,2460000.5,g,LCO-1m,18.1,0.05\n"
                     "SN 2026bbb,10:00:29.6,+10:15:00,2460000.6,r,LCO-1m,19.2,0.07\n"
                     "SN 2026aaa,,,2460001.5,r,LCO-1m,18.3,0.06\n");
  const json results = PublishJson({"publish", "photometry", "--destination", kDestination,
                                    "--topic", kTopic, "--submitter", "tomstream-test", "--file",
                                    csv});
  ASSERT_EQ(results.size(), 2u) << results.dump();
  std::vector<std::string> uuids;
  for (const json& r : results) {
    EXPECT_FALSE(r.value("duplicate", true));
    uuids.push_back(r.value("uuid", ""));
  }
  ASSERT_NE(uuids[0], uuids[1]);
  EXPECT_EQ(Count(), 2);
  for (const std::string& u : uuids) ASSERT_TRUE(WaitState(u, kDelivered));

  const json messages = fake().Messages();
  ASSERT_EQ(messages.size(), 2u) << messages.dump();
  // Each entry's hermes_uuid names the fake's message, whose body is the entry's body.
  for (const std::string& u : uuids) {
    const std::string hermes_uuid = Column(u, "hermes_uuid");
    auto m = std::find_if(messages.begin(), messages.end(),
                          [&](const json& x) { return x["uuid"] == hermes_uuid; });
    ASSERT_NE(m, messages.end()) << "no fake message " << hermes_uuid;
    EXPECT_EQ(json::parse(Column(u, "body")), (*m)["body"]);
  }
  int n = 0;
  auto a = MessageTitled("Photometry of SN 2026aaa", &n);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(n, 1);
  EXPECT_EQ((*a)["body"]["data"]["photometry"].size(), 2u) << "both rows of SN 2026aaa";
  auto b = MessageTitled("Photometry of SN 2026bbb", &n);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(n, 1);
  EXPECT_EQ((*b)["body"]["data"]["photometry"].size(), 1u);
  EXPECT_EQ((*b)["body"]["data"]["targets"][0].value("ra", ""), "10:00:29.6");
  EXPECT_EQ(JsonInt(OutboxStatus().value("delivered", json(0))), 2);
  EXPECT_TRUE(d().Stop());
}

// ---------------------------------------------------------------- 3. transient 500s
TEST_F(OutboxHermesTest, Http500TwiceThenDeliveredOnTheThirdAttempt) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  fake().SetMode("500", 2);
  const std::string uuid = PublishOne(PublishArgs("SN 2026c500"));
  ASSERT_FALSE(uuid.empty());
  ASSERT_TRUE(WaitState(uuid, kDelivered));

  const json e = Show(uuid);
  EXPECT_EQ(e.value("state", ""), "OUTBOX_STATE_DELIVERED");
  EXPECT_EQ(e.value("attempts", -1), 3) << e.dump();
  // A delivery clears the error of the earlier attempts (store/outbox.cc: last_error = '').
  EXPECT_EQ(e.value("last_error", "x"), "") << e.dump();
  EXPECT_EQ(Column(uuid, "last_error"), "");
  EXPECT_EQ(e.value("response_body", "x"), "");
  EXPECT_FALSE(e.value("hermes_uuid", "").empty());

  const json stats = fake().Stats();
  EXPECT_EQ(stats["faults"], 2) << stats.dump();
  EXPECT_EQ(stats["accepted"], 1) << stats.dump();
  EXPECT_EQ(stats["requests"], 3) << stats.dump();
  EXPECT_EQ(fake().Messages().size(), 1u);
  // The destination remembers the last failure.
  const json s = OutboxStatus();
  ASSERT_TRUE(s.contains("destinations") && s["destinations"].size() == 1) << s.dump();
  EXPECT_NE(s["destinations"][0].value("last_error", "").find("HTTP 500"), std::string::npos)
      << s.dump();
  EXPECT_TRUE(d().Stop());
}

// A Hermes that was down long enough for the backoff to reach minutes: once it answers again,
// the waiting entries go within the probe interval (2 s), not after their backoff.
TEST_F(OutboxHermesTest, AfterAnOutageWaitingEntriesGoWithinTheProbeInterval) {
  DestinationOptions o;
  o.retry_initial_ms = 20000;  // the first retry would come 16-24 s later
  o.retry_max_ms = 600000;
  o.max_in_flight = 4;
  ASSERT_NO_FATAL_FAILURE(StartAll(o));
  fake().SetMode("500");
  std::vector<std::string> uuids;
  for (int i = 0; i < 5; ++i) {
    uuids.push_back(PublishOne(PublishArgs("SN 2026out" + std::to_string(i))));
    ASSERT_FALSE(uuids.back().empty());
  }
  // Every entry failed once and waits for its backoff; meanwhile one entry at a time probes
  // (so more than 5 attempts in all, and never more than one request at once).
  ASSERT_TRUE(WaitUntil([&] { return Count("attempts >= 1 AND state = 1") == 5; }, kWait))
      << Count("attempts >= 1 AND state = 1");
  ASSERT_TRUE(WaitUntil([&] { return fake().Stats()["faults"].get<int>() >= 7; }, kWait));

  fake().SetMode("ok");
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil([&] { return Count("state = 3") == 5; }, 8s))
      << "delivered " << Count("state = 3") << " of 5 within 8 s of the recovery";
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 5s);
  EXPECT_EQ(fake().Messages().size(), 5u);
  EXPECT_NE(d().Logs().find("answering again"), std::string::npos) << d().LogTail();
  EXPECT_TRUE(d().Stop());
}

// ---------------------------------------------------------------- 4. Hermes's 200 with an error
TEST_F(OutboxHermesTest, Error200IsDeadAtOnceThenRetriedByHand) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  fake().SetMode("error200");
  const std::string uuid = PublishOne(PublishArgs("SN 2026e200"));
  ASSERT_FALSE(uuid.empty());
  ASSERT_TRUE(WaitState(uuid, kDead));
  // Several retry delays (100..300 ms) later: still one request, still dead.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(fake().Requests(), 1);
  EXPECT_EQ(State(uuid), kDead);

  json e = Show(uuid);
  EXPECT_EQ(e.value("state", ""), "OUTBOX_STATE_DEAD");
  EXPECT_EQ(e.value("attempts", -1), 1);
  EXPECT_NE(e.value("response_body", "").find("You must have a SCiMMA credential"),
            std::string::npos)
      << e.dump();
  EXPECT_NE(e.value("last_error", "").find("with an error: You must have a SCiMMA credential"),
            std::string::npos)
      << e.dump();
  EXPECT_EQ(e.value("hermes_uuid", "x"), "");
  EXPECT_TRUE(fake().Messages().empty());
  EXPECT_EQ(JsonInt(OutboxStatus().value("dead", json(0))), 1);

  fake().SetMode("ok");
  std::string error;
  auto retried = d().TomctlJson({"outbox", "retry", uuid}, &error);
  ASSERT_TRUE(retried.has_value()) << error;
  EXPECT_EQ(retried->value("state", ""), "OUTBOX_STATE_PENDING") << retried->dump();
  // A retry by hand starts the attempt count afresh (else an entry that died of max_attempts
  // would die again at its first failure).
  EXPECT_EQ(retried->value("attempts", -1), 0) << retried->dump();
  ASSERT_TRUE(WaitState(uuid, kDelivered));
  e = Show(uuid);
  EXPECT_EQ(e.value("attempts", -1), 1) << e.dump();
  EXPECT_EQ(e.value("last_error", "x"), "");
  const json messages = fake().Messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(e.value("hermes_uuid", ""), messages[0]["uuid"].get<std::string>());
  EXPECT_EQ(fake().Requests(), 2);
  EXPECT_TRUE(d().Stop());
}

// ---------------------------------------------------------------- 5. a wrong API key
TEST_F(OutboxHermesTest, WrongApiKeyIs401AndDeadAtOnce) {
  DestinationOptions o;
  o.api_key = "not-the-token";
  ASSERT_NO_FATAL_FAILURE(StartAll(o, kToken));
  const std::string uuid = PublishOne(PublishArgs("SN 2026k401"));
  ASSERT_FALSE(uuid.empty());
  ASSERT_TRUE(WaitState(uuid, kDead));
  std::this_thread::sleep_for(1000ms);
  const json stats = fake().Stats();
  EXPECT_EQ(stats["requests"], 1) << stats.dump();
  EXPECT_EQ(stats["rejected"], 1) << stats.dump();

  const json e = Show(uuid);
  EXPECT_EQ(e.value("state", ""), "OUTBOX_STATE_DEAD");
  EXPECT_EQ(e.value("attempts", -1), 1);
  EXPECT_NE(e.value("last_error", "").find("HTTP 401"), std::string::npos) << e.dump();
  EXPECT_NE(e.value("response_body", "").find("Invalid token."), std::string::npos) << e.dump();
  EXPECT_TRUE(fake().Messages().empty());
  // The key never shows in what the daemon tells.
  EXPECT_EQ(e.dump().find("not-the-token"), std::string::npos);
  EXPECT_EQ(d().Logs().find("not-the-token"), std::string::npos);
  EXPECT_TRUE(d().Stop());
}

// ---------------------------------------------------------------- 6. a server that hangs
TEST_F(OutboxHermesTest, HangingServerTimesOutAndIsRetried) {
  DestinationOptions o;
  o.request_timeout_ms = 500;
  ASSERT_NO_FATAL_FAILURE(StartAll(o));
  fake().SetMode("hang");
  const std::string uuid = PublishOne(PublishArgs("SN 2026hang"));
  ASSERT_FALSE(uuid.empty());
  // The first request times out after 500 ms and is sent again.
  ASSERT_TRUE(WaitUntil([&] { return fake().Requests() >= 2; }, 15s))
      << "requests: " << fake().Requests();
  ASSERT_TRUE(WaitUntil([&] { return !Column(uuid, "last_error").empty(); }, 10s));
  EXPECT_NE(Column(uuid, "last_error").find("Timeout"), std::string::npos)
      << Column(uuid, "last_error");
  EXPECT_NE(State(uuid), kDelivered);
  EXPECT_NE(State(uuid), kDead);

  fake().SetMode("ok");
  ASSERT_TRUE(WaitState(uuid, kDelivered));
  const json e = Show(uuid);
  EXPECT_GE(e.value("attempts", -1), 2) << e.dump();
  EXPECT_EQ(e.value("last_error", "x"), "");
  const json messages = fake().Messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(e.value("hermes_uuid", ""), messages[0]["uuid"].get<std::string>());
  EXPECT_TRUE(d().Stop());
}

// ---------------------------------------------------------------- 7. dropped connections
TEST_F(OutboxHermesTest, DroppedConnectionsAreRetried) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  // Three drops: libcurl may retry one drop on a reused connection by itself, so at least one
  // reaches the outbox as a failed attempt.
  fake().SetMode("drop", 3);
  const std::string uuid = PublishOne(PublishArgs("SN 2026drop"));
  ASSERT_FALSE(uuid.empty());
  ASSERT_TRUE(WaitState(uuid, kDelivered));
  const json e = Show(uuid);
  EXPECT_GE(e.value("attempts", -1), 2) << e.dump();
  EXPECT_LE(e.value("attempts", 99), 4) << e.dump();
  const json stats = fake().Stats();
  EXPECT_EQ(stats["faults"], 3) << stats.dump();
  EXPECT_EQ(stats["accepted"], 1) << stats.dump();
  EXPECT_EQ(fake().Messages().size(), 1u);
  EXPECT_TRUE(d().Stop());
}

// ---------------------------------------------------------------- 8. max_attempts
TEST_F(OutboxHermesTest, MaxAttemptsOf500sMakesTheEntryDead) {
  DestinationOptions o;
  o.max_attempts = 3;
  ASSERT_NO_FATAL_FAILURE(StartAll(o));
  fake().SetMode("500");
  const std::string uuid = PublishOne(PublishArgs("SN 2026max3"));
  ASSERT_FALSE(uuid.empty());
  ASSERT_TRUE(WaitState(uuid, kDead));
  std::this_thread::sleep_for(1000ms);  // several retry delays: no fourth attempt
  EXPECT_EQ(fake().Requests(), 3);
  EXPECT_EQ(State(uuid), kDead);

  const json e = Show(uuid);
  EXPECT_EQ(e.value("attempts", -1), 3) << e.dump();
  const std::string last_error = e.value("last_error", "");
  EXPECT_NE(last_error.find("HTTP 500"), std::string::npos) << last_error;
  EXPECT_NE(last_error.find("attempt 3 of 3"), std::string::npos) << last_error;
  EXPECT_TRUE(fake().Messages().empty());
  const json s = OutboxStatus();
  EXPECT_EQ(JsonInt(s.value("dead", json(0))), 1) << s.dump();
  EXPECT_EQ(JsonInt(s.value("delivered", json(0))), 0) << s.dump();
  EXPECT_TRUE(d().Stop());
}

// ---------------------------------------------------------------- 9. validation
TEST_F(OutboxHermesTest, InvalidPublishStoresNothingAndNamesEveryField) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  // No bandpass, a topic the destination does not have, no submitter.
  std::vector<std::string> bad = {"publish", "photometry", "--destination", kDestination,
                                  "--topic", "not.a.topic", "--target", "SN 2026bad",
                                  "--ra", "150.125", "--dec=-20.5", "--date-obs", "2460000.5",
                                  "--telescope", "LCO-1m", "--brightness", "18.5"};
  RunResult r = d().Tomctl(bad);
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.err.find("INVALID_ARGUMENT"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("photometry[0].bandpass"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("topic: \"not.a.topic\" is not a topic of destination hermes"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("submitter"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3 problems"), std::string::npos) << r.err;
  EXPECT_EQ(store().Int("SELECT count(*) FROM outbox"), 0);

  // Several messages, one of them bad: all refused, the bad one named by its index.
  const std::string csv = d().dir() + "/mixed.csv";
  testing::WriteFile(csv,
                     "target_name,ra,dec,date_obs,filter,telescope,magnitude\n"
                     "SN 2026ok,150.1,-20.5,2460000.5,g,LCO-1m,18.1\n"
                     "SN 2026nob,151.1,-21.5,2460000.5,,LCO-1m,18.2\n");
  r = d().Tomctl({"publish", "photometry", "--destination", kDestination, "--topic", kTopic,
                  "--submitter", "tomstream-test", "--file", csv});
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.err.find("messages[1].photometry[0].bandpass"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("messages[0]."), std::string::npos) << r.err;
  EXPECT_EQ(store().Int("SELECT count(*) FROM outbox"), 0);

  // A valid message, validated only.
  r = d().Tomctl(With(PublishArgs("SN 2026dry"), {"--dry-run"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("valid: 1 message (nothing queued)"), std::string::npos) << r.out;
  EXPECT_EQ(store().Int("SELECT count(*) FROM outbox"), 0);

  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(fake().Requests(), 0);
  EXPECT_TRUE(fake().Messages().empty());
  EXPECT_EQ(JsonInt(OutboxStatus().value("pending", json(0))), 0);
  EXPECT_TRUE(d().Stop());
}

// ---------------------------------------------------------------- 10. idempotency
TEST_F(OutboxHermesTest, RepeatedPublishReturnsTheFirstEntry) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const auto args = PublishArgs("SN 2026same");
  const std::string uuid = PublishOne(args);
  ASSERT_FALSE(uuid.empty());
  ASSERT_TRUE(WaitState(uuid, kDelivered));

  // The same message again: the first entry, already delivered.
  RunResult r = d().Tomctl(args);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("already queued " + uuid), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("delivered"), std::string::npos) << r.out;
  json again = PublishJson(args);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].value("duplicate", false));
  EXPECT_EQ(again[0].value("uuid", ""), uuid);
  EXPECT_EQ(again[0].value("state", ""), "OUTBOX_STATE_DELIVERED");
  EXPECT_EQ(Count(), 1);

  // With an idempotency key the key decides, not the body.
  const std::string keyed =
      PublishOne(With(PublishArgs("SN 2026same", "17.25"), {"--idempotency-key", "obs-42"}));
  ASSERT_FALSE(keyed.empty());
  EXPECT_NE(keyed, uuid);
  again = PublishJson(With(PublishArgs("SN 2026same", "16.75"), {"--idempotency-key", "obs-42"}));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].value("duplicate", false));
  EXPECT_EQ(again[0].value("uuid", ""), keyed);
  EXPECT_EQ(Count(), 2);
  ASSERT_TRUE(WaitState(keyed, kDelivered));

  std::this_thread::sleep_for(500ms);
  const json messages = fake().Messages();
  ASSERT_EQ(messages.size(), 2u) << messages.dump();
  EXPECT_DOUBLE_EQ(messages[0]["body"]["data"]["photometry"][0].value("brightness", 0.0), 18.5);
  // The keyed entry keeps the first body.
  EXPECT_DOUBLE_EQ(messages[1]["body"]["data"]["photometry"][0].value("brightness", 0.0), 17.25);
  const json e = Show(keyed);
  EXPECT_EQ(e.value("idempotency_key", ""), "obs-42");
  EXPECT_EQ(json::parse(e.value("body_json", "{}")), messages[1]["body"]);
  EXPECT_EQ(fake().Requests(), 2);
  EXPECT_TRUE(d().Stop());
}

// ---------------------------------------------------------------- 11. cancel
TEST_F(OutboxHermesTest, CancelledEntryIsNeverSent) {
  DestinationOptions o;
  o.max_in_flight = 1;
  o.request_timeout_ms = 4000;
  ASSERT_NO_FATAL_FAILURE(StartAll(o));
  fake().SetMode("hang");
  const std::string first = PublishOne(PublishArgs("SN 2026one"));
  ASSERT_FALSE(first.empty());
  // The first is out (hanging); with one in flight the others wait.
  ASSERT_TRUE(WaitState(first, kSending));
  ASSERT_TRUE(WaitUntil([&] { return fake().Requests() >= 1; }, 10s));
  const std::string second = PublishOne(PublishArgs("SN 2026two"));
  const std::string third = PublishOne(PublishArgs("SN 2026three"));
  ASSERT_FALSE(second.empty());
  ASSERT_FALSE(third.empty());
  ASSERT_EQ(State(third), kPending);

  std::string error;
  auto cancelled = d().TomctlJson({"outbox", "cancel", third}, &error);
  ASSERT_TRUE(cancelled.has_value()) << error;
  EXPECT_EQ(cancelled->value("state", ""), "OUTBOX_STATE_CANCELLED") << cancelled->dump();
  EXPECT_EQ(State(third), kCancelled);

  // An entry being sent cannot be cancelled.
  if (State(first) == kSending) {
    RunResult r = d().Tomctl({"outbox", "cancel", first});
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_NE(r.err.find("FAILED_PRECONDITION"), std::string::npos) << r.err;
  }

  fake().SetMode("ok");
  ASSERT_TRUE(WaitState(first, kDelivered));
  ASSERT_TRUE(WaitState(second, kDelivered));
  std::this_thread::sleep_for(800ms);
  EXPECT_EQ(State(third), kCancelled);
  EXPECT_EQ(Attempts(third), 0);
  int n = 0;
  EXPECT_FALSE(MessageTitled("Photometry of SN 2026three", &n).has_value());
  EXPECT_TRUE(MessageTitled("Photometry of SN 2026one", &n).has_value());
  EXPECT_EQ(n, 1);
  EXPECT_TRUE(MessageTitled("Photometry of SN 2026two", &n).has_value());
  EXPECT_EQ(n, 1);
  EXPECT_EQ(fake().Messages().size(), 2u);

  // A delivered entry cannot be cancelled either.
  RunResult r = d().Tomctl({"outbox", "cancel", first});
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.err.find("FAILED_PRECONDITION"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("delivered"), std::string::npos) << r.err;
  EXPECT_EQ(State(first), kDelivered);
  const json s = OutboxStatus();
  EXPECT_EQ(JsonInt(s.value("cancelled", json(0))), 1) << s.dump();
  EXPECT_EQ(JsonInt(s.value("delivered", json(0))), 2) << s.dump();
  EXPECT_TRUE(d().Stop());
}

// ---------------------------------------------------------------- 12. kill -9
TEST_F(OutboxHermesTest, KillDuringRetriesLosesNothing) {
  DestinationOptions o;
  o.request_timeout_ms = 20000;  // hanging requests stay `sending` until the kill
  o.retry_initial_ms = 100;
  o.retry_max_ms = 200;
  ASSERT_NO_FATAL_FAILURE(StartAll(o));
  fake().SetMode("500");

  constexpr int kN = 6;
  const std::string csv = d().dir() + "/six.csv";
  std::string rows = "target_name,ra,dec,date_obs,filter,telescope,magnitude\n";
  for (int i = 0; i < kN; ++i) {
    rows += "SN 2026k" + std::to_string(i) + "," + std::to_string(150 + i) +
            ",-20.5,2460000.5,g,LCO-1m,18." + std::to_string(i) + "\n";
  }
  testing::WriteFile(csv, rows);
  const json results = PublishJson({"publish", "photometry", "--destination", kDestination,
                                    "--topic", kTopic, "--submitter", "tomstream-test", "--file",
                                    csv});
  ASSERT_EQ(results.size(), static_cast<size_t>(kN)) << results.dump();

  // Every entry failed at least twice.
  ASSERT_TRUE(WaitUntil([&] { return Count("attempts >= 2") == kN; }, kWait))
      << "entries with 2+ attempts: " << Count("attempts >= 2");
  // Then the server hangs: the entry out at that moment stays `sending`. (While a destination
  // fails, the publisher sends one entry at a time, whatever max_in_flight says.)
  fake().SetMode("hang");
  ASSERT_TRUE(WaitUntil([&] { return Count("state = 2") == 1; }, 10s))
      << "sending: " << Count("state = 2");
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(Count("state = 2"), 1);

  const auto before = store().Query("SELECT id, hex(uuid), state, title FROM outbox ORDER BY id");
  ASSERT_EQ(before.size(), static_cast<size_t>(kN));
  ASSERT_TRUE(d().Kill());
  const auto at_kill = store().Query("SELECT id, hex(uuid), state, attempts FROM outbox ORDER BY id");
  ASSERT_EQ(at_kill.size(), static_cast<size_t>(kN));
  std::set<std::string> sending_at_kill;
  for (const Row& row : at_kill) {
    if (Text(row[2]) == std::to_string(kSending)) sending_at_kill.insert(Text(row[1]));
    EXPECT_NE(Text(row[2]), std::to_string(kDelivered));
    EXPECT_NE(Text(row[2]), std::to_string(kDead));
  }
  EXPECT_EQ(sending_at_kill.size(), 1u);

  fake().SetMode("ok");
  ASSERT_TRUE(d().Start());
  ASSERT_TRUE(WaitUntil([&] { return Count("state = 3") == kN; }, kWait))
      << "delivered: " << Count("state = 3") << " of " << kN;
  EXPECT_NE(d().Logs().find("sending them again with the same ids"), std::string::npos);

  // Same entries, same uuids; each delivered exactly once (faults record nothing at the fake).
  const auto after = store().Query(
      "SELECT id, hex(uuid), state, title, hermes_uuid, body FROM outbox ORDER BY id");
  ASSERT_EQ(after.size(), static_cast<size_t>(kN));
  std::this_thread::sleep_for(500ms);
  const json messages = fake().Messages();
  EXPECT_EQ(messages.size(), static_cast<size_t>(kN)) << messages.dump();
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(Text(after[i][0]), Text(before[i][0]));
    EXPECT_EQ(Text(after[i][1]), Text(before[i][1])) << "the uuid of entry " << Text(after[i][0])
                                                     << " changed";
    const std::string title = Text(after[i][3]);
    int n = 0;
    auto m = MessageTitled(title, &n);
    ASSERT_TRUE(m.has_value()) << "never delivered: " << title;
    EXPECT_EQ(n, 1) << title;
    EXPECT_EQ((*m)["uuid"].get<std::string>(), Text(after[i][4])) << title;
    EXPECT_EQ((*m)["body"], json::parse(Text(after[i][5]))) << title;
  }
  for (const std::string& hex : sending_at_kill) {
    EXPECT_EQ(store().Int("SELECT state FROM outbox WHERE hex(uuid) = ?", {hex}), kDelivered)
        << hex;
  }
  EXPECT_TRUE(d().Stop());
}

// A store that cannot grow (store.max_size_mb, standing in for a full disk): the enqueue that
// does not fit is refused with an error, nothing of it is stored, everything acknowledged
// before stays intact, and once there is room again (a restart without the limit) every
// acknowledged entry is delivered.
TEST_F(OutboxHermesTest, FullStoreRefusesTheEnqueueAndLosesNothingStored) {
  ASSERT_NO_FATAL_FAILURE(StartAll({}, kToken, "max_size_mb = 1\n"));
  int64_t acknowledged = 0;
  std::string refusal;
  for (int batch = 0; batch < 100 && refusal.empty(); ++batch) {
    std::string rows = "target_name,ra,dec,date_obs,bandpass,telescope,brightness\n";
    for (int i = 0; i < 100; ++i) {
      rows += "Full-" + std::to_string(batch) + "-" + std::to_string(i) +
              ",150.1,-20.5,2460000.5,g,LCO-1m,18.5\n";
    }
    const std::string csv = d().dir() + "/full.csv";
    testing::WriteFile(csv, rows);
    RunResult r = d().Tomctl({"--json", "publish", "photometry", "--destination", kDestination,
                              "--topic", kTopic, "--submitter", "tomstream-test", "--file", csv});
    if (r.status == 0) {
      acknowledged += static_cast<int64_t>(json::parse(r.out)["results"].size());
    } else {
      refusal = r.err;
    }
  }
  ASSERT_FALSE(refusal.empty()) << "1 MiB never filled up";
  EXPECT_NE(refusal.find("RESOURCE_EXHAUSTED"), std::string::npos) << refusal;
  ASSERT_GT(acknowledged, 0);
  EXPECT_EQ(Count(), acknowledged) << "the refused batch left entries behind, or lost some";
  EXPECT_TRUE(d().Running()) << d().LogTail();
  auto status = d().TomctlJson({"status"});
  ASSERT_TRUE(status.has_value()) << "status must still answer";

  // Room again: a restart without the limit; every acknowledged entry is there and delivered.
  ASSERT_TRUE(d().Stop());
  d().Configure({}, "", DestinationToml(fake().base_url(), {}));
  ASSERT_TRUE(d().Start());
  EXPECT_EQ(Count(), acknowledged);
  EXPECT_TRUE(WaitUntil([&] { return Count("state = 3") == acknowledged; }, kWait, 100ms))
      << Count("state = 3") << " of " << acknowledged << " delivered";
  EXPECT_EQ(fake().Stats().value("accepted", -1), acknowledged);
}

// A stop while Hermes hangs is not held up by the request timeout: the request is abandoned
// (the entry stays pending and is sent after the next start).
TEST_F(OutboxHermesTest, StopWhileHermesHangsIsPrompt) {
  DestinationOptions o;
  o.request_timeout_ms = 60000;
  ASSERT_NO_FATAL_FAILURE(StartAll(o));
  fake().SetMode("hang");
  const std::string uuid = PublishOne({"publish", "photometry", "--destination", kDestination,
                                       "--topic", kTopic, "--submitter", "tomstream-test",
                                       "--target", "SN 2026hang", "--ra", "150.1", "--dec", "-20.5",
                                       "--date-obs", "2460000.5", "--bandpass", "g", "--telescope",
                                       "LCO-1m", "--brightness", "18.5"});
  ASSERT_TRUE(WaitState(uuid, kSending));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(d().Stop(std::chrono::seconds(9)));  // the daemon's shutdown budget is 10 s
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(6));
  EXPECT_EQ(State(uuid), kPending) << "an abandoned send is sent again later";
  fake().SetMode("ok");
  ASSERT_TRUE(d().Start());
  EXPECT_TRUE(WaitState(uuid, kDelivered));
}

}  // namespace
}  // namespace tomstream::integration
