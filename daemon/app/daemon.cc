#include "app/daemon.h"

#include <unistd.h>

#include <condition_variable>
#include <thread>

#include <spdlog/spdlog.h>

#include "app/notifier.h"
#include "common/logging.h"
#include "common/version.h"
#include "control/control_server.h"
#include "store/queries.h"
#include "store/store.h"
#include "stream/kafka_version.h"
#include "stream/stream_manager.h"

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
  so.max_size_bytes = config_.store.max_size_mb * 1024 * 1024;
  auto opened = store::Store::Open(so);
  if (!opened.ok()) return opened.status().WithContext("store " + config_.store.path);
  store_ = std::move(opened).value();
  TOMSTREAM_RETURN_IF_ERROR(store_->RecordStartup(kVersion));
  spdlog::info("store: {} at schema version {}", store_->path(), store_->schema_version());
  queries_ = std::make_unique<store::Queries>(*store_);

  notifier.Status("starting streams");
  streams_ = std::make_unique<stream::StreamManager>(config_, *store_);
  TOMSTREAM_RETURN_IF_ERROR(streams_->Start());

  notifier.Status("starting the outbox");
  outbox::OutboxOptions oo;
  oo.destinations = config_.destinations;
  oo.streams = config_.streams;
  auto outbox = outbox::Outbox::Start(std::move(oo), *store_);
  if (!outbox.ok()) return outbox.status();
  outbox_ = std::move(outbox).value();

  auto server = control::ControlServer::Start(co, std::move(claim).value(), *this);
  if (!server.ok()) return server.status();
  control_ = std::move(server).value();
  return Status::Ok();
}

void Daemon::Stop(Notifier& notifier) {
  notifier.Stopping("stopping");
  StopDeadline deadline(config_.daemon.shutdown_timeout);
  if (control_) control_->Shutdown(config_.daemon.shutdown_timeout / 4);
  if (outbox_) outbox_->Stop(config_.daemon.shutdown_timeout / 8);
  if (streams_) streams_->Stop(config_.daemon.shutdown_timeout / 2);
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
  std::string line = "serving " + config_.control.socket;
  if (streams_) {
    int64_t stored = 0;
    int connected = 0;
    int active = 0;
    for (const auto& s : streams_->Snapshot()) {
      stored += s.stored;
      if (s.state != stream::StreamState::kInactive) ++active;
      if (s.state == stream::StreamState::kConnected) ++connected;
    }
    line += "; streams " + std::to_string(connected) + "/" + std::to_string(active) +
            " connected; " + std::to_string(stored) + " alerts stored";
  }
  return line;
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
  if (streams_) s.streams = streams_->Snapshot();
  if (outbox_) {
    auto status = outbox_->GetStatus();
    if (status.ok()) s.outbox = std::move(status).value();
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

Result<stream::RouteInfo> Daemon::AddRoute(const std::string& stream, stream::Route route) {
  return streams_->AddRoute(stream, std::move(route));
}

Status Daemon::RemoveRoute(int64_t id) { return streams_->RemoveRoute(id); }

Result<std::vector<stream::RouteInfo>> Daemon::ListRoutes(const std::string& stream) {
  return streams_->ListRoutes(stream);
}

Result<std::vector<stream::PartitionStatusSnapshot>> Daemon::SeekRoute(
    int64_t id, const std::string& stream, const std::string& topic,
    const config::StartPosition& position, std::optional<int64_t> offset) {
  return streams_->SeekRoute(id, stream, topic, position, offset);
}

Result<std::vector<store::AlertRow>> Daemon::ListAlerts(const store::AlertFilter& filter,
                                                        int64_t before_id, int limit) {
  return queries_->ListAlerts(filter, before_id, limit);
}

Result<std::vector<store::AlertRow>> Daemon::AlertsAfter(const store::AlertFilter& filter,
                                                         int64_t after_id, int limit) {
  return queries_->AlertsAfter(filter, after_id, limit);
}

Result<store::AlertRow> Daemon::GetAlert(int64_t id) { return queries_->GetAlert(id); }

Result<int64_t> Daemon::LatestAlertId() { return queries_->LatestAlertId(); }

void Daemon::WaitForAlerts(int64_t after_id, std::chrono::milliseconds limit) {
  store_->new_alerts().WaitBeyond(after_id, limit);
}

Result<std::vector<store::PhotometryRow>> Daemon::ListPhotometry(const std::string& target,
                                                                 std::optional<double> jd_from,
                                                                 std::optional<double> jd_to,
                                                                 int64_t after_id, int limit) {
  return queries_->ListPhotometry(target, jd_from, jd_to, after_id, limit);
}

Result<std::vector<store::QuarantineRow>> Daemon::ListQuarantine(const std::string& stream,
                                                                 const std::string& topic,
                                                                 bool include_payload,
                                                                 int64_t before_id, int limit) {
  return queries_->ListQuarantine(stream, topic, include_payload, before_id, limit);
}

Result<std::vector<store::EnqueueOutcome>> Daemon::EnqueuePhotometry(
    std::vector<outbox::PhotometryMessage> messages, bool validate_only) {
  return outbox_->Enqueue(std::move(messages), validate_only);
}

Result<std::vector<store::OutboxEntry>> Daemon::ListOutbox(const store::OutboxFilter& filter,
                                                           int64_t before_id, int limit) {
  return outbox_->List(filter, before_id, limit);
}

Result<store::OutboxEntry> Daemon::GetOutboxEntry(const std::string& uuid) {
  return outbox_->Get(uuid);
}

Result<store::OutboxEntry> Daemon::RetryOutboxEntry(const std::string& uuid) {
  return outbox_->Retry(uuid);
}

Result<store::OutboxEntry> Daemon::CancelOutboxEntry(const std::string& uuid) {
  return outbox_->Cancel(uuid);
}

}  // namespace tomstream::app
