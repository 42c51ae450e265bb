// The daemon under systemd's protocols, spoken for real: a test-owned NOTIFY_SOCKET receives
// READY/STATUS/WATCHDOG/RELOADING/STOPPING; SIGHUP reloads; systemd-socket-activate passes the
// control socket. No broker: streams point at a closed loopback port, which keeps their
// consumer loops running (and reconnecting) without one.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "daemon_fixture.h"

namespace tomstream::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// A stream and a Hermes destination that nothing answers for, on 127.0.0.1 only.
std::string Stream(const std::string& name, const std::string& topic) {
  return "[[stream]]\nname = \"" + name + "\"\nurl = \"kafka://127.0.0.1:9/\"\n"
         "[[stream.route]]\ntopic = \"" + topic + "\"\nhandler = \"raw\"\n";
}
std::string Destination(const std::string& name) {
  return "[[destination]]\nname = \"" + name + "\"\nkind = \"hermes\"\n"
         "base_url = \"http://127.0.0.1:9/\"\napi_key = \"not-a-real-key\"\n"
         "topics = [\"hermes.test\"]\n";
}

// The index of the first datagram at or after `from` that has the line `line`, or -1.
int IndexOf(const std::vector<std::string>& datagrams, const std::string& line, size_t from = 0) {
  for (size_t i = from; i < datagrams.size(); ++i) {
    const std::string& d = datagrams[i];
    size_t pos = 0;
    while (pos <= d.size()) {
      const size_t end = std::min(d.find('\n', pos), d.size());
      if (d.compare(pos, end - pos, line) == 0) return static_cast<int>(i);
      pos = end + 1;
    }
  }
  return -1;
}

// Collects datagrams for `window` and counts those with the line `line`.
int CountDuring(NotifyListener& notify, const std::string& line,
                std::chrono::milliseconds window) {
  const auto until = std::chrono::steady_clock::now() + window;
  int n = 0;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left <= 0ms) return n;
    auto d = notify.Next(left);
    if (d && IndexOf({*d}, line) == 0) ++n;
  }
}

class SystemdProtocolTest : public DaemonProcessTest {
 protected:
  json Status() {
    RunResult r = TomctlHere({"--json", "status"});
    EXPECT_EQ(r.status, 0) << r.err;
    return r.status == 0 ? json::parse(r.out) : json::object();
  }
  static std::vector<std::string> StreamNames(const json& status) {
    std::vector<std::string> out;
    for (const auto& s : status.value("streams", json::array())) out.push_back(s["name"]);
    return out;
  }
  static std::vector<std::string> DestinationNames(const json& status) {
    std::vector<std::string> out;
    for (const auto& d : status["outbox"].value("destinations", json::array())) {
      out.push_back(d["name"]);
    }
    return out;
  }
};

TEST_F(SystemdProtocolTest, NotifyMessagesComeInOrderAtTheirMoments) {
  WriteConfig(Stream("alpha", "a.topic") + Destination("hermes"));
  ASSERT_TRUE(StartDaemon({{"WATCHDOG_USEC", "2000000"}}));
  // READY=1 carries a STATUS= line, and the socket answers by then.
  const auto& got = notify_->received();
  const int ready = IndexOf(got, "READY=1");
  ASSERT_GE(ready, 0);
  EXPECT_NE(got[static_cast<size_t>(ready)].find("STATUS=serving " + socket_), std::string::npos)
      << got[static_cast<size_t>(ready)];
  EXPECT_EQ(IndexOf(got, "WATCHDOG=1"), -1) << "a watchdog ping before READY=1";
  ASSERT_EQ(TomctlHere({"version"}).status, 0);

  // Pings every quarter of WATCHDOG_USEC (500 ms) while all is well.
  EXPECT_GE(CountDuring(*notify_, "WATCHDOG=1", 2500ms), 3);

  // SIGHUP: RELOADING=1 with the monotonic time, then READY=1.
  const size_t before_hup = notify_->received().size();
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(notify_->WaitFor("READY=1", 10s)) << daemon_->Stderr();
  const int reloading = IndexOf(notify_->received(), "RELOADING=1", before_hup);
  ASSERT_GE(reloading, 0) << "no RELOADING=1 before the READY=1 that ended the reload";
  const std::string& r = notify_->received()[static_cast<size_t>(reloading)];
  EXPECT_NE(r.find("MONOTONIC_USEC="), std::string::npos) << r;
  EXPECT_LT(reloading, IndexOf(notify_->received(), "READY=1", before_hup));

  // SIGTERM: STOPPING=1, then the process exits 0 and no ping follows STOPPING=1.
  daemon_->Signal(SIGTERM);
  ASSERT_TRUE(notify_->WaitFor("STOPPING=1", 5s));
  const size_t stopping = notify_->received().size() - 1;
  const auto code = daemon_->Wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << daemon_->Stderr();
  while (notify_->Next(100ms)) {
  }
  EXPECT_EQ(IndexOf(notify_->received(), "WATCHDOG=1", stopping + 1), -1);
  EXPECT_EQ(IndexOf(notify_->received(), "READY=1", stopping + 1), -1);
}

