#include "app/notifier.h"

#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace tomstream::app {

void Notifier::Send(const std::string& message) {
  const int rc = sd_notify(0, message.c_str());
  if (rc < 0) spdlog::warn("sd_notify failed: {}", std::strerror(-rc));
}

void Notifier::Ready(const std::string& status) {
  last_status_ = status;
  Send("READY=1\nSTATUS=" + status);
}

void Notifier::Status(const std::string& status) {
  if (status == last_status_) return;
  last_status_ = status;
  Send("STATUS=" + status);
}

void Notifier::Stopping(const std::string& status) {
  last_status_ = status;
  Send("STOPPING=1\nSTATUS=" + status);
}

}  // namespace tomstream::app
