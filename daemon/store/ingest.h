// Storing consumed Kafka messages exactly once.
//
// An IngestBatch carries messages of one stream together with the next offset of every
// partition they came from. WriteIngest() stores the messages (or their quarantine entries) and
// those offsets in one transaction, so after a crash the stored offsets say exactly which
// messages are stored: resuming from them neither skips nor repeats a message. A message whose
// message_id (hop _id, else a content hash) is already stored is counted as a duplicate and not
// stored again; its offset still advances.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "handlers/handler.h"

namespace tomstream::store {

class Store;

// What happens to one consumed message.
enum class Disposition {
  kStore,       // store as an alert (with the handler's extracted records)
  kQuarantine,  // store in quarantine with `error`
  kSkip,        // store nothing (a hop _test message, a log-only handler, a heartbeat)
};

// One message. Views point into memory that the batch's `keepalive` owns.
struct IngestMessage {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = -1;
  std::string_view handler;  // static storage (Handler::name())
  // 16 bytes (hop _id) or 32 (SHA-256 of topic and payload).
  std::array<char, 32> message_id_bytes{};
  uint8_t message_id_size = 0;
  std::string format;
  std::string_view payload;
  std::string_view headers;  // EncodeHeaders()
  Disposition disposition = Disposition::kStore;
  std::string error;    // kQuarantine
  handlers::ParsedAlert parsed;

  std::string_view message_id() const { return {message_id_bytes.data(), message_id_size}; }
};

// The offset to resume from for one partition once the batch is stored.
struct PartitionPosition {
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = 0;
  int64_t last_message_ms = -1;
};

// Owns whatever the message views point into (e.g. librdkafka messages) until the batch is
// stored.
class BatchKeepalive {
 public:
  virtual ~BatchKeepalive() = default;
};

struct IngestBatch {
  std::string stream;
  std::vector<IngestMessage> messages;
  std::vector<PartitionPosition> positions;
  std::unique_ptr<BatchKeepalive> keepalive;
};

struct IngestCounts {
  int64_t stored = 0;
  int64_t duplicates = 0;
  int64_t quarantined = 0;
  int64_t skipped = 0;
  int64_t last_alert_id = 0;  // 0 when nothing was stored
};

// Headers as stored: for each header a 4-byte little-endian key length, the key, a 4-byte value
// length (0xFFFFFFFF for a null value) and the value.
std::string EncodeHeaders(std::span<const handlers::Header> headers);
// The same into `out` (replacing its contents), reusing its capacity.
void EncodeHeaders(std::span<const handlers::Header> headers, std::string& out);
// REQUIRES: `blob` came from EncodeHeaders(). Views point into `blob`.
std::vector<handlers::Header> DecodeHeaders(std::string_view blob);

class IngestStore {
 public:
  explicit IngestStore(Store& store) : store_(store) {}

  // Gets the batch back, so that its memory (and what its keepalive holds) is released or
  // reused by the submitting thread rather than by the writer.
  using DoneFn = std::function<void(const Status&, const IngestCounts&, IngestBatch&&)>;

  // Queues the batch for the writer; `done` runs on the writer thread after the commit (or the
  // failure). On a failure nothing of the batch is stored, offsets included.
  Status Submit(IngestBatch batch, DoneFn done);

  // Reads the stored positions of `stream` (all topics when `topic` is empty).
  Result<std::vector<PartitionPosition>> Positions(const std::string& stream,
                                                const std::string& topic = "");

  // Overwrites the stored position of partitions (used when a route is seeked).
  Status SetPositions(const std::string& stream, const std::vector<PartitionPosition>& positions);

  // After a batch of `stream` fails, later batches of the same stream fail too (so that no
  // later offset is stored past unstored messages) until Resume(stream) runs.
  Status Resume(const std::string& stream);

  // The persisted counters of `stream` (zeros when it never stored anything).
  Result<IngestCounts> Counters(const std::string& stream);

 private:
  Store& store_;
  std::set<std::string> failed_streams_;  // used only on the store's writer thread
};

}  // namespace tomstream::store
