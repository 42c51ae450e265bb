#include "kafka_env.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

namespace tomstream::test {
namespace {

constexpr const char* kEnvVar = "TOMSTREAM_KAFKA_ENV";

std::string trim(std::string_view s) {
  const auto* ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

std::string required(const KafkaEnv& env, std::string_view key) {
  const auto it = env.values.find(key);
  if (it == env.values.end() || it->second.empty()) {
    throw std::runtime_error("Kafka broker env file " + env.path + " has no " + std::string(key) +
                             " (written by tests/kafka/broker.sh start)");
  }
  return it->second;
}

}  // namespace

std::string_view to_string(KafkaListener listener) noexcept {
  switch (listener) {
    case KafkaListener::kPlaintext: return "PLAINTEXT";
    case KafkaListener::kSaslPlaintextPlain: return "SASL_PLAINTEXT_PLAIN";
    case KafkaListener::kSaslPlaintextScram: return "SASL_PLAINTEXT_SCRAM_SHA_512";
    case KafkaListener::kSaslSslScram: return "SASL_SSL_SCRAM_SHA_512";
  }
  return "UNKNOWN";
}

KafkaEnv KafkaEnv::load(const std::string& env_file) {
  std::ifstream in(env_file);
  if (!in) {
    throw std::runtime_error("cannot read Kafka broker env file '" + env_file +
                             "': is the broker running? (ctest fixture kafka_broker_start, or "
                             "tests/kafka/broker.sh start DIR)");
  }
  KafkaEnv env;
  env.path = env_file;
  std::string line;
  while (std::getline(in, line)) {
    const auto text = trim(line);
    if (text.empty() || text.front() == '#') continue;
    const auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw std::runtime_error("malformed line in Kafka broker env file " + env_file + ": " + text);
    }
    auto value = trim(std::string_view(text).substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    env.values[trim(std::string_view(text).substr(0, eq))] = std::move(value);
  }
  env.plaintext = required(env, "KAFKA_PLAINTEXT");
  env.sasl_plaintext = required(env, "KAFKA_SASL_PLAINTEXT");
  env.sasl_ssl = required(env, "KAFKA_SASL_SSL");
  env.ca = required(env, "KAFKA_CA");
  env.user = required(env, "KAFKA_USER");
  env.password = required(env, "KAFKA_PASSWORD");
  env.user2 = required(env, "KAFKA_USER2");
  env.password2 = required(env, "KAFKA_PASSWORD2");
  env.log = required(env, "KAFKA_LOG");
  try {
    env.pid = std::stol(required(env, "KAFKA_PID"));
  } catch (const std::logic_error&) {
    throw std::runtime_error("Kafka broker env file " + env_file + " has a bad KAFKA_PID");
  }
  return env;
}

KafkaEnv KafkaEnv::from_environment() {
  const char* path = std::getenv(kEnvVar);
  if (path == nullptr || *path == '\0') {
    throw std::runtime_error(
        std::string(kEnvVar) +
        " is not set: this test needs the real Kafka broker. Run it through ctest (fixture "
        "'kafka'), or start one with tests/kafka/broker.sh start DIR and export " + kEnvVar +
        "=DIR/broker.env");
  }
  return load(path);
}

const std::string& KafkaEnv::bootstrap(KafkaListener listener) const noexcept {
  switch (listener) {
    case KafkaListener::kPlaintext: return plaintext;
    case KafkaListener::kSaslPlaintextPlain:
    case KafkaListener::kSaslPlaintextScram: return sasl_plaintext;
    case KafkaListener::kSaslSslScram: return sasl_ssl;
  }
  return plaintext;
}

void conf_set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  std::array<char, 512> err{};
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err.data(), err.size()) !=
      RD_KAFKA_CONF_OK) {
    throw std::runtime_error("librdkafka config " + key + "=" + value + ": " + err.data());
  }
}