TEST_F(SystemdProtocolTest, NoWatchdogPingsWithoutWatchdogUsec) {
  WriteConfig(Stream("alpha", "a.topic"));
  ASSERT_TRUE(StartDaemon());
  EXPECT_EQ(CountDuring(*notify_, "WATCHDOG=1", 1500ms), 0);
}

// A broker that is down makes the consumer wait out its requests' timeouts (5 s for metadata,
// longer than the stall limit here): that is not a stall, and the pings must go on.
TEST_F(SystemdProtocolTest, PingsGoOnWhileTheBrokerIsDown) {
  WriteConfig(Stream("alpha", "a.topic") + Destination("hermes"));
  ASSERT_TRUE(StartDaemon({{"WATCHDOG_USEC", "4000000"}}));
  for (int window = 0; window < 4; ++window) {
    EXPECT_GE(CountDuring(*notify_, "WATCHDOG=1", 3000ms), 1)
        << "no ping in window " << window << "; stderr:\n" << daemon_->Stderr();
  }
  EXPECT_EQ(daemon_->Stderr().find("watchdog: no progress"), std::string::npos)
      << daemon_->Stderr();
}

// A loop that stops making progress stops the pings, and STATUS= names it.
class StalledLoopTest : public SystemdProtocolTest,
                        public ::testing::WithParamInterface<std::pair<const char*, const char*>> {};

TEST_P(StalledLoopTest, StopsTheWatchdogPings) {
  const auto [loop, named] = GetParam();
  WriteConfig(Stream("alpha", "a.topic") + Destination("hermes"));
  // The stall starts 2 s after the loop first runs; a loop counts as stalled after 2 s without
  // progress (half of WATCHDOG_USEC, at least 2 s). The watchdog checks every second.
  ASSERT_TRUE(StartDaemon({{"WATCHDOG_USEC", "4000000"},
                           {"TOMSTREAMD_TEST_STALL", std::string(loop) + ":2000"}}));
  EXPECT_GE(CountDuring(*notify_, "WATCHDOG=1", 1500ms), 1) << "no pings before the stall";
  // The stalled loop is named in STATUS= once it is 2 s overdue (later for the consumer if the
  // stall begins after a bounded broker request, up to 6 s with the broker down).
  const auto status_names_it = [&](const std::string& d) {
    return d.find("STATUS=") != std::string::npos && d.find("stalled: ") != std::string::npos &&
           d.find(named) != std::string::npos;
  };
  bool named_in_status = false;
  for (auto until = std::chrono::steady_clock::now() + 15s;
       !named_in_status && std::chrono::steady_clock::now() < until;) {
    if (auto d = notify_->Next(200ms)) named_in_status = status_names_it(*d);
  }
  ASSERT_TRUE(named_in_status) << "STATUS= never named the stalled " << named << "; stderr:\n"
                               << daemon_->Stderr();
  // From then on, no pings (one already decided may still be in the socket: skip 100 ms).
  CountDuring(*notify_, "WATCHDOG=1", 100ms);
  EXPECT_EQ(CountDuring(*notify_, "WATCHDOG=1", 3000ms), 0)
      << "pings went on with a stalled " << loop << " loop";
  EXPECT_NE(daemon_->Stderr().find("watchdog: no progress"), std::string::npos)
      << daemon_->Stderr();
}

