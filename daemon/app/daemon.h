// The daemon's lifecycle: start the modules in order, serve until told to stop, stop them in
// the reverse order within a bounded time.
//
// Start: store (migrations) -> control socket -> READY=1.
// Stop (SIGTERM/SIGINT): STOPPING=1 -> control server stops taking calls and drains in-flight
// ones -> the store commits what is queued and closes. If the whole stop takes longer than
// daemon.shutdown_timeout_ms the process exits with status 1 rather than hang.
#pragma once

#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <string>

#include "config/config.h"
#include "control/daemon_view.h"

namespace tomstream::store {
class Store;
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

 private:
  Status Start(Notifier& notifier);
  void Stop(Notifier& notifier);
  std::string StatusLine() const;

  // Constant after construction.
  const config::Config config_;
  const std::chrono::system_clock::time_point started_at_;
  const std::chrono::steady_clock::time_point started_steady_;

  // Set in Start(), read by RPC threads only while the control server runs.
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<control::ControlServer> control_;
};

// Blocks the signals the daemon handles synchronously in its main loop (SIGTERM, SIGINT, SIGHUP)
// so that every thread started afterwards inherits the mask, and ignores SIGPIPE. Call first
// thing in main(), before any thread exists.
void BlockSignals();

}  // namespace tomstream::app
