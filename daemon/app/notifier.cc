#include "app/notifier.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace tomstream::app {

void Notifier::Send(const std::string& message) {
  const int rc = sd_notify(0, message.c_str());
  if (rc < 0) spdlog::warn("sd_notify failed: {}", std::strerror(-rc));
}

void Notifier::SendStatus(const std::string& message, const std::string& status) {
  std::lock_guard lock(mu_);
  last_status_ = status;
  Send(message);
}

void Notifier::Ready(const std::string& status) { SendStatus("READY=1\nSTATUS=" + status, status); }

void Notifier::Status(const std::string& status) {
  {
    std::lock_guard lock(mu_);
    if (status == last_status_) return;
  }
  SendStatus("STATUS=" + status, status);
}

void Notifier::Stopping(const std::string& status) {
  SendStatus("STOPPING=1\nSTATUS=" + status, status);
}

void Notifier::Reloading(const std::string& status) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long long usec = static_cast<long long>(now.tv_sec) * 1000000LL + now.tv_nsec / 1000;
  SendStatus("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=" + status,
             status);
}

void Notifier::Watchdog() { Send("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> Notifier::WatchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

}  // namespace tomstream::app