INSTANTIATE_TEST_SUITE_P(Loops, StalledLoopTest,
                         ::testing::Values(std::pair{"consumer", "stream alpha"},
                                           std::pair{"publisher", "destination hermes"},
                                           std::pair{"control", "control server"}),
                         [](const auto& p) { return std::string(p.param.first); });

TEST_F(SystemdProtocolTest, ReloadAppliesStreamRouteAndDestinationChanges) {
  WriteConfig(Stream("alpha", "a.topic") + Stream("beta", "b.topic") + Destination("hermes"));
  ASSERT_TRUE(StartDaemon());
  json s = Status();
  EXPECT_EQ(StreamNames(s), (std::vector<std::string>{"alpha", "beta"}));
  EXPECT_EQ(DestinationNames(s), (std::vector<std::string>{"hermes"}));
  const int alpha_pid_marker = s["pid"];

  // beta goes, gamma comes, alpha gets another route, the destination is renamed, and the log
  // level changes.
  WriteFile(config_, "[daemon]\nlog_level = \"info\"\nshutdown_timeout_ms = 5000\n"
                     "[store]\npath = \"" + store_ + "\"\n[control]\nsocket = \"" + socket_ +
                         "\"\n" + Stream("alpha", "a.topic") +
                         "[[stream.route]]\ntopic = \"a.second\"\nhandler = \"raw\"\n" +
                         Stream("gamma", "g.topic") + Destination("hermes2"));
  const size_t before = notify_->received().size();
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(notify_->WaitFor("READY=1", 15s)) << daemon_->Stderr();
  EXPECT_GE(IndexOf(notify_->received(), "RELOADING=1", before), 0);

  s = Status();
  EXPECT_EQ(s["pid"], alpha_pid_marker) << "the daemon restarted instead of reloading";
  EXPECT_EQ(StreamNames(s), (std::vector<std::string>{"alpha", "gamma"}));
  EXPECT_EQ(DestinationNames(s), (std::vector<std::string>{"hermes2"}));
  EXPECT_EQ(s["log_level"], "info");
  RunResult routes = TomctlHere({"--json", "topics", "ls", "--stream", "alpha"});
  ASSERT_EQ(routes.status, 0) << routes.err;
  EXPECT_NE(routes.out.find("a.second"), std::string::npos) << routes.out;
  const std::string err = daemon_->Stderr();
  EXPECT_NE(err.find("stream beta removed"), std::string::npos) << err;
  EXPECT_NE(err.find("stream gamma added"), std::string::npos) << err;
  EXPECT_NE(err.find("stream alpha: routes changed"), std::string::npos) << err;
}

