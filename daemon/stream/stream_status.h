// Plain snapshots of a stream's state, for status output (no Kafka types).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tomstream::stream {

enum class StreamState {
  kInactive,    // active = false in the config
  kConnecting,  // consumer created, the broker not reached yet
  kConnected,
  kBackoff,     // the broker is unreachable; retrying
  kAuthFailed,
  kStale,       // the heartbeat topic went quiet
  kPaused,      // the store refused a batch; retrying
};

const char* StreamStateName(StreamState state);

struct PartitionStatusSnapshot {
  std::string topic;
  int32_t partition = 0;
  int64_t stored_offset = -1;   // next offset to consume, as stored
  int64_t high_watermark = -1;  // -1: unknown
  int64_t lag = -1;             // -1: unknown
  int64_t last_message_ms = -1;
};

struct StreamStatusSnapshot {
  std::string name;
  std::string bootstrap;
  std::string security;
  std::string group_id;
  StreamState state = StreamState::kInactive;
  std::string last_error;
  int64_t last_error_ms = 0;
  double messages_per_second = 0;
  int64_t stored = 0;
  int64_t duplicates = 0;
  int64_t quarantined = 0;
  int64_t skipped = 0;
  int64_t last_heartbeat_ms = 0;
  std::vector<std::string> subscribed_topics;
  std::vector<PartitionStatusSnapshot> partitions;
};

}  // namespace tomstream::stream
