// RAII owners for librdkafka handles. Every rd_kafka_* object the daemon creates is held by one
// of these from the moment it exists.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>

namespace tomstream::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* p) const noexcept { rd_kafka_conf_destroy(p); }
};
struct KafkaDeleter {
  void operator()(rd_kafka_t* p) const noexcept { rd_kafka_destroy(p); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* p) const noexcept { rd_kafka_queue_destroy(p); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* p) const noexcept { rd_kafka_message_destroy(p); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* p) const noexcept { rd_kafka_headers_destroy(p); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* p) const noexcept { rd_kafka_event_destroy(p); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* p) const noexcept {
    rd_kafka_topic_partition_list_destroy(p);
  }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* p) const noexcept { rd_kafka_metadata_destroy(p); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* p) const noexcept { rd_kafka_error_destroy(p); }
};

using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;

}  // namespace tomstream::kafka
