// Logging to journald, over journald's real native protocol: the test takes a private mount
// namespace, mounts a tmpfs on /run, binds the datagram socket /run/systemd/journal/socket there
// (where libsystemd's sd_journal_sendv() sends), and starts the daemon with JOURNAL_STREAM naming
// its stderr, as systemd does for a service. Needs root (CAP_SYS_ADMIN) for the namespace;
// nothing outside this process and its children sees the mount.
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "daemon_fixture.h"

namespace tomstream::testing {
namespace {

using namespace std::chrono_literals;
using Fields = std::multimap<std::string, std::string>;

// Decodes one native-protocol datagram: "KEY=value\n" lines, or "KEY\n" + 64-bit little-endian
// length + bytes + "\n" for values that hold newlines.
Fields Decode(const std::string& d) {
  Fields out;
  size_t pos = 0;
  while (pos < d.size()) {
    const size_t nl = d.find('\n', pos);
    const std::string line = d.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    const size_t eq = line.find('=');
    if (eq != std::string::npos) {
      out.emplace(line.substr(0, eq), line.substr(eq + 1));
      pos = nl == std::string::npos ? d.size() : nl + 1;
      continue;
    }
    uint64_t len = 0;
    std::memcpy(&len, d.data() + nl + 1, sizeof len);
    out.emplace(line, d.substr(nl + 1 + sizeof len, len));
    pos = nl + 1 + sizeof len + len + 1;
  }
  return out;
}

std::string Get(const Fields& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() ? "" : it->second;
}

class JournalTest : public DaemonProcessTest {
 protected:
  void SetUp() override {
    DaemonProcessTest::SetUp();
    if (unshare(CLONE_NEWNS) != 0) {
      GTEST_SKIP() << "cannot take a private mount namespace (" << std::strerror(errno)
                   << "); this test needs root to stand in for journald";
    }
    ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
    ASSERT_EQ(mount("tomstream-test", "/run", "tmpfs", 0, "mode=0755"), 0) << std::strerror(errno);
    std::filesystem::create_directories("/run/systemd/journal");
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, "/run/systemd/journal/socket");
    ASSERT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    const timeval tv{0, 200000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    DaemonProcessTest::TearDown();
  }

  // Starts the daemon with JOURNAL_STREAM set to its own stderr, through a shell that reads the
  // device and inode of the file it hands down.
  void StartWithJournal() {
    notify_ = std::make_unique<NotifyListener>(dir_ + "/notify.sock");
    daemon_ = std::make_unique<Subprocess>(
        std::vector<std::string>{
            "/bin/sh", "-c",
            "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec \"$0\" --config \"$1\"",
            TOMSTREAMD_BIN, config_},
        dir_, std::map<std::string, std::string>{{"NOTIFY_SOCKET", notify_->path()}});
    ASSERT_TRUE(notify_->WaitFor("READY=1", 20s)) << daemon_->Stderr();
  }

  // Reads records until one's MESSAGE contains `text`, or `limit` passes.
  std::optional<Fields> WaitForRecord(const std::string& text, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    std::string buf(1 << 16, '\0');
    while (std::chrono::steady_clock::now() < until) {
      const ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) continue;
      Fields f = Decode(buf.substr(0, static_cast<size_t>(n)));
      records_.push_back(f);
      if (Get(f, "MESSAGE").find(text) != std::string::npos) return f;
    }
    return std::nullopt;
  }

  // As WaitForRecord(), but also looks at the records read so far.
  std::optional<Fields> FindOrWaitForRecord(const std::string& text,
                                            std::chrono::milliseconds limit) {
    for (const Fields& f : records_) {
      if (Get(f, "MESSAGE").find(text) != std::string::npos) return f;
    }
    return WaitForRecord(text, limit);
  }

