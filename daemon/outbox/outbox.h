// The outbox: accepts photometry messages (validated as Hermes validates them, stored durably,
// acknowledged after the commit) and publishes them to their destinations in the background,
// with retries, backoff and dead-lettering. See store/outbox.h for an entry's states.
//
// Threads: Enqueue() and the queries run on the caller's thread (gRPC). Each destination has a
// publisher thread that claims due entries from the store, hands them to its sink (Hermes HTTP
// or Kafka) and records the outcomes. At most max_in_flight entries per destination are out of
// the store at once, so memory stays bounded whatever the backlog.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "outbox/photometry.h"
#include "store/outbox.h"

namespace tomstream::store {
class Store;
}

namespace tomstream::outbox {

struct DestinationStatus {
  std::string name;
  std::string kind;  // "hermes" or "kafka"
  std::string last_error;
  int64_t last_error_ms = -1;
  int64_t delivered = 0;  // since the daemon started
};

struct OutboxStatus {
  store::OutboxCounts counts;
  double deliveries_per_second = 0;
  std::vector<DestinationStatus> destinations;
};

struct OutboxOptions {
  std::vector<config::DestinationConfig> destinations;
  std::vector<config::StreamConfig> streams;  // the brokers of kafka destinations
  // Extra librdkafka properties for kafka destinations' producers (tests).
  std::vector<std::pair<std::string, std::string>> kafka_overrides;
};

class Outbox {
 public:
  // Puts entries a previous run left `sending` back to `pending` and starts the publishers.
  static Result<std::unique_ptr<Outbox>> Start(OutboxOptions options, store::Store& store);
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Stops the publishers: sends under way get up to `budget` to finish; the rest stay in the
  // store and are sent after the next start. Idempotent.
  void Stop(std::chrono::milliseconds budget);

  // Checks every message (all problems reported at once, as INVALID_ARGUMENT naming each field
  // by path, prefixed "messages[i]." when there are several) and, unless `validate_only`,
  // stores them all in one transaction and returns once it is committed. Nothing is stored
  // when any message is invalid. An empty authors takes the destination's default authors.
  Result<std::vector<store::EnqueueOutcome>> Enqueue(std::vector<PhotometryMessage> messages,
                                                     bool validate_only);

  Result<std::vector<store::OutboxEntry>> List(const store::OutboxFilter& filter,
                                               int64_t before_id, int limit);
  Result<store::OutboxEntry> Get(const std::string& uuid);
  Result<store::OutboxEntry> Retry(const std::string& uuid);
  Result<store::OutboxEntry> Cancel(const std::string& uuid);

  Result<OutboxStatus> GetStatus();

  // Names of the publisher loops that have not gone round for `limit` ("destination hermes").
  std::vector<std::string> Stalled(std::chrono::milliseconds limit) const;

 private:
  class Publisher;
  Outbox(OutboxOptions options, store::Store& store);
  // Entries of `destination` may be due now: its publisher claims without waiting.
  void WakePublisher(const std::string& destination);

  const OutboxOptions options_;
  store::OutboxStore store_;
  std::vector<std::unique_ptr<Publisher>> publishers_;
};

// The key that makes a repeated enqueue find the first: SHA-256 of the idempotency key when
// there is one, else of the message body. (Compared per destination and topic.)
std::string DedupeKey(const std::string& idempotency_key, const std::string& body);

// The wait before attempt `attempts` + 1: `initial` doubled per earlier attempt, at most `max`,
// scaled by `jitter` (0.8 to 1.2 in use).
std::chrono::milliseconds RetryDelay(int attempts, std::chrono::milliseconds initial,
                                     std::chrono::milliseconds max, double jitter);

}  // namespace tomstream::outbox