TEST_F(SystemdProtocolTest, BadConfigOnReloadIsRejectedAndTheRunningOneStays) {
  WriteConfig(Stream("alpha", "a.topic") + Destination("hermes"));
  ASSERT_TRUE(StartDaemon());
  WriteFile(config_, "[daemon]\nlog_level = \"loud\"\n[store]\npath = \"" + store_ +
                         "\"\n[control]\nsocket = \"" + socket_ + "\"\n");
  const size_t before = notify_->received().size();
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(notify_->WaitFor("READY=1", 10s)) << daemon_->Stderr();
  const int ready = IndexOf(notify_->received(), "READY=1", before);
  EXPECT_NE(notify_->received()[static_cast<size_t>(ready)].find("last reload failed"),
            std::string::npos);
  EXPECT_NE(daemon_->Stderr().find("daemon.log_level"), std::string::npos)
      << "the error does not name the bad key:\n" << daemon_->Stderr();
  const json s = Status();
  EXPECT_EQ(StreamNames(s), (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(DestinationNames(s), (std::vector<std::string>{"hermes"}));
  EXPECT_EQ(s["log_level"], "debug");
  EXPECT_TRUE(daemon_->Running());

  // Fixed, a second SIGHUP applies it.
  WriteConfig(Stream("alpha", "a.topic"));
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(notify_->WaitFor("READY=1", 10s));
  EXPECT_EQ(DestinationNames(Status()), std::vector<std::string>{});
}

TEST_F(SystemdProtocolTest, ReloadKeepsStoreAndControlAsStarted) {
  WriteConfig("");
  ASSERT_TRUE(StartDaemon());
  WriteFile(config_, "[daemon]\nlog_level = \"debug\"\n[store]\npath = \"" + dir_ +
                         "/other.db\"\n[control]\nsocket = \"" + dir_ + "/other.sock\"\n");
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(notify_->WaitFor("READY=1", 10s));
  const json s = Status();  // still on the first socket
  EXPECT_EQ(s["store"]["path"], store_);
  EXPECT_NE(daemon_->Stderr().find("[control] changes need a restart"), std::string::npos);
  EXPECT_NE(daemon_->Stderr().find("[store] changes other than commit_max_* need a restart"),
            std::string::npos);
}

// systemd-socket-activate listens, then execs the daemon at the first connection with
// LISTEN_FDS=1; tomctl's call is that connection and must be answered.
TEST_F(SystemdProtocolTest, SocketActivationServesTheInheritedSocket) {
  if (!std::filesystem::exists("/usr/bin/systemd-socket-activate")) {
    GTEST_SKIP() << "systemd-socket-activate is not installed (package systemd)";
  }
  std::filesystem::create_directories(dir_ + "/run");
  notify_ = std::make_unique<NotifyListener>(dir_ + "/notify.sock");
  daemon_ = std::make_unique<Subprocess>(
      std::vector<std::string>{"/usr/bin/systemd-socket-activate", "-l", socket_, "-E",
                               "NOTIFY_SOCKET=" + notify_->path(), TOMSTREAMD_BIN, "--config",
                               config_},
      dir_);
  for (int i = 0; i < 100 && !std::filesystem::exists(socket_); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(std::filesystem::exists(socket_)) << daemon_->Stderr();
  EXPECT_FALSE(notify_->WaitFor("READY=1", 300ms)) << "the daemon ran before any connection";

  const json s = Status();
  EXPECT_EQ(s["pid"], daemon_->pid()) << "the daemon was not exec'd in place";
  EXPECT_EQ(s["control_socket"], socket_);
  ASSERT_TRUE(notify_->WaitFor("READY=1", 5s));
  EXPECT_NE(daemon_->Stderr().find("(socket from systemd)"), std::string::npos)
      << daemon_->Stderr();
  // More connections on the same inherited socket.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(TomctlHere({"version"}).status, 0);

  daemon_->Signal(SIGTERM);
  const auto code = daemon_->Wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << daemon_->Stderr();
  // The socket file belongs to whoever passed it (systemd's socket unit): left in place.
  EXPECT_TRUE(std::filesystem::exists(socket_));
}

TEST_F(SystemdProtocolTest, SocketActivationOnAnotherPathIsRefusedNamingBoth) {
  if (!std::filesystem::exists("/usr/bin/systemd-socket-activate")) {
    GTEST_SKIP() << "systemd-socket-activate is not installed (package systemd)";
  }
  const std::string other = dir_ + "/other.sock";
  daemon_ = std::make_unique<Subprocess>(
      std::vector<std::string>{"/usr/bin/systemd-socket-activate", "-l", other, TOMSTREAMD_BIN,
                               "--config", config_},
      dir_);
  for (int i = 0; i < 100 && !std::filesystem::exists(other); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  RunResult r = Tomctl({"--socket", other, "--timeout", "3", "version"});  // wakes it up
  EXPECT_NE(r.status, 0);
  const auto code = daemon_->Wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  const std::string err = daemon_->Stderr();
  EXPECT_NE(err.find(socket_), std::string::npos) << err;
  EXPECT_NE(err.find(other), std::string::npos) << err;
}

}  // namespace
}  // namespace tomstream::testing
