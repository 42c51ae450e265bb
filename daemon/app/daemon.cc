#include "app/daemon.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <optional>
#include <thread>
#include <utility>

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "app/notifier.h"
#include "app/watchdog.h"
#include "common/logging.h"
#include "common/text.h"
#include "common/version.h"
#include "control/control_server.h"
#include "control/unix_socket.h"
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
      current_(config_),
      started_at_(std::chrono::system_clock::now()),
      started_steady_(std::chrono::steady_clock::now()) {}

Daemon::~Daemon() = default;

Status Daemon::Start(Notifier& notifier) {
  control::ControlServerOptions co;
  co.socket_path = config_.control.socket;
  co.socket_group = config_.control.socket_group;
  co.tcp_listen = config_.control.tcp_listen;
  co.max_message_bytes = config_.control.max_message_bytes;
  auto activated = control::TakeActivatedSocket(config_.control.socket);
  if (!activated.ok()) return activated.status();
  co.listen_fd = *activated;
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
  TOMSTREAM_RETURN_IF_ERROR(StartOutbox(config_));

  auto server = control::ControlServer::Start(co, std::move(claim).value(), *this);
  if (!server.ok()) return server.status();
  control_ = std::move(server).value();
  return Status::Ok();
}

void Daemon::Stop(Notifier& notifier) {
  notifier.Stopping("stopping");
  StopDeadline deadline(current_.daemon.shutdown_timeout);
  if (control_) control_->Shutdown(current_.daemon.shutdown_timeout / 4);
  if (auto outbox = CurrentOutbox()) outbox->Stop(current_.daemon.shutdown_timeout / 8);
  if (streams_) streams_->Stop(current_.daemon.shutdown_timeout / 2);
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

  std::optional<Watchdog> watchdog;
  if (const auto interval = Notifier::WatchdogInterval()) {
    watchdog.emplace(*interval,
                     [this](std::chrono::milliseconds limit) { return StalledLoops(limit); },
                     notifier);
  }
  for (;;) {
    const timespec tick{1, 0};
    siginfo_t info{};
    const int sig = sigtimedwait(&handled, &info, &tick);
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    if (sig == SIGHUP) Reload(notifier);
    std::string line = StatusLine();
    if (watchdog) {
      if (const auto stalled = watchdog->stalled(); !stalled.empty()) {
        line += fmt::format("; stalled: {}", fmt::join(stalled, ", "));
      }
    }
    notifier.Status(line);
  }
  watchdog.reset();  // no ping after STOPPING=1
  Stop(notifier);
  return 0;
}

Status Daemon::StartOutbox(const config::Config& config) {
  outbox::OutboxOptions oo;
  oo.destinations = config.destinations;
  oo.streams = config.streams;
  auto started = outbox::Outbox::Start(std::move(oo), *store_);
  if (!started.ok()) return started.status();
  std::shared_ptr<outbox::Outbox> previous;
  {
    std::lock_guard lock(outbox_mu_);
    previous = std::exchange(outbox_, std::move(started).value());
  }
  // A replaced (already stopped) outbox is destroyed here, outside the lock, or by the last call
  // still using it.
  return Status::Ok();
}

std::shared_ptr<outbox::Outbox> Daemon::CurrentOutbox() const {
  std::lock_guard lock(outbox_mu_);
  return outbox_;
}

std::vector<std::string> Daemon::StalledLoops(std::chrono::milliseconds limit) {
  std::vector<std::string> out = streams_->Stalled(limit);
  for (std::string& d : CurrentOutbox()->Stalled(limit)) out.push_back(std::move(d));
  const Status answered = control_->Probe(std::min(limit, std::chrono::milliseconds(1000)));
  if (!answered.ok()) out.push_back("control server (" + answered.message() + ")");
  return out;
}