  int fd_ = -1;
  std::vector<Fields> records_;
};

TEST_F(JournalTest, RecordsCarryPriorityAndStructuredFields) {
  WriteConfig(
      "[[stream]]\nname = \"alpha\"\nurl = \"kafka://127.0.0.1:9/\"\n"
      "[[stream.route]]\ntopic = \"a.topic\"\nhandler = \"raw\"\n"
      "[[destination]]\nname = \"hermes\"\nkind = \"hermes\"\nbase_url = \"http://127.0.0.1:9/\"\n"
      "api_key = \"not-a-real-key\"\ntopics = [\"hermes.test\"]\nmax_attempts = 2\n"
      "retry_initial_ms = 100\n");
  // The fixture's config logs at debug; start at info to see the runtime change below.
  std::string text = ReadFile(config_);
  text.replace(text.find("\"debug\""), 7, "\"info\"");
  WriteFile(config_, text);
  StartWithJournal();

  const auto ready = WaitForRecord("ready", 5s);
  ASSERT_TRUE(ready) << "no record reached the journal socket; stderr:\n" << daemon_->Stderr();
  EXPECT_EQ(Get(*ready, "PRIORITY"), "6");
  EXPECT_EQ(Get(*ready, "SYSLOG_IDENTIFIER"), "tomstreamd");
  EXPECT_FALSE(Get(*ready, "TID").empty());

  // Records from a stream's consumer thread name the stream (this one may come before or after
  // "ready").
  const auto starting = FindOrWaitForRecord("stream alpha: starting", 5s);
  ASSERT_TRUE(starting) << "no 'stream alpha: starting' record";
  EXPECT_EQ(Get(*starting, "TOMSTREAM_STREAM"), "alpha");
  // The lost broker (a warning from the consumer thread) carries it too.
  const auto down = WaitForRecord("stream alpha: ", 10s);
  ASSERT_TRUE(down);
  EXPECT_EQ(Get(*down, "TOMSTREAM_STREAM"), "alpha");

  // The level changes at run time through tomctl: debug records (PRIORITY=7) appear after.
  for (const Fields& f : records_) EXPECT_NE(Get(f, "PRIORITY"), "7") << Get(f, "MESSAGE");
  ASSERT_EQ(TomctlHere({"log-level", "debug"}).status, 0);

  // An outbox entry that fails (nothing listens) is retried once (a debug record) and then dies
  // (a warning); both name the destination and the entry.
  RunResult r = TomctlHere({"--json", "publish", "photometry", "--destination", "hermes", "--topic",
                            "hermes.test", "--submitter", "journal-test", "--target", "SN 2026jnl",
                            "--ra", "150.125", "--dec=-20.5", "--date-obs", "2460000.5",
                            "--bandpass", "g", "--telescope", "LCO-1m", "--brightness", "18.5"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string uuid = nlohmann::json::parse(r.out).at("results").at(0).at("uuid");
  const auto retry = WaitForRecord("failed, retrying", 15s);
  ASSERT_TRUE(retry) << "no debug record after `tomctl log-level debug`:\n" << daemon_->Stderr();
  EXPECT_EQ(Get(*retry, "PRIORITY"), "7");
  EXPECT_EQ(Get(*retry, "TOMSTREAM_OUTBOX_UUID"), uuid);
  const auto dead = WaitForRecord("is dead", 15s);
  ASSERT_TRUE(dead) << daemon_->Stderr();
  EXPECT_EQ(Get(*dead, "PRIORITY"), "4");
  EXPECT_EQ(Get(*dead, "TOMSTREAM_DESTINATION"), "hermes");
  EXPECT_EQ(Get(*dead, "TOMSTREAM_OUTBOX_UUID"), uuid);
  EXPECT_EQ(Get(*dead, "TOMSTREAM_STREAM"), "") << "a publisher record with a stream field";
  // And nothing went to stderr: under journald the records are not written twice.
  EXPECT_EQ(daemon_->Stderr(), "");
}

}  // namespace
}  // namespace tomstream::testing