KafkaConfPtr make_kafka_conf(const KafkaEnv& env, KafkaListener listener,
                             const KafkaClientOptions& options) {
  KafkaConfPtr conf(rd_kafka_conf_new());
  auto* c = conf.get();
  conf_set(c, "bootstrap.servers", env.bootstrap(listener));
  conf_set(c, "broker.address.family", "v4");
  const auto& user = options.username ? *options.username : env.user;
  const auto& password = options.password ? *options.password : env.password;
  switch (listener) {
    case KafkaListener::kPlaintext:
      conf_set(c, "security.protocol", "plaintext");
      break;
    case KafkaListener::kSaslPlaintextPlain:
      conf_set(c, "security.protocol", "sasl_plaintext");
      conf_set(c, "sasl.mechanism", "PLAIN");
      break;
    case KafkaListener::kSaslPlaintextScram:
      conf_set(c, "security.protocol", "sasl_plaintext");
      conf_set(c, "sasl.mechanism", "SCRAM-SHA-512");
      break;
    case KafkaListener::kSaslSslScram:
      conf_set(c, "security.protocol", "sasl_ssl");
      conf_set(c, "sasl.mechanism", "SCRAM-SHA-512");
      if (options.with_ca) conf_set(c, "ssl.ca.location", env.ca);
      break;
  }
  if (listener != KafkaListener::kPlaintext) {
    conf_set(c, "sasl.username", user);
    conf_set(c, "sasl.password", password);
  }
  if (const char* debug = std::getenv("TOMSTREAM_KAFKA_DEBUG"); debug != nullptr && *debug) {
    conf_set(c, "debug", debug);
  }
  for (const auto& [key, value] : options.extra) conf_set(c, key, value);
  return conf;
}

namespace {

KafkaPtr make_client(rd_kafka_type_t type, KafkaConfPtr conf) {
  std::array<char, 512> err{};
  KafkaPtr rk(rd_kafka_new(type, conf.get(), err.data(), err.size()));
  if (!rk) {
    throw std::runtime_error(std::string("rd_kafka_new(") +
                             (type == RD_KAFKA_PRODUCER ? "producer" : "consumer") +
                             ") failed: " + err.data());
  }
  static_cast<void>(conf.release());  // owned by rk now
  return rk;
}

}  // namespace

KafkaPtr make_producer(KafkaConfPtr conf) { return make_client(RD_KAFKA_PRODUCER, std::move(conf)); }

KafkaPtr make_consumer(KafkaConfPtr conf) {
  auto rk = make_client(RD_KAFKA_CONSUMER, std::move(conf));
  if (const auto err = rd_kafka_poll_set_consumer(rk.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(std::string("rd_kafka_poll_set_consumer: ") + rd_kafka_err2str(err));
  }
  return rk;
}

void create_topic(rd_kafka_t* rk, const std::string& topic, int partitions,
                  std::chrono::milliseconds timeout) {
  std::array<char, 512> err{};
  KafkaNewTopicPtr new_topic(
      rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err.data(), err.size()));
  if (!new_topic) throw std::runtime_error("rd_kafka_NewTopic_new(" + topic + "): " + err.data());

  KafkaAdminOptionsPtr options(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  const auto ms = static_cast<int>(timeout.count());
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), ms, err.data(), err.size()) ||
      rd_kafka_AdminOptions_set_operation_timeout(options.get(), ms, err.data(), err.size())) {
    throw std::runtime_error(std::string("rd_kafka_AdminOptions: ") + err.data());
  }

  KafkaQueuePtr queue(rd_kafka_queue_new(rk));
  rd_kafka_NewTopic_t* topics[] = {new_topic.get()};
  rd_kafka_CreateTopics(rk, topics, 1, options.get(), queue.get());

  // The result arrives within the request timeout; allow a little slack on top.
  KafkaEventPtr event(rd_kafka_queue_poll(queue.get(), ms + 5000));
  if (!event) throw std::runtime_error("CreateTopics(" + topic + "): no result (timed out)");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("CreateTopics(" + topic +
                             "): " + rd_kafka_event_error_string(event.get()));
  }
  const auto* result = rd_kafka_event_CreateTopics_result(event.get());
  if (result == nullptr) throw std::runtime_error("CreateTopics(" + topic + "): unexpected event");
  size_t count = 0;
  const auto* const* results = rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    const auto code = rd_kafka_topic_result_error(results[i]);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      const char* msg = rd_kafka_topic_result_error_string(results[i]);
      throw std::runtime_error("CreateTopics(" + topic + "): " + rd_kafka_err2name(code) + ": " +
                               (msg != nullptr ? msg : rd_kafka_err2str(code)));
    }
  }
}

std::string unique_topic(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  static const unsigned salt = std::random_device{}();
  std::string clean(prefix);
  for (auto& ch : clean) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-';
    if (!ok) ch = '-';
  }
  if (clean.size() > 120) clean.resize(120);
  std::ostringstream name;
  name << "tomstream-test-" << clean << '-' << ::getpid() << '-' << counter.fetch_add(1) << '-'
       << std::hex << salt;
  return name.str();
}

}  // namespace tomstream::test
