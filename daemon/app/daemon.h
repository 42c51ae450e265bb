// The daemon's lifecycle: start the modules in order, serve until told to stop, stop them in
// the reverse order within a bounded time.
//
// Start: claim the control socket -> store (migrations) -> stream consumers -> control server
// -> READY=1.
// Stop (SIGTERM/SIGINT): STOPPING=1 -> the control server stops taking calls and drains
// in-flight ones -> consumers store what they read and commit offsets -> the store commits what
// is queued and closes. If the whole stop takes longer than daemon.shutdown_timeout_ms the
// process exits with status 1 rather than hang.
//
// Reload (SIGHUP): RELOADING=1 -> the file is read and validated again; when invalid it is
// logged and the running configuration stays -> streams and routes are applied in place
// (StreamManager::Reload()), the outbox restarts if its destinations (or the streams they
// publish through) changed, a changed daemon.log_level applies (a level set with tomctl stays
// while the file's value is unchanged) -> READY=1. [store] and [control] need a restart; a
// change there is logged and ignored.
//
// Watchdog (WatchdogSec=, app/watchdog.h): from its own thread, WATCHDOG=1 every quarter
// interval (at most each second) only while every stream consumer and outbox publisher went
// round its loop within half the interval (at least 2 s; a bounded broker request counts as
// progress until its timeout) and the control server answers a call; otherwise the pings stop,
// the stalled loops are logged and shown in STATUS=, and systemd restarts the daemon.
#pragma once

#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "control/daemon_view.h"

namespace tomstream::store {
class Store;
class Queries;
}
namespace tomstream::stream {
class StreamManager;
}
namespace tomstream::control {
class ControlServer;
}

namespace tomstream::app {

class Notifier;

class Daemon final : public control::DaemonView {
 public:
  explicit Daemon(config::Config config);
  ~Daemon() override;

  // REQUIRES: BlockSignals() ran before any thread was started.
  // Runs until SIGTERM or SIGINT; returns the process exit status.
  int Run();

  control::DaemonSnapshot Snapshot() const override;
  control::VersionInfo Versions() const override;
  Status SetLogLevel(const std::string& level, std::string& previous) override;
  Result<stream::RouteInfo> AddRoute(const std::string& stream, stream::Route route) override;
  Status RemoveRoute(int64_t id) override;
  Result<std::vector<stream::RouteInfo>> ListRoutes(const std::string& stream) override;
  Result<std::vector<stream::PartitionStatusSnapshot>> SeekRoute(
      int64_t id, const std::string& stream, const std::string& topic,
      const config::StartPosition& position, std::optional<int64_t> offset) override;
  Result<std::vector<store::AlertRow>> ListAlerts(const store::AlertFilter& filter,
                                                  int64_t before_id, int limit) override;
  Result<std::vector<store::AlertRow>> AlertsAfter(const store::AlertFilter& filter,
                                                   int64_t after_id, int limit) override;
  Result<store::AlertRow> GetAlert(int64_t id) override;
  Result<int64_t> LatestAlertId() override;
  void WaitForAlerts(int64_t after_id, std::chrono::milliseconds limit) override;
  Result<std::vector<store::PhotometryRow>> ListPhotometry(const std::string& target,
                                                           std::optional<double> jd_from,
                                                           std::optional<double> jd_to,
                                                           int64_t after_id, int limit) override;
  Result<std::vector<store::QuarantineRow>> ListQuarantine(const std::string& stream,
                                                           const std::string& topic,
                                                           bool include_payload,
                                                           int64_t before_id, int limit) override;
  Result<std::vector<store::EnqueueOutcome>> EnqueuePhotometry(
      std::vector<outbox::PhotometryMessage> messages, bool validate_only) override;
  Result<std::vector<store::OutboxEntry>> ListOutbox(const store::OutboxFilter& filter,
                                                     int64_t before_id, int limit) override;
  Result<store::OutboxEntry> GetOutboxEntry(const std::string& uuid) override;
  Result<store::OutboxEntry> RetryOutboxEntry(const std::string& uuid) override;
  Result<store::OutboxEntry> CancelOutboxEntry(const std::string& uuid) override;

 private:
  Status Start(Notifier& notifier);
  void Stop(Notifier& notifier);
  void Reload(Notifier& notifier);
  // Starts an outbox for `config`'s destinations and makes it the one calls use.
  Status StartOutbox(const config::Config& config);
  std::shared_ptr<outbox::Outbox> CurrentOutbox() const;
  // The loops that made no progress within `limit` (see the watchdog above).
  std::vector<std::string> StalledLoops(std::chrono::milliseconds limit);
  std::string StatusLine() const;

  // Constant after construction; [store] and [control] stay as they were at the start.
  const config::Config config_;
  // The configuration in force: config_ plus reloads. Main thread only.
  config::Config current_;
  const std::chrono::system_clock::time_point started_at_;
  const std::chrono::steady_clock::time_point started_steady_;

  // Set in Start(), used by RPC threads only while the control server runs.
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::Queries> queries_;
  std::unique_ptr<stream::StreamManager> streams_;
  std::unique_ptr<control::ControlServer> control_;
  // Replaced by a reload; a call keeps the one it started with.
  mutable std::mutex outbox_mu_;
  std::shared_ptr<outbox::Outbox> outbox_;  // GUARDED_BY(outbox_mu_)
};

// Blocks the signals the daemon handles synchronously in its main loop (SIGTERM, SIGINT, SIGHUP)
// so that every thread started afterwards inherits the mask, and ignores SIGPIPE. Call first
// thing in main(), before any thread exists.
void BlockSignals();

}  // namespace tomstream::app
