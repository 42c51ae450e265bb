#include "app/daemon.h"

#include <unistd.h>

#include <condition_variable>
#include <thread>

#include <spdlog/spdlog.h>

#include "app/notifier.h"
#include "common/logging.h"
#include "common/version.h"
#include "control/control_server.h"
#include "store/store.h"
#include "stream/kafka_version.h"

namespace tomstream::app {
namespace {

// Exits the process if a stop takes longer than its budget; cancelled when the stop completes.
class StopDeadline {
 public:
  explicit StopDeadline(std::chrono::milliseconds budget)
      : thread_([this, budget] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, budget, [this] { return done_; })) {
            spdlog::critical("shutdown did not finish within {} ms; exiting", budget.count());
            spdlog::default_logger()->flush();
            _exit(1);
          }
        }) {}
  ~StopDeadline() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: uses the members above
};

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void BlockSignals() {
  const sigset_t handled = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

Daemon::Daemon(config::Config config)
    : config_(std::move(config)),
      started_at_(std::chrono::system_clock::now()),
      started_steady_(std::chrono::steady_clock::now()) {}

Daemon::~Daemon() = default;

Status Daemon::Start(Notifier& notifier) {
  control::ControlServerOptions co;
  co.socket_path = config_.control.socket;
  co.socket_group = config_.control.socket_group;
  co.tcp_listen = config_.control.tcp_listen;
  co.max_message_bytes = config_.control.max_message_bytes;
  // First, so that a second daemon started by mistake gives up before it touches the store.
  auto claim = control::ControlServer::Claim(co);
  if (!claim.ok()) return claim.status();

  notifier.Status("opening store " + config_.store.path);
  store::StoreOptions so;
  so.path = config_.store.path;
  so.busy_timeout = config_.store.busy_timeout;
  so.reader_connections = config_.store.reader_connections;
  auto opened = store::Store::Open(so);
  if (!opened.ok()) return opened.status().WithContext("store " + config_.store.path);
  store_ = std::move(opened).value();
  TOMSTREAM_RETURN_IF_ERROR(store_->RecordStartup(kVersion));
  spdlog::info("store: {} at schema version {}", store_->path(), store_->schema_version());

  auto server = control::ControlServer::Start(co, std::move(claim).value(), *this);
  if (!server.ok()) return server.status();
  control_ = std::move(server).value();
  return Status::Ok();
}

void Daemon::Stop(Notifier& notifier) {
  notifier.Stopping("stopping");
  StopDeadline deadline(config_.daemon.shutdown_timeout);
  if (control_) control_->Shutdown(config_.daemon.shutdown_timeout / 2);
  if (store_) store_->Close();
  spdlog::info("stopped");
}

int Daemon::Run() {
  const sigset_t handled = HandledSignals();
  Notifier notifier;
  spdlog::info("tomstreamd {} starting (config {})", kVersion, config_.source_path);
  Status started = Start(notifier);
  if (!started.ok()) {
    spdlog::error("startup failed: {}", started.message());
    notifier.Status("startup failed: " + started.message());
    Stop(notifier);
    return 1;
  }
  notifier.Ready(StatusLine());
  spdlog::info("ready");

  for (;;) {
    const timespec tick{1, 0};
    siginfo_t info{};
    const int sig = sigtimedwait(&handled, &info, &tick);
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    if (sig == SIGHUP) spdlog::warn("SIGHUP: configuration reload is not supported yet; ignored");
    notifier.Status(StatusLine());
  }
  Stop(notifier);
  return 0;
}

std::string Daemon::StatusLine() const {
  return "serving " + config_.control.socket + "; store schema v" +
         std::to_string(store_ ? store_->schema_version() : 0);
}

control::DaemonSnapshot Daemon::Snapshot() const {
  control::DaemonSnapshot s;
  s.version = kVersion;
  s.pid = getpid();
  s.started_at = started_at_;
  s.uptime = std::chrono::steady_clock::now() - started_steady_;
  s.config_path = config_.source_path;
  s.control_socket = config_.control.socket;
  s.log_level = std::string(LogLevelName(spdlog::get_level()));
  if (store_) {
    const store::StoreStats st = store_->Stats();
    s.store = {st.path, st.schema_version, st.size_bytes, st.wal_size_bytes, st.write_error};
  }
  return s;
}

control::VersionInfo Daemon::Versions() const {
  return {kVersion, kGitRevision, stream::LibrdkafkaVersion(), store::SqliteVersion()};
}

Status Daemon::SetLogLevel(const std::string& level, std::string& previous) {
  const auto parsed = ParseLogLevel(level);
  if (!parsed) {
    return Status::InvalidArgument(
        "level: must be one of trace, debug, info, warn, error, critical, off; not \"" + level +
        "\"");
  }
  previous = std::string(LogLevelName(spdlog::get_level()));
  spdlog::set_level(*parsed);
  spdlog::info("log level changed from {} to {}", previous, level);
  return Status::Ok();
}

}  // namespace tomstream::app
