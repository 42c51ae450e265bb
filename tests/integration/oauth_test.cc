// NASA GCN Kafka's authentication, end to end: tomstreamd (the real binary) consuming through
// the test broker's OAUTHBEARER listener (tests/kafka/broker.sh, env KAFKA_OAUTH) with tokens it
// fetches itself from an OAuth 2.0 client-credentials token endpoint run by this test.
//
// The endpoint issues unsigned JWTs ({"alg":"none"}; claims sub, iat, exp), which the broker's
// built-in unsecured validator accepts until "exp". The broker also closes every connection once
// the token it was authenticated with has expired, so the daemon keeps consuming only if it
// renews its token before expiry and reconnects with the new one.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>

#include "kafka_env.h"
#include "notify_listener.h"
#include "subprocess.h"

namespace tomstream::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kTokenLifetimeS = 6;  // expires_in and exp - iat of every token issued
const std::string kClientId = "tomstream-oauth-client";
const std::string kClientSecret = "oauth-test-secret-Zq7x";  // must never show up anywhere
const std::string kPrincipal = "tomstream-test";

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds limit,
               std::chrono::milliseconds poll = 200ms) {
  const auto deadline = Clock::now() + limit;
  while (true) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

std::string Base64(const std::string& in, bool url) {
  static const char* const kStd =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static const char* const kUrl =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* const table = url ? kUrl : kStd;
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<unsigned char>(in[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(in[i + 1])} << 8) |
                       uint32_t{static_cast<unsigned char>(in[i + 2])};
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint32_t{static_cast<unsigned char>(in[i])} << 16;
    if (i + 1 < in.size()) v |= uint32_t{static_cast<unsigned char>(in[i + 1])} << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    if (i + 1 < in.size()) out += table[(v >> 6) & 63];
    if (!url) out += i + 1 < in.size() ? "=" : "==";
  }
  return out;
}

