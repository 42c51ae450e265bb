// The systemd notification protocol (sd_notify). Every call is a no-op when the daemon was not
// started with $NOTIFY_SOCKET. Thread-safe (the watchdog pings from its own thread).
#pragma once

#include <chrono>
#include <mutex>
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
  // Sends `message` and remembers `status` as the last STATUS= sent.
  void SendStatus(const std::string& message, const std::string& status);

  std::mutex mu_;
  std::string last_status_;  // GUARDED_BY(mu_)
};

}  // namespace tomstream::app
