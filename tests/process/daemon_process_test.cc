// Process-level tests: the real tomstreamd binary, driven by the real tomctl binary.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "daemon_fixture.h"
#include "notify_listener.h"
#include "store/migrations.h"
#include "subprocess.h"

namespace tomstream::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

TEST_F(DaemonProcessTest, ReadyMeansServingThenStatusThenSigtermExitsZero) {
  ASSERT_TRUE(StartDaemon());
  // READY=1 is sent only once the store and the socket are up: the socket already answers.
  struct stat st {};
  ASSERT_EQ(lstat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);

  RunResult r = TomctlHere({"--json", "status"});
  ASSERT_EQ(r.status, 0) << r.err;
  const json s = json::parse(r.out);
  EXPECT_EQ(s["version"], TOMSTREAM_VERSION);
  EXPECT_EQ(s["pid"], daemon_->pid());
  EXPECT_EQ(s["store"]["path"], store_);
  EXPECT_EQ(s["store"]["schema_version"].get<int>(), store::LatestSchemaVersion());
  EXPECT_EQ(s["control_socket"], socket_);
  EXPECT_EQ(s["config_path"], config_);
  ASSERT_TRUE(s.contains("uptime"));
  EXPECT_EQ(s["uptime"].get<std::string>().back(), 's');  // protobuf JSON duration, e.g. "0.2s"

  r = TomctlHere({"status"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("tomstreamd " TOMSTREAM_VERSION), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(store_), std::string::npos) << r.out;

  const auto t0 = std::chrono::steady_clock::now();
  daemon_->Signal(SIGTERM);
  EXPECT_TRUE(notify_->WaitFor("STOPPING=1", 5s));
  const auto code = daemon_->Wait(5s);
  ASSERT_TRUE(code.has_value()) << "still running 5 s after SIGTERM";
  EXPECT_EQ(*code, 0) << daemon_->Stderr();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_FALSE(std::filesystem::exists(socket_)) << "socket file left behind";
}

TEST_F(DaemonProcessTest, SigintStopsCleanly) {
  ASSERT_TRUE(StartDaemon());
  daemon_->Signal(SIGINT);
  const auto code = daemon_->Wait(5s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
}

TEST_F(DaemonProcessTest, TomctlWithoutDaemonFailsFastNamingTheSocket) {
  RunResult r = TomctlHere({"status"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(socket_), std::string::npos) << r.err;
  EXPECT_LT(r.elapsed, 5500ms);
  // The socket can come from the environment too.
  r = Tomctl({"status"}, {{"TOMSTREAM_SOCKET", socket_}});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(socket_), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line expected: " << r.err;
}

TEST_F(DaemonProcessTest, TomctlTimeoutIsBoundedWhenNothingAnswers) {
  // A socket that accepts connections into its backlog but never speaks gRPC.
  std::filesystem::create_directories(dir_ + "/run");
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, socket_.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  RunResult r = TomctlHere({"--timeout", "1", "status"});
  close(fd);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(socket_), std::string::npos) << r.err;
  EXPECT_LT(r.elapsed, 4s);
}

TEST_F(DaemonProcessTest, SecondDaemonOnTheSameSocketRefusesAndFirstKeepsAnswering) {
  ASSERT_TRUE(StartDaemon());
  // A different store, the same socket.
  const std::string other = dir_ + "/other.toml";
  WriteFile(other, "[store]\npath = \"" + dir_ + "/other/tomstream.db\"\n[control]\nsocket = \"" +
                       socket_ + "\"\n");
  RunResult second = RunProgram({TOMSTREAMD_BIN, "--config", other}, dir_, 15s);
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.err.find("control socket " + socket_ + " is in use by another tomstreamd (pid " +
                            std::to_string(daemon_->pid())), std::string::npos)
      << second.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/other/tomstream.db"))
      << "the second daemon touched its store before giving up";

  RunResult r = TomctlHere({"--json", "status"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["pid"], daemon_->pid());
}

TEST_F(DaemonProcessTest, SecondDaemonOnTheSameStoreRefuses) {
  ASSERT_TRUE(StartDaemon());
  const std::string other = dir_ + "/other.toml";
  WriteFile(other, "[store]\npath = \"" + store_ + "\"\n[control]\nsocket = \"" + dir_ +
                       "/run/other.sock\"\n");
  RunResult second = RunProgram({TOMSTREAMD_BIN, "--config", other}, dir_, 15s);
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.err.find("store " + store_ + " is in use"), std::string::npos) << second.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/run/other.sock"));
  EXPECT_EQ(TomctlHere({"status"}).status, 0);
}

TEST_F(DaemonProcessTest, RestartAfterKillNineReplacesTheStaleSocket) {
  ASSERT_TRUE(StartDaemon());
  daemon_->Signal(SIGKILL);
  ASSERT_TRUE(daemon_->Wait(5s).has_value());
  ASSERT_TRUE(std::filesystem::exists(socket_)) << "expected a stale socket after kill -9";
  EXPECT_NE(TomctlHere({"status"}).status, 0);

  ASSERT_TRUE(StartDaemon());
  RunResult r = TomctlHere({"--json", "status"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["pid"], daemon_->pid());
  EXPECT_EQ(json::parse(r.out)["store"]["schema_version"].get<int>(), store::LatestSchemaVersion());
}

TEST_F(DaemonProcessTest, StartupFailureExitsNonZeroNamingTheStoreAndLeavesNoSocket) {
  WriteFile(dir_ + "/not-a-dir", "");
  store_ = dir_ + "/not-a-dir/tomstream.db";
  WriteConfig("");
  RunResult r = RunProgram({TOMSTREAMD_BIN, "--config", config_}, dir_, 15s);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(store_), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(socket_));
}

TEST_F(DaemonProcessTest, VersionAndLogLevel) {
  ASSERT_TRUE(StartDaemon());
  RunResult r = TomctlHere({"--json", "version"});
  ASSERT_EQ(r.status, 0) << r.err;
  const json v = json::parse(r.out);
  EXPECT_EQ(v["version"], TOMSTREAM_VERSION);
  EXPECT_EQ(v["api_version"], "tomstream.v1");
  EXPECT_FALSE(v["librdkafka_version"].get<std::string>().empty());
  EXPECT_FALSE(v["sqlite_version"].get<std::string>().empty());

  r = TomctlHere({"log-level", "warn"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("debug -> warn"), std::string::npos) << r.out;
  r = TomctlHere({"--json", "status"});
  EXPECT_EQ(json::parse(r.out)["log_level"], "warn");

  r = TomctlHere({"log-level", "loud"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("INVALID_ARGUMENT"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("level"), std::string::npos) << r.err;
}

TEST_F(DaemonProcessTest, CheckConfigNamesTheKey) {
  struct Case {
    std::string extra;
    std::string expected;
  };
  const Case cases[] = {
      {"colour = \"blue\"\n", "control.colour: unknown key"},
      {"max_message_bytes = \"big\"\n", "control.max_message_bytes: must be an integer"},
      {"[[stream]]\nname = \"hop\"\nurl = \"kafka://127.0.0.1/\"\nsecurity = \"plain\"\n"
       "username = \"u\"\npassword = { env = \"TOMSTREAM_TEST_UNSET_SECRET\" }\n",
       "stream[0].password: environment variable TOMSTREAM_TEST_UNSET_SECRET is not set"},
  };
  for (const Case& c : cases) {
    WriteConfig(c.extra);
    RunResult r = RunProgram({TOMSTREAMD_BIN, "--config", config_, "--check-config"}, dir_, 15s,
                      {{"TOMSTREAM_TEST_UNSET_SECRET", ""}});
    EXPECT_EQ(r.status, 1) << c.extra;
    EXPECT_NE(r.err.find(config_ + ":"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << "want: " << c.expected << "\n"
                                                         << r.err;
  }
  WriteConfig("");
  RunResult ok = RunProgram({TOMSTREAMD_BIN, "--config", config_, "--check-config"}, dir_, 15s);
  EXPECT_EQ(ok.status, 0) << ok.err;
}

TEST_F(DaemonProcessTest, ExampleConfigChecksWithSecretsFromTheEnvironment) {
  const std::map<std::string, std::string> env{
      {"HOP_PASSWORD", "s3cret-hop"}, {"GCN_CLIENT_SECRET", "s3cret-gcn"},
      {"HERMES_API_KEY", "s3cret-hermes"}};
  RunResult r = RunProgram({TOMSTREAMD_BIN, "--config", TOMSTREAM_EXAMPLE_CONFIG, "--check-config"},
                    dir_, 15s, env);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("s3cret"), std::string::npos);
  EXPECT_EQ(r.err.find("s3cret"), std::string::npos);
}

// The socket is the access control: mode 0660, so a process of another uid outside the
// socket's group cannot connect, and tomctl says so.
TEST_F(DaemonProcessTest, AnotherUidOutsideTheGroupIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run tomctl as another user (nobody)";
  ASSERT_TRUE(StartDaemon());
  // The directories may be entered by anyone: only the socket's own mode keeps nobody out.
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(chmod((dir_ + "/run").c_str(), 0755), 0);
  RunResult r = RunProgram({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                            "--clear-groups", TOMCTL_BIN, "--socket", socket_, "status"},
                           dir_, 30s);
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  // Root (the daemon's own uid here) still gets in.
  EXPECT_EQ(TomctlHere({"status"}).status, 0);
}

// A runtime route's regex or pattern is bounded like the config file's (std::regex compiles
// recursively: a long one overflowed the stack).
TEST_F(DaemonProcessTest, OverlongRuntimeRouteExpressionIsRefusedNamingTheField) {
  WriteConfig("[[stream]]\nname = \"alpha\"\nurl = \"kafka://127.0.0.1:9/\"\n");
  ASSERT_TRUE(StartDaemon());
  const std::string huge(100000, 'a');
  RunResult r = TomctlHere({"topics", "add", "alpha", huge, "--regex", "--handler", "raw"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("route.regex: is longer than 1024 characters"), std::string::npos) << r.err;
  r = TomctlHere({"topics", "add", "alpha", huge, "--pattern", "--handler", "raw"});
  EXPECT_NE(r.err.find("route.pattern: is longer than 1024 characters"), std::string::npos) << r.err;
  EXPECT_TRUE(daemon_->Running()) << daemon_->Stderr();
  EXPECT_EQ(TomctlHere({"topics", "add", "alpha", std::string(1024, 'a'), "--regex", "--handler",
                        "raw"}).status, 0);
}

}  // namespace
}  // namespace tomstream::testing
