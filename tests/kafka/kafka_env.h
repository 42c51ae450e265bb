// Test helpers for the real Kafka broker started by tests/kafka/broker.sh (ctest fixture "kafka").
//
// The broker writes a shell-style KEY=VALUE file (broker.env); ctest passes its path in the
// environment variable TOMSTREAM_KAFKA_ENV. A missing or unreadable file throws: tests that need
// the broker must FAIL without it, never skip.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tomstream::test {

// ------------------------------------------------------------------------------- RAII handles
struct KafkaConfDeleter {
  void operator()(rd_kafka_conf_t* p) const noexcept { rd_kafka_conf_destroy(p); }
};
struct KafkaDeleter {  // also closes a consumer (leaves its group) before destroying it
  void operator()(rd_kafka_t* p) const noexcept { rd_kafka_destroy(p); }
};
struct KafkaQueueDeleter {
  void operator()(rd_kafka_queue_t* p) const noexcept { rd_kafka_queue_destroy(p); }
};
struct KafkaMessageDeleter {
  void operator()(rd_kafka_message_t* p) const noexcept { rd_kafka_message_destroy(p); }
};
struct KafkaHeadersDeleter {
  void operator()(rd_kafka_headers_t* p) const noexcept { rd_kafka_headers_destroy(p); }
};
struct KafkaEventDeleter {
  void operator()(rd_kafka_event_t* p) const noexcept { rd_kafka_event_destroy(p); }
};
struct KafkaTopicPartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* p) const noexcept {
    rd_kafka_topic_partition_list_destroy(p);
  }
};
struct KafkaNewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* p) const noexcept { rd_kafka_NewTopic_destroy(p); }
};
struct KafkaAdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* p) const noexcept { rd_kafka_AdminOptions_destroy(p); }
};
struct KafkaErrorDeleter {
  void operator()(rd_kafka_error_t* p) const noexcept { rd_kafka_error_destroy(p); }
};

using KafkaConfPtr = std::unique_ptr<rd_kafka_conf_t, KafkaConfDeleter>;
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using KafkaQueuePtr = std::unique_ptr<rd_kafka_queue_t, KafkaQueueDeleter>;
using KafkaMessagePtr = std::unique_ptr<rd_kafka_message_t, KafkaMessageDeleter>;
using KafkaHeadersPtr = std::unique_ptr<rd_kafka_headers_t, KafkaHeadersDeleter>;
using KafkaEventPtr = std::unique_ptr<rd_kafka_event_t, KafkaEventDeleter>;
using KafkaTopicPartitionListPtr =
    std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaTopicPartitionListDeleter>;
using KafkaNewTopicPtr = std::unique_ptr<rd_kafka_NewTopic_t, KafkaNewTopicDeleter>;
using KafkaAdminOptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, KafkaAdminOptionsDeleter>;
using KafkaErrorPtr = std::unique_ptr<rd_kafka_error_t, KafkaErrorDeleter>;

// --------------------------------------------------------------------------------- broker env
// The broker's listeners and how a client authenticates on them.
enum class KafkaListener {
  kPlaintext,          // PLAINTEXT
  kSaslPlaintextPlain, // SASL_PLAINTEXT + PLAIN
  kSaslPlaintextScram, // SASL_PLAINTEXT + SCRAM-SHA-512
  kSaslSslScram,       // SASL_SSL + SCRAM-SHA-512, CA = KafkaEnv::ca (the Hopskotch setup)
};

// "PLAINTEXT", "SASL_PLAINTEXT_PLAIN", ... (usable as a GoogleTest parameter name).
std::string_view to_string(KafkaListener listener) noexcept;

struct KafkaEnv {
  std::string plaintext;       // 127.0.0.1:<port>
  std::string sasl_plaintext;  // 127.0.0.1:<port>
  std::string sasl_ssl;        // localhost:<port>
  std::string ca;              // PEM file of the CA that signed the broker certificate
  std::string user;            // SCRAM-SHA-512 and PLAIN user
  std::string password;
  std::string user2;           // a second user
  std::string password2;
  long pid = 0;                // broker JVM
  std::string log;             // broker log file
  std::string path;            // the env file this was read from
  std::map<std::string, std::string, std::less<>> values;  // every KEY=VALUE of the file

  // Parses a broker.env file. Throws std::runtime_error when unreadable or incomplete.
  static KafkaEnv load(const std::string& env_file);
  // Reads the file named by $TOMSTREAM_KAFKA_ENV (re-read on every call: the broker may have been
  // restarted with a new pid). Throws std::runtime_error with instructions when unset/unreadable.
  static KafkaEnv from_environment();

  // bootstrap.servers for a listener.
  [[nodiscard]] const std::string& bootstrap(KafkaListener listener) const noexcept;
};

// ------------------------------------------------------------------------------ configuration
// Sets one property; throws std::runtime_error naming the key on failure.
void conf_set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value);

struct KafkaClientOptions {
  std::optional<std::string> username = {};  // default: env.user
  std::optional<std::string> password = {};  // default: env.password
  bool with_ca = true;                       // false: no ssl.ca.location (system CAs only)
  std::map<std::string, std::string> extra = {};  // further properties, applied last
};

// A configuration for `listener`: bootstrap.servers, security.protocol, sasl.*, ssl.ca.location,
// broker.address.family=v4, small queues. If $TOMSTREAM_KAFKA_DEBUG is set it becomes `debug`.
KafkaConfPtr make_kafka_conf(const KafkaEnv& env, KafkaListener listener,
                             const KafkaClientOptions& options = {});

// Create clients; take ownership of `conf` (also on failure). Throw std::runtime_error.
KafkaPtr make_producer(KafkaConfPtr conf);
KafkaPtr make_consumer(KafkaConfPtr conf);  // also redirects the main queue to the consumer queue

// Creates a topic through the admin API and waits for the result (bounded). An existing topic is
// not an error. Throws std::runtime_error on failure or timeout.
void create_topic(rd_kafka_t* rk, const std::string& topic, int partitions = 1,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A topic name unique per process and call: "tomstream-test-<prefix>-<pid>-<n>-<random>".
// Characters of `prefix` outside [A-Za-z0-9-] become '-'.
std::string unique_topic(std::string_view prefix = "t");

}  // namespace tomstream::test
