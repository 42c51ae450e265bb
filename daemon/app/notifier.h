// The systemd notification protocol (sd_notify). Every call is a no-op when the daemon was not
// started with $NOTIFY_SOCKET.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace tomstream::app {

class Notifier {
 public:
  // READY=1 with a STATUS= line.
  void Ready(const std::string& status);
  // STATUS= only; repeated identical lines are not re-sent.
  void Status(const std::string& status);
  void Stopping(const std::string& status);
  // RELOADING=1 with MONOTONIC_USEC= (as Type=notify-reload expects); READY=1 ends the reload.
  void Reloading(const std::string& status);
  // WATCHDOG=1.
  void Watchdog();

  // The watchdog interval systemd set ($WATCHDOG_USEC for this process), if any.
  static std::optional<std::chrono::microseconds> WatchdogInterval();

 private:
  void Send(const std::string& message);
  std::string last_status_;
};

}  // namespace tomstream::app
