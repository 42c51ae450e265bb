// Unit tests of the control module (daemon/control): claiming and securing the Unix socket path,
// and the gRPC ControlServer answering a real client over that socket.
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "common/lock_file.h"
#include "common/logging.h"
#include "common/version.h"
#include "control/control_server.h"
#include "control/daemon_view.h"
#include "control/unix_socket.h"
#include "tomstream/v1/control.grpc.pb.h"

namespace tomstream::control {
namespace {

namespace pb = tomstream::v1;
using ::testing::HasSubstr;

constexpr std::chrono::seconds kRpcDeadline{10};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Binds a Unix stream socket at `path`; listens too when `listening`. Closing the returned fd
// without unlinking leaves a stale socket file behind, as a crashed server would.
Fd BindSocket(const std::string& path, bool listening) {
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_GE(fd.get(), 0) << std::strerror(errno);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  EXPECT_LT(path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0)
      << path << ": " << std::strerror(errno);
  if (listening) {
    EXPECT_EQ(listen(fd.get(), 4), 0) << std::strerror(errno);
  }
  return fd;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

bool IsSocket(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path << ": " << std::strerror(errno);
  return st.st_mode & 07777;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Sets the umask for one scope.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(umask(mask)) {}
  ~ScopedUmask() { umask(old_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t old_;
};

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Unix socket paths are short (< 108 bytes): keep the directory name short.
    std::string templ = ::testing::TempDir() + "ctl_XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr) << templ;
    dir_ = templ;
    socket_ = dir_ + "/control.sock";
    ASSERT_LT(socket_.size() + 20, sizeof(sockaddr_un{}.sun_path)) << "TempDir() is too long";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string dir_;
  std::string socket_;
};

// ---------------------------------------------------------------------------------------------
// ClaimSocketPath
// ---------------------------------------------------------------------------------------------

class ClaimSocketPathTest : public TempDirTest {};

TEST_F(ClaimSocketPathTest, FreshPathCreatesMissingDirectories) {
  const std::string path = dir_ + "/run/tomstreamd/control.sock";
  Result<LockFile> claim = LockFile();
  {
    // Even under a strict umask the directories are traversable by the socket's group.
    ScopedUmask strict(077);
    claim = ClaimSocketPath(path);
  }
  ASSERT_TRUE(claim.ok()) << claim.status().ToString();
  EXPECT_TRUE(claim->held());
  EXPECT_EQ(Mode(dir_ + "/run"), 0755u);
  EXPECT_EQ(Mode(dir_ + "/run/tomstreamd"), 0755u);
  EXPECT_FALSE(Exists(path)) << "claiming must not create the socket itself";
  EXPECT_EQ(ReadFile(path + ".lock"), std::to_string(getpid()));
}

TEST_F(ClaimSocketPathTest, ExistingDirectoryIsFine) {
  auto claim = ClaimSocketPath(socket_);
  ASSERT_TRUE(claim.ok()) << claim.status().ToString();
  EXPECT_TRUE(claim->held());
}

TEST_F(ClaimSocketPathTest, StaleSocketIsRemoved) {
  {
    Fd fd = BindSocket(socket_, /*listening=*/false);
  }  // closed without unlinking
  ASSERT_TRUE(IsSocket(socket_));
  ASSERT_FALSE(SocketAnswers(socket_));

  auto claim = ClaimSocketPath(socket_);
  ASSERT_TRUE(claim.ok()) << claim.status().ToString();
  EXPECT_FALSE(Exists(socket_)) << "the stale socket should have been removed";
}

TEST_F(ClaimSocketPathTest, StaleListeningSocketOfDeadServerIsRemoved) {
  {
    Fd fd = BindSocket(socket_, /*listening=*/true);
    ASSERT_TRUE(SocketAnswers(socket_));
  }
  ASSERT_TRUE(IsSocket(socket_));
  EXPECT_FALSE(SocketAnswers(socket_));
  auto claim = ClaimSocketPath(socket_);
  ASSERT_TRUE(claim.ok()) << claim.status().ToString();
  EXPECT_FALSE(Exists(socket_));
}

TEST_F(ClaimSocketPathTest, LiveSocketIsRefused) {
  Fd live = BindSocket(socket_, /*listening=*/true);
  ASSERT_TRUE(SocketAnswers(socket_));

  auto claim = ClaimSocketPath(socket_);
  ASSERT_FALSE(claim.ok());
  EXPECT_EQ(claim.status().code(), StatusCode::kAlreadyExists) << claim.status().ToString();
  EXPECT_THAT(claim.status().message(), HasSubstr(socket_));
  EXPECT_TRUE(IsSocket(socket_)) << "a live server's socket must be left alone";
  EXPECT_TRUE(SocketAnswers(socket_));

  // The failed claim did not keep the lock: once the server is gone, the path can be claimed.
  live.Reset();
  auto later = ClaimSocketPath(socket_);
  EXPECT_TRUE(later.ok()) << later.status().ToString();
}

TEST_F(ClaimSocketPathTest, NonSocketFileIsRefusedAndKept) {
  {
    std::ofstream(socket_) << "important data";
  }
  auto claim = ClaimSocketPath(socket_);
  ASSERT_FALSE(claim.ok());
  EXPECT_EQ(claim.status().code(), StatusCode::kAlreadyExists) << claim.status().ToString();
  EXPECT_THAT(claim.status().message(), HasSubstr(socket_));
  EXPECT_THAT(claim.status().message(), HasSubstr("not a socket"));
  EXPECT_EQ(ReadFile(socket_), "important data");
}

TEST_F(ClaimSocketPathTest, DirectoryAndSymlinkAreRefused) {
  ASSERT_EQ(mkdir(socket_.c_str(), 0700), 0);
  auto dir_claim = ClaimSocketPath(socket_);
  ASSERT_FALSE(dir_claim.ok());
  EXPECT_THAT(dir_claim.status().message(), HasSubstr("not a socket"));
  EXPECT_TRUE(std::filesystem::is_directory(socket_));

  // A symlink to a (stale) socket elsewhere is not removed either.
  const std::string target = dir_ + "/elsewhere.sock";
  { Fd fd = BindSocket(target, false); }
  const std::string link = dir_ + "/link.sock";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  auto link_claim = ClaimSocketPath(link);
  ASSERT_FALSE(link_claim.ok());
  EXPECT_THAT(link_claim.status().message(), HasSubstr("not a socket"));
  EXPECT_TRUE(Exists(link));
  EXPECT_TRUE(IsSocket(target));
}

TEST_F(ClaimSocketPathTest, SecondClaimWhileLockHeldNamesHolderPid) {
  auto first = ClaimSocketPath(socket_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();

  auto second = ClaimSocketPath(socket_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists) << second.status().ToString();
  EXPECT_THAT(second.status().message(), HasSubstr("pid " + std::to_string(getpid())));
  EXPECT_THAT(second.status().message(), HasSubstr(socket_));

  first = LockFile();  // release
  auto third = ClaimSocketPath(socket_);
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST_F(ClaimSocketPathTest, InvalidPathsRejected) {
  auto empty = ClaimSocketPath("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);

  const std::string too_long = dir_ + "/" + std::string(120, 's');
  auto long_claim = ClaimSocketPath(too_long);
  ASSERT_FALSE(long_claim.ok());
  EXPECT_EQ(long_claim.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(long_claim.status().message(), HasSubstr("1-107 bytes"));
}

// ---------------------------------------------------------------------------------------------
// SecureSocket
// ---------------------------------------------------------------------------------------------

class SecureSocketTest : public TempDirTest {};

TEST_F(SecureSocketTest, SetsMode0660) {
  Fd fd = [&] {
    ScopedUmask owner_only(077);  // as under the daemon: the socket starts owner-only
    return BindSocket(socket_, true);
  }();
  ASSERT_EQ(Mode(socket_), 0700u);
  Status st = SecureSocket(socket_, "");
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Mode(socket_), 0660u);
}

TEST_F(SecureSocketTest, SetsTheNamedGroup) {
  Fd fd = BindSocket(socket_, true);
  const group* own = getgrgid(getegid());
  if (own == nullptr) GTEST_SKIP() << "the process's group has no name";
  const std::string name = own->gr_name;
  Status st = SecureSocket(socket_, name);
  ASSERT_TRUE(st.ok()) << st.ToString();
  struct stat sb {};
  ASSERT_EQ(lstat(socket_.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_gid, getegid());
  EXPECT_EQ(sb.st_mode & 07777, 0660u);
}

TEST_F(SecureSocketTest, UnknownGroupNamesTheConfigKey) {
  Fd fd = [&] {
    ScopedUmask mask(022);
    return BindSocket(socket_, true);
  }();
  Status st = SecureSocket(socket_, "no-such-group-tomstream");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("control.socket_group"));
  EXPECT_THAT(st.message(), HasSubstr("no-such-group-tomstream"));
  EXPECT_EQ(Mode(socket_), 0755u) << "a failed SecureSocket must not widen the mode";
}

TEST_F(SecureSocketTest, MissingSocketIsAnError) {
  Status st = SecureSocket(socket_, "");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr(socket_));
}

// ---------------------------------------------------------------------------------------------
// ControlServer over a real gRPC channel
// ---------------------------------------------------------------------------------------------

class FakeView : public DaemonView {
 public:
  explicit FakeView(std::string socket) : socket_(std::move(socket)) {}

  DaemonSnapshot Snapshot() const override {
    DaemonSnapshot s;
    s.version = "9.8.7-test";
    s.pid = 4242;
    s.started_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
    s.uptime = std::chrono::milliseconds(90500);
    s.config_path = "/etc/tomstreamd/test.toml";
    s.control_socket = socket_;
    {
      std::lock_guard lock(mu_);
      s.log_level = level_;
    }
    s.store.path = "/var/lib/tomstreamd/test.db";
    s.store.schema_version = 3;
    s.store.size_bytes = 123456;
    s.store.wal_size_bytes = 7890;
    s.store.write_error = "disk full (test)";
    return s;
  }

  VersionInfo Versions() const override {
    return VersionInfo{"9.8.7-test", "abc1234", "2.0.2-test", "3.40.1-test"};
  }

  Status SetLogLevel(const std::string& level, std::string& previous) override {
    if (!ParseLogLevel(level)) {
      return Status::InvalidArgument("level: must be one of trace, debug, info, warn, error, "
                                     "critical, off; not \"" + level + "\"");
    }
    std::lock_guard lock(mu_);
    previous = level_;
    level_ = level;
    return Status::Ok();
  }

 private:
  const std::string socket_;
  mutable std::mutex mu_;
  std::string level_ = "info";
};

class ControlServerTest : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    if (HasFatalFailure()) return;
    view_ = std::make_unique<FakeView>(socket_);
    options_.socket_path = socket_;
  }
  void TearDown() override {
    server_.reset();
    TempDirTest::TearDown();
  }

  // Claims the socket and starts a server on it.
  Result<std::unique_ptr<ControlServer>> Start(const ControlServerOptions& options) {
    auto claim = ControlServer::Claim(options);
    if (!claim.ok()) return claim.status();
    return ControlServer::Start(options, std::move(claim).value(), *view_);
  }
  void StartServer() {
    auto server = Start(options_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  std::unique_ptr<pb::Control::Stub> Stub() {
    return pb::Control::NewStub(
        grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials()));
  }
  static void SetDeadline(grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
  }

  std::unique_ptr<FakeView> view_;
  ControlServerOptions options_;
  std::unique_ptr<ControlServer> server_;
};

TEST_F(ControlServerTest, SocketIsMode0660) {
  {
    ScopedUmask owner_only(077);
    ASSERT_NO_FATAL_FAILURE(StartServer());
  }
  ASSERT_TRUE(IsSocket(socket_));
  EXPECT_EQ(Mode(socket_), 0660u);
  EXPECT_TRUE(SocketAnswers(socket_));
}

TEST_F(ControlServerTest, GetStatusAnswersFromTheView) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto stub = Stub();
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  pb::GetStatusResponse resp;
  grpc::Status st = stub->GetStatus(&ctx, pb::GetStatusRequest(), &resp);
  ASSERT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();

  EXPECT_EQ(resp.version(), "9.8.7-test");
  EXPECT_EQ(resp.pid(), 4242);
  EXPECT_EQ(resp.started_at().seconds(), 1700000000);
  EXPECT_EQ(resp.started_at().nanos(), 123000000);
  EXPECT_EQ(resp.uptime().seconds(), 90);
  EXPECT_EQ(resp.uptime().nanos(), 500000000);
  EXPECT_EQ(resp.config_path(), "/etc/tomstreamd/test.toml");
  EXPECT_EQ(resp.control_socket(), socket_);
  EXPECT_EQ(resp.log_level(), "info");
  ASSERT_TRUE(resp.has_store());
  EXPECT_EQ(resp.store().path(), "/var/lib/tomstreamd/test.db");
  EXPECT_EQ(resp.store().schema_version(), 3);
  EXPECT_EQ(resp.store().size_bytes(), 123456);
  EXPECT_EQ(resp.store().wal_size_bytes(), 7890);
  EXPECT_EQ(resp.store().write_error(), "disk full (test)");
}

TEST_F(ControlServerTest, GetVersionAnswersFromTheView) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto stub = Stub();
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  pb::GetVersionResponse resp;
  grpc::Status st = stub->GetVersion(&ctx, pb::GetVersionRequest(), &resp);
  ASSERT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
  EXPECT_EQ(resp.version(), "9.8.7-test");
  EXPECT_EQ(resp.api_version(), "tomstream.v1");
  EXPECT_EQ(resp.api_version(), kApiVersion);
  EXPECT_EQ(resp.git_revision(), "abc1234");
  EXPECT_EQ(resp.librdkafka_version(), "2.0.2-test");
  EXPECT_EQ(resp.sqlite_version(), "3.40.1-test");
  EXPECT_EQ(resp.grpc_version(), grpc::Version());
  EXPECT_FALSE(resp.grpc_version().empty());
}

TEST_F(ControlServerTest, UnimplementedCallSaysUnimplemented) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto stub = Stub();
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  pb::ListAlertsResponse resp;
  grpc::Status st = stub->ListAlerts(&ctx, pb::ListAlertsRequest(), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << st.error_message();
  EXPECT_EQ(resp.alerts_size(), 0);
}

TEST_F(ControlServerTest, SetLogLevelRejectsInvalidLevel) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto stub = Stub();
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  pb::SetLogLevelRequest req;
  req.set_level("loud");
  pb::SetLogLevelResponse resp;
  grpc::Status st = stub->SetLogLevel(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("\"loud\""));

  // Nothing changed.
  grpc::ClientContext status_ctx;
  SetDeadline(status_ctx);
  pb::GetStatusResponse status;
  ASSERT_TRUE(stub->GetStatus(&status_ctx, pb::GetStatusRequest(), &status).ok());
  EXPECT_EQ(status.log_level(), "info");
}

TEST_F(ControlServerTest, SetLogLevelChangesTheLevel) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto stub = Stub();
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  pb::SetLogLevelRequest req;
  req.set_level("debug");
  pb::SetLogLevelResponse resp;
  grpc::Status st = stub->SetLogLevel(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
  EXPECT_EQ(resp.previous_level(), "info");
  EXPECT_EQ(resp.level(), "debug");

  grpc::ClientContext status_ctx;
  SetDeadline(status_ctx);
  pb::GetStatusResponse status;
  ASSERT_TRUE(stub->GetStatus(&status_ctx, pb::GetStatusRequest(), &status).ok());
  EXPECT_EQ(status.log_level(), "debug");
}

TEST_F(ControlServerTest, SecondServerOnTheSamePathIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto second = Start(options_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists) << second.status().ToString();
  EXPECT_THAT(second.status().message(), HasSubstr(socket_));
  // The first one still serves.
  auto stub = Stub();
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  pb::GetVersionResponse resp;
  EXPECT_TRUE(stub->GetVersion(&ctx, pb::GetVersionRequest(), &resp).ok());
}

TEST_F(ControlServerTest, ShutdownRemovesTheSocket) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_TRUE(IsSocket(socket_));
  server_->Shutdown(std::chrono::milliseconds(500));
  EXPECT_FALSE(Exists(socket_)) << "the socket file must be removed on shutdown";
  EXPECT_FALSE(SocketAnswers(socket_));
  server_->Shutdown(std::chrono::milliseconds(0));  // idempotent

