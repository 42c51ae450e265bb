// systemd's watchdog (WatchdogSec=): WATCHDOG=1 only while the daemon's loops make progress.
//
// A thread of its own checks every quarter interval (at most each second) and pings only when
// `check` names no stalled loop; so a reload or a slow step on the main thread never starves
// the pings, and a stuck consumer, publisher or control server stops them, after which systemd
// restarts the daemon. Transitions are logged; stalled() feeds the STATUS= line.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tomstream::app {

class Notifier;

class Watchdog {
 public:
  // Names the loops that made no progress within `limit`.
  using Check = std::function<std::vector<std::string>(std::chrono::milliseconds limit)>;

  Watchdog(std::chrono::microseconds interval, Check check, Notifier& notifier);
  ~Watchdog();  // stops the thread; no ping follows
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // The stalled loops as of the last check (empty while all is well).
  std::vector<std::string> stalled() const;

  // How long a loop may go without progress: half the interval, at least 2 s.
  static std::chrono::milliseconds StallLimit(std::chrono::microseconds interval);

 private:
  void Run();

  const std::chrono::milliseconds tick_;
  const std::chrono::milliseconds limit_;
  const Check check_;
  Notifier& notifier_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;              // GUARDED_BY(mu_)
  std::vector<std::string> stalled_;   // GUARDED_BY(mu_)
  std::thread thread_;                 // last: uses the members above
};

}  // namespace tomstream::app
