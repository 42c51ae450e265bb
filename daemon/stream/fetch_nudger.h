// A workaround for a librdkafka 2.0 fetch stall, kept off the consumer thread.
//
// librdkafka 2.0 stops fetching a partition whose local queue reached
// queued.max.messages.kbytes and looks at it again only when its broker thread wakes up, which
// can take a second: with a small (memory-bounded) queue a busy consumer then starves, at about
// half the rate. Any request on that broker connection wakes the thread; a watermark query is a
// cheap one. But rd_kafka_query_watermark_offsets() blocks until its request is answered or
// times out (socket.timeout.ms, a minute), whatever timeout it is given, when the broker is
// away. So the queries run here, on a thread of their own, and the consumer only asks for them.
// Fixed upstream in librdkafka 2.1 (fetch.queue.backoff.ms).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

namespace tomstream::stream {

class FetchNudger {
 public:
  using Partition = std::pair<std::string, int32_t>;

  // REQUIRES: `rk` outlives the nudger, or Stop() returned false and `rk` is never destroyed.
  explicit FetchNudger(rd_kafka_t* rk);
  // Stop() with no time limit.
  ~FetchNudger();
  FetchNudger(const FetchNudger&) = delete;
  FetchNudger& operator=(const FetchNudger&) = delete;

  // Asks for a wake-up of the broker threads that fetch these partitions. Returns at once; a
  // request made while the previous one is still running replaces any not yet started.
  void Nudge(std::vector<Partition> partitions);

  // Stops the thread. True when it finished within `budget`; false when it is still inside a
  // librdkafka call, in which case the thread is detached and keeps using the client handle,
  // so the caller must not destroy it (used only when the process is about to exit).
  bool Stop(std::chrono::milliseconds budget);

  // Queries issued so far (tests, status).
  int64_t nudges() const;

 private:
  // Shared with the thread, which may outlive this object after a Stop() that timed out.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Partition> wanted;  // GUARDED_BY(mu)
    bool stopping = false;          // GUARDED_BY(mu)
    bool finished = false;          // GUARDED_BY(mu)
    int64_t nudges = 0;             // GUARDED_BY(mu)
  };
  static void Run(rd_kafka_t* rk, const std::shared_ptr<State>& state);

  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::thread thread_;
};

}  // namespace tomstream::stream
