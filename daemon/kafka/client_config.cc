#include "kafka/client_config.h"

#include <spdlog/spdlog.h>

#include "kafka/token_source.h"

namespace tomstream::kafka {
namespace {

void ErrorCallback(rd_kafka_t* rk, int err, const char* reason, void* /*opaque*/) {
  auto* events = static_cast<ClientEvents*>(rd_kafka_opaque(rk));
  events->OnKafkaError(static_cast<rd_kafka_resp_err_t>(err), reason != nullptr ? reason : "");
}

// Called from librdkafka's own threads, possibly while the client is being abandoned at exit:
// it uses only the client's name (client.id), never the opaque.
void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const char* name = rd_kafka_name(rk);
  // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug.
  const auto lvl = level <= 3   ? spdlog::level::err
                   : level == 4 ? spdlog::level::warn
                   : level <= 6 ? spdlog::level::info
                                : spdlog::level::debug;
  spdlog::log(lvl, "kafka {}: {}: {}", name, fac, buf);
}

void TokenRefreshCallback(rd_kafka_t* rk, const char* /*config*/, void* /*opaque*/) {
  auto* events = static_cast<ClientEvents*>(rd_kafka_opaque(rk));
  if (events->token_source == nullptr) {
    rd_kafka_oauthbearer_set_token_failure(rk, "no token source configured");
    return;
  }
  auto token = events->token_source->Fetch();
  if (!token.ok()) {
    spdlog::warn("kafka {}: OAUTHBEARER token fetch failed: {}", events->log_name,
                 token.status().message());
    rd_kafka_oauthbearer_set_token_failure(rk, token.status().message().c_str());
    return;
  }
  char err[512] = {};
  if (rd_kafka_oauthbearer_set_token(rk, token->value.c_str(), token->expiry_ms,
                                     token->principal.c_str(), nullptr, 0, err,
                                     sizeof err) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka {}: OAUTHBEARER token rejected by librdkafka: {}", events->log_name, err);
    rd_kafka_oauthbearer_set_token_failure(rk, err);
    return;
  }
  spdlog::info("kafka {}: OAUTHBEARER token refreshed", events->log_name);
}

}  // namespace

std::string BootstrapServers(const config::StreamConfig& stream) {
  std::string out;
  for (const auto& b : stream.bootstrap) {
    if (!out.empty()) out += ',';
    out += b;
  }
  return out;
}

Status SetProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char err[512] = {};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    return Status::InvalidArgument("librdkafka property " + name + ": " + err);
  }
  return Status::Ok();
}

Result<ConfPtr> MakeClientConf(const config::StreamConfig& stream, const ClientOptions& options,
                               ClientEvents* events) {
  ConfPtr conf(rd_kafka_conf_new());
  std::vector<std::pair<std::string, std::string>> props{
      {"bootstrap.servers", BootstrapServers(stream)},
      {"client.id", "tomstreamd-" + stream.name},
      // Capped at 1 s (the Java client's default; librdkafka's is 10 s), so that after a long
      // outage the first attempt after the broker's return comes within about a second.
      {"reconnect.backoff.ms", "100"},
      {"reconnect.backoff.max.ms", "1000"},
      {"socket.keepalive.enable", "true"},
  };
  const bool sasl = stream.security != config::Security::kNone;
  props.emplace_back("security.protocol", sasl ? (stream.tls ? "SASL_SSL" : "SASL_PLAINTEXT")
                                               : (stream.tls ? "SSL" : "PLAINTEXT"));
  switch (stream.security) {
    case config::Security::kNone: break;
    case config::Security::kPlain:
    case config::Security::kScramSha512:
      props.emplace_back("sasl.mechanism",
                         stream.security == config::Security::kPlain ? "PLAIN" : "SCRAM-SHA-512");
      props.emplace_back("sasl.username", stream.username);
      props.emplace_back("sasl.password", stream.password.reveal());
      break;
    case config::Security::kOauthBearer:
      props.emplace_back("sasl.mechanism", "OAUTHBEARER");
      break;
  }
  if (!stream.ca_file.empty()) props.emplace_back("ssl.ca.location", stream.ca_file);

  if (options.role == ClientRole::kConsumer) {
    // Offsets are stored in SQLite with the messages and committed to Kafka by hand afterwards.
    props.insert(props.end(), {{"group.id", stream.group_id},
                               {"enable.auto.commit", "false"},
                               {"enable.auto.offset.store", "false"},
                               {"auto.offset.reset", "earliest"},
                               {"enable.partition.eof", "false"},
                               // Bounded prefetch (the default is 64 MiB per partition queue).
                               {"queued.max.messages.kbytes", "4096"},
                               {"fetch.max.bytes", "4194304"},
                               {"max.partition.fetch.bytes", "1048576"},
                               {"topic.metadata.refresh.interval.ms", "30000"},
                               {"allow.auto.create.topics", "false"}});
  } else {
    props.insert(props.end(), {{"enable.idempotence", "true"},
                               {"acks", "all"},
                               // Bounded producer queue (the default is 1 GiB).
                               {"queue.buffering.max.kbytes", "16384"},
                               {"queue.buffering.max.messages", "20000"},
                               {"linger.ms", "5"}});
  }
  for (const auto& [k, v] : options.overrides) props.emplace_back(k, v);
  for (const auto& [k, v] : props) {
    Status st = SetProperty(conf.get(), k, v);
    // The value may be a secret: name only the property.
    if (!st.ok()) return st;
  }
  rd_kafka_conf_set_opaque(conf.get(), events);
  rd_kafka_conf_set_error_cb(conf.get(), &ErrorCallback);
  rd_kafka_conf_set_log_cb(conf.get(), &LogCallback);
  if (stream.security == config::Security::kOauthBearer) {
    rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf.get(), &TokenRefreshCallback);
    // A SASL queue of its own for the refresh callback, which the client's creator hands to
    // librdkafka's background thread with rd_kafka_sasl_background_callbacks_enable() (that call
    // fails without this queue). Otherwise the refresh waits on the main queue (for a consumer:
    // the consumer queue) until the client's thread polls, and is late whenever that thread is
    // busy: the first token only after the first metadata call timed out, renewals not at all
    // during store back-pressure, so the token expires.
    rd_kafka_conf_enable_sasl_queue(conf.get(), 1);
  }
  return conf;
}

std::unique_ptr<TokenSource> MakeTokenSource(const config::StreamConfig& stream) {
  if (stream.security != config::Security::kOauthBearer) return nullptr;
  ClientCredentials cc;
  cc.token_endpoint = stream.token_endpoint;
  cc.client_id = stream.client_id;
  cc.client_secret = stream.client_secret;
  cc.ca_file = stream.ca_file;
  return std::make_unique<ClientCredentialsTokenSource>(cc);
}

void ServeTokenRefreshInBackground(rd_kafka_t* rk, const config::StreamConfig& stream) {
  if (stream.security != config::Security::kOauthBearer) return;
  ErrorPtr error(rd_kafka_sasl_background_callbacks_enable(rk));
  if (error) {
    spdlog::error("stream {}: cannot serve OAUTHBEARER refreshes in the background: {}",
                  stream.name, rd_kafka_error_string(error.get()));
  }
}

}  // namespace tomstream::kafka
