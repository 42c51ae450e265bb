#include "app/watchdog.h"

#include <algorithm>

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "app/notifier.h"

namespace tomstream::app {

using std::chrono::milliseconds;

milliseconds Watchdog::StallLimit(std::chrono::microseconds interval) {
  return std::max(std::chrono::duration_cast<milliseconds>(interval / 2), milliseconds(2000));
}

Watchdog::Watchdog(std::chrono::microseconds interval, Check check, Notifier& notifier)
    : tick_(std::clamp(std::chrono::duration_cast<milliseconds>(interval / 4), milliseconds(50),
                       milliseconds(1000))),
      limit_(StallLimit(interval)),
      check_(std::move(check)),
      notifier_(notifier) {
  spdlog::info("watchdog: {} ms; pinging every {} ms while no loop stalls for {} ms",
               std::chrono::duration_cast<milliseconds>(interval).count(), tick_.count(),
               limit_.count());
  thread_ = std::thread([this] { Run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::vector<std::string> Watchdog::stalled() const {
  std::lock_guard lock(mu_);
  return stalled_;
}

void Watchdog::Run() {
  std::vector<std::string> previous;
  for (;;) {
    std::vector<std::string> now_stalled = check_(limit_);
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;  // checked after the check: no ping once a stop began
      stalled_ = now_stalled;
      if (now_stalled.empty()) notifier_.Watchdog();
    }
    if (now_stalled != previous) {
      if (now_stalled.empty()) {
        spdlog::info("watchdog: every loop makes progress again");
      } else {
        spdlog::error("watchdog: no progress for {} ms in: {}; not pinging", limit_.count(),
                      fmt::join(now_stalled, ", "));
      }
      previous = std::move(now_stalled);
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, tick_, [this] { return stopping_; })) return;
  }
}

}  // namespace tomstream::app
