// Liveness of the daemon's loops, for the systemd watchdog: each long-running loop (a stream's
// consumer, a destination's publisher) beats once per iteration, and the main thread pings the
// watchdog only while every loop beat recently (see app/watchdog.h).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace tomstream {

class Heartbeat {
 public:
  Heartbeat() { Beat(); }

  // Called by the loop once per iteration: a clock read and a relaxed store.
  void Beat() { last_.store(Now(), std::memory_order_relaxed); }

  // Marks a call with its own timeout (a broker request, a bounded wait for the store) for its
  // scope: the loop counts as making progress until `bound` has passed, so a broker outage that
  // makes every request wait out its timeout is not mistaken for a stall. Nests.
  class Busy {
   public:
    Busy(Heartbeat& h, std::chrono::milliseconds bound)
        : h_(h), previous_(h.busy_until_.load(std::memory_order_relaxed)) {
      h_.busy_until_.store(std::max(previous_, Now() + bound.count()), std::memory_order_relaxed);
    }
    ~Busy() {
      h_.busy_until_.store(previous_, std::memory_order_relaxed);
      h_.Beat();
    }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

   private:
    Heartbeat& h_;
    const int64_t previous_;
  };

  // How long the loop has been silent beyond what it announced: time since the last beat or the
  // end of the current Busy bound, whichever is later; 0 while within a bound.
  std::chrono::milliseconds Age() const {
    const int64_t since = std::max(last_.load(std::memory_order_relaxed),
                                   busy_until_.load(std::memory_order_relaxed));
    return std::chrono::milliseconds(std::max<int64_t>(0, Now() - since));
  }

 private:
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  std::atomic<int64_t> last_;
  std::atomic<int64_t> busy_until_{0};
};

}  // namespace tomstream