namespace {

// The streams kafka destinations publish through, by name (a change restarts the outbox).
std::vector<config::StreamConfig> PublishingStreams(const config::Config& c) {
  std::vector<config::StreamConfig> out;
  for (const auto& d : c.destinations) {
    if (d.kind != config::DestinationKind::kKafka) continue;
    for (const auto& s : c.streams) {
      if (s.name == d.stream) {
        out.push_back(s);
        out.back().routes.clear();  // routes do not matter to a producer
      }
    }
  }
  return out;
}

}  // namespace

void Daemon::Reload(Notifier& notifier) {
  const std::string& path = config_.source_path;
  spdlog::info("SIGHUP: reloading {}", path);
  notifier.Reloading("reloading " + path);
  auto loaded = config::LoadConfig(path, config::SecretResolver::System());
  if (!loaded.ok()) {
    spdlog::error("reload: {} is invalid; the running configuration stays in force:\n{}", path,
                  loaded.status().message());
    notifier.Ready(StatusLine() + "; last reload failed: invalid configuration");
    return;
  }
  config::Config next = std::move(loaded).value();
  // Kept from the start: the store is open and the socket is served.
  if (next.control != config_.control) {
    spdlog::warn("reload: [control] changes need a restart; kept as they are");
  }
  next.control = config_.control;
  const config::StoreConfig kept_store = [&] {
    config::StoreConfig s = config_.store;
    s.commit_max_messages = next.store.commit_max_messages;  // applied to restarted streams
    s.commit_max_delay = next.store.commit_max_delay;
    return s;
  }();
  if (next.store != kept_store) {
    spdlog::warn("reload: [store] changes other than commit_max_* need a restart; kept as they are");
  }
  next.store = kept_store;

  std::vector<std::string> changes;
  if (next.daemon.log_level != current_.daemon.log_level) {
    spdlog::set_level(*ParseLogLevel(next.daemon.log_level));
    changes.push_back("log level " + next.daemon.log_level);
  }
  const auto budget = next.daemon.shutdown_timeout / 2;
  for (std::string& c : streams_->Reload(next, budget)) changes.push_back(std::move(c));
  if (next.destinations != current_.destinations ||
      PublishingStreams(next) != PublishingStreams(current_)) {
    CurrentOutbox()->Stop(next.daemon.shutdown_timeout / 8);
    Status started = StartOutbox(next);
    if (started.ok()) {
      changes.push_back("outbox restarted with " + std::to_string(next.destinations.size()) +
                        " destinations");
    } else {
      spdlog::error("reload: the outbox did not start with the new destinations ({}); "
                    "restarting it with the previous ones",
                    started.message());
      next.destinations = current_.destinations;
      Status again = StartOutbox(current_);
      if (!again.ok()) spdlog::critical("reload: the outbox is not running: {}", again.message());
    }
  }
  current_ = std::move(next);
  spdlog::info("reload: done; {}",
               changes.empty() ? std::string("nothing changed") : fmt::format("{}", fmt::join(changes, "; ")));
  notifier.Ready(StatusLine());
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
  if (auto outbox = CurrentOutbox()) {
    auto status = outbox->GetStatus();
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
        "level: must be one of trace, debug, info, warn, error, critical, off; not " +
        Quoted(level));
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
  return CurrentOutbox()->Enqueue(std::move(messages), validate_only);
}

Result<std::vector<store::OutboxEntry>> Daemon::ListOutbox(const store::OutboxFilter& filter,
                                                           int64_t before_id, int limit) {
  return CurrentOutbox()->List(filter, before_id, limit);
}

Result<store::OutboxEntry> Daemon::GetOutboxEntry(const std::string& uuid) {
  return CurrentOutbox()->Get(uuid);
}

Result<store::OutboxEntry> Daemon::RetryOutboxEntry(const std::string& uuid) {
  return CurrentOutbox()->Retry(uuid);
}

Result<store::OutboxEntry> Daemon::CancelOutboxEntry(const std::string& uuid) {
  return CurrentOutbox()->Cancel(uuid);
}

}  // namespace tomstream::app
