// Liveness of the daemon's loops, for the systemd watchdog: each long-running loop (a stream's
// consumer, a destination's publisher) beats once per iteration, and the main thread pings the
// watchdog only while every loop beat recently (see app/watchdog.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace tomstream {

class Heartbeat {
 public:
  Heartbeat() { Beat(); }

  // Called by the loop once per iteration: a clock read and a relaxed store.
  void Beat() { last_.store(Now(), std::memory_order_relaxed); }

  // Time since the last beat.
  std::chrono::milliseconds Age() const {
    return std::chrono::milliseconds(Now() - last_.load(std::memory_order_relaxed));
  }

 private:
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  std::atomic<int64_t> last_;
};

}  // namespace tomstream
