// tomstreamd's configuration: the in-memory form of tomstreamd.toml.
//
// LoadConfig() parses and validates a file strictly: an unknown key, a value of the wrong type,
// an out-of-range number or an unresolvable secret is an error naming the key path (and the
// line, where the parser knows it). All errors are reported at once, one per line.
// etc/tomstreamd.toml documents every key.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/secret.h"

namespace tomstream::config {

inline constexpr const char* kDefaultConfigPath = "/etc/tomstreamd/tomstreamd.toml";

struct DaemonConfig {
  std::string log_level = "info";
  std::chrono::milliseconds shutdown_timeout{10000};

  bool operator==(const DaemonConfig&) const = default;
};

struct StoreConfig {
  std::string path = "/var/lib/tomstreamd/tomstream.db";
  std::chrono::milliseconds busy_timeout{5000};
  // Group commit: a write transaction closes after this many messages or this delay.
  int commit_max_messages = 1000;
  std::chrono::milliseconds commit_max_delay{5};
  int reader_connections = 2;
  // The largest the database file may grow, in MiB; 0: no limit but the disk. A write that
  // would pass it fails (RESOURCE_EXHAUSTED) and stores nothing; what is stored stays intact.
  int64_t max_size_mb = 0;

  bool operator==(const StoreConfig&) const = default;
};

struct ControlConfig {
  std::string socket = "/run/tomstreamd/control.sock";
  // Group that may use the socket (mode 0660). Empty: the daemon's own group.
  std::string socket_group;
  // Optional TCP listener ("127.0.0.1:50051"). Empty: none. Carries no authentication.
  std::string tcp_listen;
  int max_message_bytes = 4 * 1024 * 1024;

  bool operator==(const ControlConfig&) const = default;
};

enum class Security { kNone, kPlain, kScramSha512, kOauthBearer };
const char* SecurityName(Security s);

// Where a route starts when it has no stored position.
struct StartPosition {
  enum class Kind { kEarliest, kLatest, kTime, kLastN };
  Kind kind = Kind::kEarliest;
  int64_t time_ms = 0;  // kTime: Unix epoch milliseconds
  int64_t last_n = 0;   // kLastN

  bool operator==(const StartPosition&) const = default;
};

// The longest route pattern or regex accepted, in bytes. std::regex compiles recursively, a few
// stack frames per character, and some tens of thousands of characters overflow the stack;
// Kafka topic names have at most 249 characters, so a longer expression is no loss.
inline constexpr size_t kMaxRouteExpressionBytes = 1024;

struct RouteConfig {
  enum class Match { kExact, kPattern, kRegex };
  Match match = Match::kExact;
  std::string topic;  // the exact name, wildcard pattern or regex, per `match`
  std::string handler;
  std::optional<StartPosition> start;  // unset: the stream's start
  bool include_test = false;

  bool operator==(const RouteConfig&) const = default;
};

struct StreamConfig {
  std::string name;
  bool active = true;
  std::vector<std::string> bootstrap;  // host:port, from the kafka:// URL
  Security security = Security::kNone;
  bool tls = false;
  std::string ca_file;
  std::string username;
  Secret password;
  // OAUTHBEARER client credentials (GCN).
  std::string token_endpoint;
  std::string client_id;
  Secret client_secret;
  std::string group_id;
  StartPosition start;
  std::string heartbeat_topic;
  std::chrono::milliseconds heartbeat_timeout{60000};
  // How often the broker's topic list is read again (routes to new topics, patterns).
  std::chrono::milliseconds topic_refresh{10000};
  std::vector<RouteConfig> routes;

  bool operator==(const StreamConfig&) const = default;
};

enum class DestinationKind { kHermes, kKafka };

struct DestinationConfig {
  std::string name;
  DestinationKind kind = DestinationKind::kHermes;
  std::string base_url = "https://hermes.lco.global/";
  Secret api_key;
  std::string default_authors;
  std::vector<std::string> topics;
  std::string stream;  // kKafka: the configured stream whose broker and credentials are used
  std::chrono::milliseconds request_timeout{30000};
  int max_attempts = 10;
  // Waits between attempts: retry_initial, doubling, at most retry_max, each +-20% at random.
  std::chrono::milliseconds retry_initial{1000};
  std::chrono::milliseconds retry_max{300000};
  // Entries being sent at once: parallel HTTP requests (hermes), or messages awaiting their
  // delivery report (kafka).
  int max_in_flight = 0;  // 0: the kind's default, 4 (hermes) or 1000 (kafka)

  bool operator==(const DestinationConfig&) const = default;
};

struct Config {
  std::string source_path;
  DaemonConfig daemon;
  StoreConfig store;
  ControlConfig control;
  std::vector<StreamConfig> streams;
  std::vector<DestinationConfig> destinations;
};

// Reads and validates the file at `path`, resolving secrets through `secrets`.
Result<Config> LoadConfig(const std::string& path, const SecretResolver& secrets);

// As LoadConfig, from text already in memory; `source_name` appears in error messages.
Result<Config> ParseConfig(std::string_view text, const std::string& source_name,
                           const SecretResolver& secrets);

}  // namespace tomstream::config
