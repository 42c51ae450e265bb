// Publishing straight to a hop Kafka topic with a configured stream's broker and credentials.
//
// Each entry becomes one message whose value is the Hermes JSON and whose headers follow
// hop-client (REFERENCE.md section 2): `_id` (the entry's uuid, 16 raw bytes), `_format` =
// `json`, `_sender`, and Hermes's `title` and `topic`. The producer is idempotent with acks=all;
// an entry counts as delivered only on a successful delivery report. A fatal producer error
// recreates the producer; what it had in flight is reported transient and sent again later with
// the same `_id`.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "kafka/client_config.h"
#include "kafka/handles.h"
#include "kafka/token_source.h"
#include "outbox/sink.h"

namespace tomstream::outbox {

class KafkaSink final : public Sink, public kafka::ClientEvents {
 public:
  // `sender` goes into the `_sender` header. Extra librdkafka properties (tests) come last.
  KafkaSink(const config::DestinationConfig& destination, const config::StreamConfig& stream,
            std::string sender,
            std::vector<std::pair<std::string, std::string>> overrides = {});
  ~KafkaSink() override;

  void Send(store::OutboxWork work) override;
  void Poll(std::chrono::milliseconds timeout, std::vector<SinkOutcome>& out) override;
  size_t in_flight() const override { return in_flight_; }
  size_t capacity() const override { return capacity_; }
  void Abandon(std::chrono::milliseconds budget, std::vector<SinkOutcome>& out) override;

  void OnKafkaError(rd_kafka_resp_err_t err, const std::string& reason) override;

  // Times the producer was recreated after a fatal error (tests, status).
  int recreated() const { return recreated_; }
  // The current producer, for tests that inject faults (rd_kafka_test_fatal_error).
  rd_kafka_t* producer_for_testing() const { return rk_.get(); }

 private:
  static void DeliveryReport(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);
  // Creates the producer; on failure stays without one and reports sends transient.
  void Create();
  // Purges what is in flight (reported transient) and destroys the producer.
  void Destroy(std::chrono::milliseconds budget);

  const config::DestinationConfig destination_;
  const config::StreamConfig stream_;
  const std::string sender_;
  const std::vector<std::pair<std::string, std::string>> overrides_;
  const size_t capacity_;
  std::unique_ptr<kafka::TokenSource> token_source_impl_;
  kafka::KafkaPtr rk_;
  size_t in_flight_ = 0;
  std::vector<SinkOutcome>* reports_ = nullptr;  // where DeliveryReport appends, during Poll()
  std::vector<SinkOutcome> pending_reports_;     // outcomes decided outside a Poll()
  std::atomic<bool> fatal_{false};
  std::string last_create_error_;
  int recreated_ = 0;
};

}  // namespace tomstream::outbox
