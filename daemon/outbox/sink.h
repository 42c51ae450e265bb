// Where a destination's entries go: the Hermes HTTP API or a Kafka topic.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "store/outbox.h"

namespace tomstream::outbox {

// What became of one send.
struct SinkOutcome {
  enum class Kind {
    kDelivered,
    kTransient,  // worth another attempt: a timeout, a 5xx, a lost connection, a broker error
    kPermanent,  // never worth another attempt: a 4xx, a Hermes "error", a message too large
    kNotSent,    // never left this process (a full local queue, a stop): not an attempt
  };
  int64_t id = 0;  // OutboxWork::id
  Kind kind = Kind::kDelivered;
  std::string error;          // one line, for status and `outbox show`
  std::string hermes_uuid;    // kDelivered to Hermes: the uuid it returned
  std::string response_body;  // kPermanent: the answer, kept with the dead entry
};

// Used by one thread (the destination's publisher).
class Sink {
 public:
  virtual ~Sink() = default;

  // Starts sending `work` and returns without waiting for the outcome.
  // REQUIRES: in_flight() < capacity().
  virtual void Send(store::OutboxWork work) = 0;
  // Waits up to `timeout` for outcomes (less when one arrives) and appends them to `out`.
  virtual void Poll(std::chrono::milliseconds timeout, std::vector<SinkOutcome>& out) = 0;
  // Sends started and not yet reported by Poll().
  virtual size_t in_flight() const = 0;
  virtual size_t capacity() const = 0;
  // Gives up what is still in flight, reporting each such send into `out`: kNotSent when it
  // never left, kTransient when its fate is unknown. Waits up to `budget` for sends under way.
  virtual void Abandon(std::chrono::milliseconds budget, std::vector<SinkOutcome>& out) = 0;
};

}  // namespace tomstream::outbox