  // Calls now fail rather than hang.
  auto stub = Stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  pb::GetVersionResponse resp;
  EXPECT_FALSE(stub->GetVersion(&ctx, pb::GetVersionRequest(), &resp).ok());

  // Once the server is gone, its claim is released and the path can be served again.
  server_.reset();
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto stub2 = Stub();
  grpc::ClientContext ctx2;
  SetDeadline(ctx2);
  EXPECT_TRUE(stub2->GetVersion(&ctx2, pb::GetVersionRequest(), &resp).ok());
}

TEST_F(ControlServerTest, DestructionAlsoRemovesTheSocket) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_TRUE(IsSocket(socket_));
  server_.reset();
  EXPECT_FALSE(Exists(socket_));
}

TEST_F(ControlServerTest, UnknownGroupFailsStartAndLeavesNothingListening) {
  options_.socket_group = "no-such-group-tomstream";
  auto server = Start(options_);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument) << server.status().ToString();
  EXPECT_THAT(server.status().message(), HasSubstr("control.socket_group"));
  EXPECT_FALSE(Exists(socket_));
  EXPECT_FALSE(SocketAnswers(socket_));
  // And the claim was released with it.
  options_.socket_group.clear();
  ASSERT_NO_FATAL_FAILURE(StartServer());
}

}  // namespace
}  // namespace tomstream::control
