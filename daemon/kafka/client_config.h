// librdkafka configuration for a configured stream: brokers, security, credentials, bounded
// queues. Shared by the consumer (stream module) and the producer (outbox module).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "kafka/handles.h"

namespace tomstream::kafka {

class TokenSource;

// Receives a client's events. Set as the client's opaque by MakeClientConf(); a consumer or
// producer derives from it and may add callbacks of its own (e.g. rebalance), recovering itself
// with static_cast from rd_kafka_opaque().
class ClientEvents {
 public:
  virtual ~ClientEvents() = default;
  // librdkafka's error callback (transport, authentication, fatal errors, ...).
  virtual void OnKafkaError(rd_kafka_resp_err_t err, const std::string& reason) = 0;
  // Where OAUTHBEARER tokens come from; required for security = oauthbearer. Must outlive the
  // client.
  TokenSource* token_source = nullptr;
  // Used in log lines.
  std::string log_name;
};

enum class ClientRole { kConsumer, kProducer };

struct ClientOptions {
  ClientRole role = ClientRole::kConsumer;
  // Extra librdkafka properties, applied last (tests and tuning).
  std::vector<std::pair<std::string, std::string>> overrides;
};

// Builds the configuration of a client for `stream`, with `events` (which must outlive the
// client) as its opaque. Errors name the librdkafka property.
Result<ConfPtr> MakeClientConf(const config::StreamConfig& stream, const ClientOptions& options,
                               ClientEvents* events);

// The OAUTHBEARER token source of `stream` (client credentials), or nullptr when the stream
// does not use OAUTHBEARER. Set it as the client's ClientEvents::token_source.
std::unique_ptr<TokenSource> MakeTokenSource(const config::StreamConfig& stream);

// For an OAUTHBEARER stream, has librdkafka's background thread serve token refreshes, so a
// token is fetched before the first connection and renewed however busy the client's own
// thread is. Call right after rd_kafka_new(). Logs (never fails) when it cannot.
void ServeTokenRefreshInBackground(rd_kafka_t* rk, const config::StreamConfig& stream);

// "host:port,host:port": the stream's bootstrap.servers.
std::string BootstrapServers(const config::StreamConfig& stream);

// Sets one property; the error names it.
Status SetProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value);

}  // namespace tomstream::kafka
