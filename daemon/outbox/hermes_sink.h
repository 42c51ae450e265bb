// Publishing through the Hermes HTTP API: POST {base_url}api/v0/submit_message/ with
// "Authorization: Token <api key>" (REFERENCE.md section 1).
//
// A fixed number of worker threads (the destination's max_in_flight) each send one request at
// a time over a kept-alive connection. Outcomes:
//   2xx without an "error" key  -> delivered; the "uuid" Hermes returns is kept
//   2xx with an "error" key     -> permanent (Hermes's answer for a user without a SCiMMA
//                                  credential), the body kept
//   4xx                         -> permanent, the body kept (429 is transient)
//   5xx, timeouts, lost or refused connections -> transient
// Hermes has no idempotency key: a request that timed out may still have been accepted, and its
// retry then shares the message twice. Nothing on our side can rule that out.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "outbox/sink.h"

namespace tomstream::outbox {

// Classifies one Hermes answer (exposed for tests). `truncated`: only the body's start was read
// (a 2xx answer that large is the echo of a large message: delivered, its uuid unknown).
SinkOutcome ClassifyHermesAnswer(int64_t id, long http_status, const std::string& body,
                                 bool truncated = false);

class HermesSink final : public Sink {
 public:
  explicit HermesSink(const config::DestinationConfig& destination);
  ~HermesSink() override;

  void Send(store::OutboxWork work) override;
  void Poll(std::chrono::milliseconds timeout, std::vector<SinkOutcome>& out) override;
  size_t in_flight() const override;
  size_t capacity() const override { return workers_.size(); }
  void Abandon(std::chrono::milliseconds budget, std::vector<SinkOutcome>& out) override;

 private:
  void Work();
  // libcurl's progress callback: a non-zero answer aborts the transfer (when aborting_).
  static int OnProgress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t);

  const config::DestinationConfig destination_;
  const std::string url_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // a request queued, or stopping
  std::condition_variable done_cv_;  // an outcome ready
  std::deque<store::OutboxWork> queue_;  // GUARDED_BY(mu_)
  std::vector<SinkOutcome> outcomes_;    // GUARDED_BY(mu_)
  size_t in_flight_ = 0;                 // GUARDED_BY(mu_): queued + being sent + unreported
  bool stopping_ = false;                // GUARDED_BY(mu_)
  std::atomic<bool> aborting_{false};    // requests under way give up (stopping)
  std::vector<std::thread> workers_;
};

}  // namespace tomstream::outbox