std::string Base64Decode(const std::string& in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+' || c == '-') v = 62;
    else if (c == '/' || c == '_') v = 63;
    if (v < 0) continue;  // padding
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// int64 fields of protobuf JSON are strings; accept both.
int64_t JsonInt(const json& j) {
  if (j.is_number()) return j.get<int64_t>();
  if (j.is_string()) return std::stoll(j.get<std::string>());
  return 0;
}

// ------------------------------------------------------------------------------ token endpoint
// An OAuth 2.0 token endpoint on 127.0.0.1 (plain HTTP, one request per connection, served one
// after the other on its own thread). It answers a client-credentials POST with an unsigned JWT
// the broker accepts, or with HTTP 401 when told to or when the credentials are wrong.
class TokenEndpoint {
 public:
  struct Issued {
    int64_t at_ms = 0;          // when the request was answered
    int64_t expires_at_ms = 0;  // at_ms + expires_in (0: no token issued)
    int64_t exp_ms = 0;         // the token's "exp" claim, rounded up to whole seconds
    bool credentials_ok = false;
  };

  TokenEndpoint() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        listen(listen_fd_, 16) != 0 || pipe2(stop_, O_CLOEXEC) != 0) {
      throw std::runtime_error(std::string("token endpoint: ") + std::strerror(errno));
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TokenEndpoint() {
    const char c = 'x';
    (void)!write(stop_[1], &c, 1);
    thread_.join();
    close(listen_fd_);
    close(stop_[0]);
    close(stop_[1]);
  }
  TokenEndpoint(const TokenEndpoint&) = delete;
  TokenEndpoint& operator=(const TokenEndpoint&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/oauth2/token"; }
  void set_reject(bool reject) { reject_ = reject; }

  std::vector<Issued> issued() const {
    std::lock_guard lock(mu_);
    return issued_;
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return issued_.size();
  }
  std::string problems() const {
    std::lock_guard lock(mu_);
    return problems_;
  }

 private:
  // Waits until `fd` is readable; false when stopped or at the deadline.
  bool WaitReadable(int fd, Clock::time_point deadline) const {
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) return false;
      pollfd fds[2] = {{fd, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      const int n = poll(fds, 2, static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || (fds[1].revents & POLLIN) != 0) return false;
      return true;
    }
  }

  void Serve() {
    while (true) {
      if (!WaitReadable(listen_fd_, Clock::now() + 24h)) return;
      const int conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      Handle(conn);
      close(conn);
    }
  }

  static std::string FormDecode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        out += ' ';
      } else if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  }

  void Handle(int conn) {
    const auto deadline = Clock::now() + 10s;
    std::string data;
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    char buf[4096];
    while (header_end == std::string::npos || data.size() < header_end + 4 + content_length) {
      if (data.size() > (1u << 20) || !WaitReadable(conn, deadline)) return;
      const ssize_t n = read(conn, buf, sizeof buf);
      if (n <= 0) return;
      data.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos && (header_end = data.find("\r\n\r\n")) != std::string::npos) {
        std::string head = data.substr(0, header_end);
        std::transform(head.begin(), head.end(), head.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        const auto cl = head.find("\r\ncontent-length:");
        if (cl != std::string::npos) content_length = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
      }
    }
    const std::string request_line = data.substr(0, data.find("\r\n"));
    std::map<std::string, std::string> form;
    const std::string body = data.substr(header_end + 4, content_length);
    for (size_t start = 0; start < body.size();) {
      size_t amp = body.find('&', start);
      if (amp == std::string::npos) amp = body.size();
      const std::string pair = body.substr(start, amp - start);
      const auto eq = pair.find('=');
      if (eq != std::string::npos) form[FormDecode(pair.substr(0, eq))] = FormDecode(pair.substr(eq + 1));
      start = amp + 1;
    }

    Issued issued;
    issued.credentials_ok = request_line.rfind("POST /oauth2/token ", 0) == 0 &&
                            form["grant_type"] == "client_credentials" &&
                            form["client_id"] == kClientId && form["client_secret"] == kClientSecret;
    std::string status = "200 OK";
    std::string response_body;
    const int64_t now_ms = NowMillis();
    // "exp" in whole seconds, rounded up: the token is valid at least as long as expires_in says.
    const int64_t exp_s = (now_ms + kTokenLifetimeS * 1000 + 999) / 1000;
    if (reject_ || !issued.credentials_ok) {
      status = "401 Unauthorized";
      response_body = R"({"error":"invalid_client"})";
      if (!reject_) {
        std::lock_guard lock(mu_);
        problems_ += "unexpected request: " + request_line + " (form fields: " +
                     std::to_string(form.size()) + ")\n";
      }
    } else {
      const json header = {{"alg", "none"}};
      const json claims = {{"sub", kPrincipal}, {"iat", now_ms / 1000}, {"exp", exp_s}};
      const std::string jwt = Base64(header.dump(), true) + "." + Base64(claims.dump(), true) + ".";
      response_body = json{{"access_token", jwt},
                           {"token_type", "Bearer"},
                           {"expires_in", kTokenLifetimeS}}
                          .dump();
      issued.exp_ms = exp_s * 1000;
    }
    const std::string response = "HTTP/1.1 " + status +
                                 "\r\nContent-Type: application/json\r\nContent-Length: " +
                                 std::to_string(response_body.size()) +
                                 "\r\nConnection: close\r\n\r\n" + response_body;
    size_t sent = 0;
    while (sent < response.size()) {
      const ssize_t n = send(conn, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    issued.at_ms = NowMillis();
    if (issued.exp_ms > 0) issued.expires_at_ms = issued.at_ms + kTokenLifetimeS * 1000;
    std::lock_guard lock(mu_);
    issued_.push_back(issued);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  int stop_[2] = {-1, -1};
  std::atomic<bool> reject_{false};
  mutable std::mutex mu_;
  std::vector<Issued> issued_;  // GUARDED_BY(mu_)
  std::string problems_;        // GUARDED_BY(mu_)
  std::thread thread_;
};

// ------------------------------------------------------------------------------------ producer
// A PLAINTEXT producer that waits for every delivery report.
class Producer {
 public:
  explicit Producer(const test::KafkaEnv& env) {
    test::KafkaConfPtr conf = test::make_kafka_conf(env, test::KafkaListener::kPlaintext);
    test::conf_set(conf.get(), "enable.idempotence", "true");
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), [](rd_kafka_t*, const rd_kafka_message_t* m, void* op) {
      auto* self = static_cast<Producer*>(op);
      std::lock_guard lock(self->mu_);
      ++self->reported_;
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) self->errors_ += rd_kafka_err2str(m->err) + std::string("; ");
    });
    rk_ = test::make_producer(std::move(conf));
  }

  ::testing::AssertionResult Send(const std::string& topic, const std::vector<std::string>& payloads) {
    for (const std::string& p : payloads) {
      rd_kafka_vu_t vus[3] = {};
      vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vus[0].u.cstr = topic.c_str();
      vus[1].vtype = RD_KAFKA_VTYPE_VALUE;
      vus[1].u.mem.ptr = const_cast<char*>(p.data());
      vus[1].u.mem.size = p.size();
      vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vus[2].u.i32 = RD_KAFKA_MSG_F_COPY;
      test::KafkaErrorPtr error(rd_kafka_produceva(rk_.get(), vus, 3));
      if (error) {
        return ::testing::AssertionFailure() << "produce: " << rd_kafka_error_string(error.get());
      }
      ++queued_;
    }
    rd_kafka_flush(rk_.get(), 30000);
    std::lock_guard lock(mu_);
    if (reported_ != queued_ || !errors_.empty()) {
      return ::testing::AssertionFailure()
             << reported_ << " of " << queued_ << " delivery reports; errors: " << errors_;
    }
    return ::testing::AssertionSuccess();
  }

 private:
  std::mutex mu_;
  size_t reported_ = 0;  // GUARDED_BY(mu_)
  std::string errors_;   // GUARDED_BY(mu_)
  size_t queued_ = 0;
  test::KafkaPtr rk_;
};

