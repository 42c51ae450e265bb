#include "stream/fetch_nudger.h"

namespace tomstream::stream {

FetchNudger::FetchNudger(rd_kafka_t* rk) : thread_([rk, state = state_] { Run(rk, state); }) {}

FetchNudger::~FetchNudger() { Stop(std::chrono::milliseconds::max()); }

void FetchNudger::Nudge(std::vector<Partition> partitions) {
  {
    std::lock_guard lock(state_->mu);
    if (state_->stopping) return;
    state_->wanted = std::move(partitions);
  }
  state_->cv.notify_one();
}

bool FetchNudger::Stop(std::chrono::milliseconds budget) {
  if (!thread_.joinable()) return true;
  State& s = *state_;
  std::unique_lock lock(s.mu);
  s.stopping = true;
  s.cv.notify_all();
  bool finished = true;
  if (budget == std::chrono::milliseconds::max()) {
    s.cv.wait(lock, [&] { return s.finished; });
  } else {
    finished = s.cv.wait_for(lock, budget, [&] { return s.finished; });
  }
  lock.unlock();
  if (finished) {
    thread_.join();
  } else {
    thread_.detach();
  }
  return finished;
}

int64_t FetchNudger::nudges() const {
  std::lock_guard lock(state_->mu);
  return state_->nudges;
}

void FetchNudger::Run(rd_kafka_t* rk, const std::shared_ptr<State>& state) {
  State& s = *state;
  std::unique_lock lock(s.mu);
  for (;;) {
    s.cv.wait(lock, [&] { return s.stopping || !s.wanted.empty(); });
    if (s.stopping) break;
    std::vector<Partition> partitions = std::move(s.wanted);
    s.wanted.clear();
    lock.unlock();
    for (const Partition& p : partitions) {
      {
        std::lock_guard check(s.mu);
        if (s.stopping) break;  // each query may wait a minute for an unreachable broker
      }
      int64_t low = 0;
      int64_t high = 0;
      (void)rd_kafka_query_watermark_offsets(rk, p.first.c_str(), p.second, &low, &high, 1000);
    }
    lock.lock();
    s.nudges += static_cast<int64_t>(partitions.size());
  }
  s.finished = true;
  s.cv.notify_all();
}

}  // namespace tomstream::stream
