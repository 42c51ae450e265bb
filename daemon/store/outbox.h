// The durable outbox: photometry messages accepted for publishing and what became of them.
//
// Life of an entry: Enqueue() stores it `pending` (acknowledged to the client only after the
// commit). The publisher Claim()s due pending entries, which marks them `sending` and counts an
// attempt, and Complete()s them as `delivered`, back to `pending` with a later next attempt, or
// `dead`. A client may Cancel() a pending entry and Retry() a dead or cancelled one. Entries
// left `sending` by a crash are put back to `pending` at start-up (RecoverSending()) and sent
// again with the same uuid, so consumers can recognise the repeat. Nothing is ever deleted.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace tomstream::store {

class Store;

// Numbered as control.proto's OutboxState.
enum class OutboxState : int {
  kPending = 1,
  kSending = 2,
  kDelivered = 3,
  kDead = 4,
  kCancelled = 5,
};
const char* OutboxStateName(OutboxState state);

struct NewOutboxEntry {
  std::string uuid;  // 16 bytes
  std::string destination;
  std::string topic;
  std::string title;
  std::string idempotency_key;  // may be empty
  std::string dedupe_key;       // the repeat-detection key (see outbox module)
  std::string body;             // the message as it will be sent
};

struct EnqueueOutcome {
  std::string uuid;  // 16 bytes: the new entry's, or the earlier equal entry's
  bool duplicate = false;
  OutboxState state = OutboxState::kPending;
};

struct OutboxEntry {
  int64_t id = 0;
  std::string uuid;  // 16 bytes
  std::string destination;
  std::string topic;
  std::string title;
  OutboxState state = OutboxState::kPending;
  int attempts = 0;
  std::string last_error;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t next_attempt_at_ms = 0;
  int64_t delivered_at_ms = -1;  // -1 until delivered
  std::string hermes_uuid;
  std::string response_body;
  std::string idempotency_key;
  std::string body;  // only from Get()
};

// A claimed entry: what a sink needs to send it.
struct OutboxWork {
  int64_t id = 0;
  std::string uuid;  // 16 bytes
  std::string destination;
  std::string topic;
  std::string title;
  std::string body;
  int attempts = 0;  // including this one
};

// What a sink made of one claimed entry.
struct OutboxResult {
  // kNotSent: back to pending, due at retry_at_ms, the claim's attempt not counted.
  enum class Kind { kDelivered, kRetry, kDead, kNotSent };
  int64_t id = 0;
  Kind kind = Kind::kDelivered;
  std::string error;          // kRetry, kDead
  std::string hermes_uuid;    // kDelivered to Hermes
  std::string response_body;  // kDead: the answer that killed it
  int64_t retry_at_ms = 0;    // kRetry
};

struct OutboxFilter {
  std::optional<OutboxState> state;
  std::string destination;  // empty: any
  std::string topic;        // empty: any
};

struct OutboxCounts {
  int64_t pending = 0;
  int64_t sending = 0;
  int64_t delivered = 0;
  int64_t dead = 0;
  int64_t cancelled = 0;
  int64_t oldest_pending_created_ms = -1;  // -1 when nothing is pending
};

class OutboxStore {
 public:
  explicit OutboxStore(Store& store) : store_(store) {}

  using EnqueueDone = std::function<void(const Status&, std::vector<EnqueueOutcome>)>;
  // Stores the entries in one transaction, all or none. An entry whose destination, topic and
  // dedupe_key equal a stored entry's (or an earlier entry's of the same call) is not stored
  // again: its outcome names the stored entry, with duplicate = true. `done` runs on the
  // store's writer thread after the commit or the failure; it must not block.
  Status Enqueue(std::vector<NewOutboxEntry> entries, EnqueueDone done);

  // Puts entries left `sending` by an earlier run back to `pending`, due now. Returns how many.
  Result<int64_t> RecoverSending(int64_t now_ms);

  // Marks up to `limit` pending entries of `destination` that are due by `due_by_ms` (default:
  // `now_ms`) as `sending`, counting an attempt, and returns them, longest due first.
  Result<std::vector<OutboxWork>> Claim(const std::string& destination, int64_t now_ms, int limit,
                                        std::optional<int64_t> due_by_ms = std::nullopt);

  // Makes every pending entry of `destination` due at `now_ms` (their backoff no longer
  // applies: the destination answered again). Returns how many were waiting.
  Result<int64_t> Hasten(const std::string& destination, int64_t now_ms);

  // Records outcomes in one transaction. `done` as for Enqueue (may be empty).
  Status Complete(std::vector<OutboxResult> results, std::function<void(const Status&)> done);

  // The earliest next attempt of a pending entry of `destination`, if any.
  Result<std::optional<int64_t>> NextDue(const std::string& destination);

  // Newest first, ids below `before_id` (0: from the newest).
  Result<std::vector<OutboxEntry>> List(const OutboxFilter& filter, int64_t before_id, int limit);
  // NOT_FOUND when no entry has this uuid (16 bytes).
  Result<OutboxEntry> Get(const std::string& uuid);
  // A dead or cancelled entry becomes pending, due now, with its attempts counted afresh (the
  // last error and answer stay until the next attempt). FAILED_PRECONDITION in other states.
  Result<OutboxEntry> Retry(const std::string& uuid, int64_t now_ms);
  // A pending entry becomes cancelled. FAILED_PRECONDITION in other states.
  Result<OutboxEntry> Cancel(const std::string& uuid, int64_t now_ms);

  Result<OutboxCounts> Counts();

 private:
  // Moves the entry from one of `from` to `to` on the writer; the entry as it is afterwards.
  Result<OutboxEntry> Transition(const std::string& uuid, std::vector<OutboxState> from,
                                 OutboxState to, int64_t now_ms, const char* verb);

  Store& store_;
};

}  // namespace tomstream::store