// ---------------------------------------------------------------------------------------- test
class OauthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = test::KafkaEnv::from_environment();
    const auto it = env_.values.find("KAFKA_OAUTH");
    ASSERT_TRUE(it != env_.values.end() && !it->second.empty())
        << env_.path << " has no KAFKA_OAUTH: the broker was started by an older broker.sh";
    oauth_bootstrap_ = it->second;
    dir_ = MakeTempDir("tso");
    socket_ = dir_ + "/run/control.sock";
    config_ = dir_ + "/tomstreamd.toml";
    static int counter = 0;  // one stream name (and consumer group) per test case
    stream_ = "gcn-oauth-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    topic_ = test::unique_topic("oauth");
  }
  void TearDown() override {
    if (daemon_ && daemon_->Running()) {
      daemon_->Signal(SIGTERM);
      if (!daemon_->Wait(20s)) ADD_FAILURE() << "tomstreamd still running 20 s after SIGTERM";
    }
    if (HasFailure() && daemon_) {
      std::cerr << "---- tomstreamd stderr (" << dir_ << ") ----\n" << daemon_->Stderr() << "----\n";
    }
    daemon_.reset();
    notify_.reset();
    if (!HasFailure() && !dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void WriteConfig(const std::string& token_endpoint) {
    WriteFile(config_,
              "[daemon]\nlog_level = \"debug\"\nshutdown_timeout_ms = 10000\n"
              "[store]\npath = \"" + dir_ + "/state/tomstream.db\"\n"
              "[control]\nsocket = \"" + socket_ + "\"\n"
              "[[stream]]\n"
              "name = \"" + stream_ + "\"\n"
              "url = \"kafka://" + oauth_bootstrap_ + "/\"\n"
              "security = \"oauthbearer\"\n"
              "tls = false\n"
              "token_endpoint = \"" + token_endpoint + "\"\n"
              "client_id = \"" + kClientId + "\"\n"
              "client_secret = \"" + kClientSecret + "\"\n"
              "start = \"earliest\"\n"
              "topic_refresh_ms = 1000\n"
              "  [[stream.route]]\n"
              "  topic = \"" + topic_ + "\"\n"
              "  handler = \"raw\"\n");
  }

  ::testing::AssertionResult StartDaemon() {
    notify_ = std::make_unique<NotifyListener>(dir_ + "/notify.sock");
    daemon_ = std::make_unique<Subprocess>(
        std::vector<std::string>{TOMSTREAMD_BIN, "--config", config_}, dir_,
        std::map<std::string, std::string>{{"NOTIFY_SOCKET", notify_->path()}});
    if (!notify_->WaitFor("READY=1", 30s)) {
      return ::testing::AssertionFailure() << "no READY=1 within 30 s; stderr:\n" << daemon_->Stderr();
    }
    return ::testing::AssertionSuccess();
  }

  RunResult Tomctl(std::vector<std::string> args) {
    std::vector<std::string> argv{TOMCTL_BIN, "--socket", socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, dir_, 30s);
  }

  // The stream's entry of `tomctl --json status` (null when tomctl fails or has no such stream).
  json StreamStatus(std::string* raw = nullptr) {
    RunResult r = Tomctl({"--json", "status"});
    if (raw != nullptr) *raw = r.out + r.err;
    if (r.status != 0) return nullptr;
    const json s = json::parse(r.out, nullptr, false);
    if (!s.is_object() || !s.contains("streams")) return nullptr;
    for (const json& st : s["streams"]) {
      if (st.value("name", "") == stream_) return st;
    }
    return nullptr;
  }

  // Payloads of the alerts stored for the test topic, via `tomctl --json alerts ls --payload`.
  std::multiset<std::string> StoredPayloads() {
    RunResult r = Tomctl({"--json", "alerts", "ls", "--stream", stream_, "--topic", topic_,
                          "--limit", "1000", "--payload"});
    std::multiset<std::string> out;
    if (r.status != 0) return out;
    const json j = json::parse(r.out, nullptr, false);
    if (!j.is_object() || !j.contains("alerts")) return out;
    for (const json& a : j["alerts"]) out.insert(Base64Decode(a.value("payload", "")));
    return out;
  }

  ::testing::AssertionResult WaitStored(const std::multiset<std::string>& expected,
                                        std::chrono::milliseconds limit) {
    std::multiset<std::string> got;
    if (WaitUntil([&] { return (got = StoredPayloads()) == expected; }, limit, 500ms)) {
      return ::testing::AssertionSuccess();
    }
    auto failure = ::testing::AssertionFailure();
    failure << "stored " << got.size() << " of " << expected.size() << " messages after "
            << std::chrono::duration_cast<std::chrono::seconds>(limit).count() << " s;";
    std::string raw;
    failure << " stream status: " << StreamStatus(&raw).dump();
    return failure;
  }

  test::KafkaEnv env_;
  std::string oauth_bootstrap_, dir_, socket_, config_, stream_, topic_;
  std::unique_ptr<NotifyListener> notify_;
  std::unique_ptr<Subprocess> daemon_;
};

TEST_F(OauthTest, ConsumesWithClientCredentialsTokensAndRenewsThemBeforeExpiry) {
  TokenEndpoint endpoint;
  Producer producer(env_);
  {
    // The topic exists before the daemon starts (created through PLAINTEXT).
    test::KafkaPtr admin = test::make_producer(test::make_kafka_conf(env_, test::KafkaListener::kPlaintext));
    test::create_topic(admin.get(), topic_);
  }
  WriteConfig(endpoint.url());
  ASSERT_TRUE(StartDaemon());
  const auto started = Clock::now();
  const int64_t ready_ms = NowMillis();

  std::multiset<std::string> expected;
  std::vector<std::string> first;
  for (int i = 0; i < 5; ++i) first.push_back("oauth message " + std::to_string(i));
  ASSERT_TRUE(producer.Send(topic_, first));
  expected.insert(first.begin(), first.end());
  ASSERT_TRUE(WaitStored(expected, 60s));
  ASSERT_GE(endpoint.count(), 1u);
  EXPECT_EQ(endpoint.problems(), "");
  // The first token is fetched at once (on librdkafka's background thread), not once the
  // consumer thread gets round to polling.
  EXPECT_LT(endpoint.issued()[0].at_ms - ready_ms, 3000);

  // librdkafka asks for a new token at 80% of the old one's lifetime: the endpoint is asked
  // again before the first token expires.
  ASSERT_TRUE(WaitUntil([&] { return endpoint.count() >= 2; }, 30s))
      << "the token endpoint was asked " << endpoint.count() << " time(s) in "
      << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count()
      << " s; tokens live " << kTokenLifetimeS << " s";
  {
    const auto issued = endpoint.issued();
    EXPECT_LT(issued[1].at_ms, issued[0].expires_at_ms)
        << "second token fetched " << issued[1].at_ms - issued[0].at_ms
        << " ms after the first, which expired after " << kTokenLifetimeS << " s";
  }

  // Past a token's expiry the broker has closed the connections authenticated with it. Twice (the
  // first token, then the second): the daemon must go on consuming over connections it
  // authenticated again with a renewed token.
  for (size_t round = 0; round < 2; ++round) {
    ASSERT_TRUE(WaitUntil(
        [&] {
          const auto issued = endpoint.issued();
          return issued.size() > round + 1 && NowMillis() > issued[round].exp_ms + 1500;
        },
        30s))
        << "token " << round << " not renewed or not expired; fetches: " << endpoint.count();
    std::vector<std::string> batch;
    for (int i = 0; i < 5; ++i) {
      batch.push_back("after token " + std::to_string(round) + " expired: " + std::to_string(i));
    }
    ASSERT_TRUE(producer.Send(topic_, batch));
    expected.insert(batch.begin(), batch.end());
    ASSERT_TRUE(WaitStored(expected, 60s)) << "round " << round;
  }

  const auto issued = endpoint.issued();
  std::string timeline;
  for (const auto& t : issued) {
    timeline += " +" + std::to_string(t.at_ms - issued[0].at_ms) + "ms";
  }
  RecordProperty("token_fetches", static_cast<int>(issued.size()));
  RecordProperty("token_fetch_times", timeline);
  std::cout << "token endpoint asked " << issued.size() << " times, at" << timeline << "\n";
  EXPECT_EQ(endpoint.problems(), "");
  for (size_t i = 1; i < issued.size(); ++i) {
    // Every renewal came before the previous token expired: no gap without a valid token.
    EXPECT_LT(issued[i].at_ms, issued[i - 1].expires_at_ms) << "fetch " << i << ":" << timeline;
  }

  // Connected, with every message counted (the counters follow the store asynchronously).
  std::string raw_status;
  json st;
  EXPECT_TRUE(WaitUntil(
      [&] {
        st = StreamStatus(&raw_status);
        return st.is_object() && st.value("state", "") == "STREAM_STATE_CONNECTED" &&
               JsonInt(st["stored"]) == static_cast<int64_t>(expected.size());
      },
      30s))
      << raw_status;
  EXPECT_EQ(st.value("security", ""), "oauthbearer");

  // The client secret is nowhere: not in the daemon's log, not in status (JSON or text).
  EXPECT_EQ(raw_status.find(kClientSecret), std::string::npos) << raw_status;
  RunResult text = Tomctl({"status"});
  EXPECT_EQ(text.status, 0) << text.err;
  EXPECT_EQ((text.out + text.err).find(kClientSecret), std::string::npos) << text.out;
  daemon_->Signal(SIGTERM);
  const auto code = daemon_->Wait(20s);
  ASSERT_TRUE(code.has_value()) << "still running 20 s after SIGTERM";
  EXPECT_EQ(*code, 0);
  const std::string log = daemon_->Stderr() + daemon_->Stdout();
  EXPECT_EQ(log.find(kClientSecret), std::string::npos) << "the client secret is in the log";
  EXPECT_NE(log.find("OAUTHBEARER token refreshed"), std::string::npos);
}

TEST_F(OauthTest, RejectedCredentialsLeaveTheDaemonUpAndTheStreamNotConnected) {
  TokenEndpoint endpoint;
  endpoint.set_reject(true);  // HTTP 401 for everything
  WriteConfig(endpoint.url());
  ASSERT_TRUE(StartDaemon());

  const auto mentions_endpoint = [&](const json& st) {
    return st.is_object() && st.value("state", "") != "STREAM_STATE_CONNECTED" &&
           st.value("last_error", "").find(endpoint.url()) != std::string::npos;
  };
  json st;
  ASSERT_TRUE(WaitUntil([&] { return mentions_endpoint(st = StreamStatus()); }, 30s))
      << "stream status: " << st.dump();
  EXPECT_GE(endpoint.count(), 1u);
  EXPECT_NE(st.value("last_error", "").find("401"), std::string::npos) << st.dump();

  // It stays that way (metadata requests time out meanwhile; the cause must stay visible), the
  // daemon stays up and tomctl answers.
  std::this_thread::sleep_for(8s);
  ASSERT_TRUE(daemon_->Running()) << daemon_->Stderr();
  std::string raw_status;
  st = StreamStatus(&raw_status);
  EXPECT_TRUE(mentions_endpoint(st)) << raw_status;
  std::cout << "with HTTP 401 from the token endpoint: state " << st.value("state", "?")
            << ", last_error \"" << st.value("last_error", "") << "\"\n";
  EXPECT_EQ(raw_status.find(kClientSecret), std::string::npos) << raw_status;
  RunResult version = Tomctl({"--json", "version"});
  EXPECT_EQ(version.status, 0) << version.err;

  daemon_->Signal(SIGTERM);
  const auto code = daemon_->Wait(20s);
  ASSERT_TRUE(code.has_value()) << "still running 20 s after SIGTERM";
  EXPECT_EQ(*code, 0);
  EXPECT_EQ((daemon_->Stderr() + daemon_->Stdout()).find(kClientSecret), std::string::npos)
      << "the client secret is in the log";
}

}  // namespace
}  // namespace tomstream::testing
