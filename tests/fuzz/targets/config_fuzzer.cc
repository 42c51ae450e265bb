// Fuzz target: ParseConfig() on a tomstreamd.toml text, with a SecretResolver that never touches
// the real environment or filesystem (its answers depend only on the name asked for).
//
// Invariants:
//   - a refusal is INVALID_ARGUMENT, each line naming the source file first;
//   - no secret value the resolver handed out ever appears in an error message;
//   - an accepted configuration keeps the rules config.h and etc/tomstreamd.toml state (names,
//     brokers, handlers, required credentials, destination limits);
//   - parsing the same text twice gives the same configuration.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/logging.h"
#include "config/config.h"
#include "require.h"

namespace tomstream::fuzz {
namespace {

using config::Config;

constexpr std::string_view kSourceName = "fuzz.toml";
// In every secret value the resolver returns; never in an error message.
constexpr std::string_view kSecretMarker = "Qz7#secret#Wk2";

// Variables whose name contains UNSET are unset, EMPTY ones are empty; files whose path
// contains "missing" cannot be read, "empty" ones hold only a newline.
config::SecretResolver FakeResolver() {
  config::SecretResolver r;
  r.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name == "CREDENTIALS_DIRECTORY") return "/run/credentials/tomstreamd.service";
    if (name.find("UNSET") != std::string::npos) return std::nullopt;
    if (name.find("EMPTY") != std::string::npos) return std::string();
    return std::string(kSecretMarker) + " env";
  };
  r.read_file = [](const std::string& path) -> Result<std::string> {
    if (path.find("missing") != std::string::npos) {
      return Status::IoError("cannot read " + path + ": No such file or directory");
    }
    if (path.find("empty") != std::string::npos) return std::string("\n");
    return std::string(kSecretMarker) + " file\n";
  };
  return r;
}

bool ValidName(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
  });
}

// `text_has_marker`: the configuration text holds kSecretMarker itself (libFuzzer learns it from
// the comparisons here), so it may show up without any secret leaking.
void CheckSecret(const config::Secret& s, bool text_has_marker) {
  if (!s.is_set()) return;
  Require(!s.reveal().empty(), "a set secret is not empty");
  Require(!s.describe().empty(), "a secret says where it came from");
  Require(text_has_marker || s.describe().find(kSecretMarker) == std::string::npos,
          "a secret's description does not reveal it");
}

void CheckAccepted(const Config& cfg, bool text_has_marker) {
  Require(cfg.source_path == kSourceName, "source_path is the name given");
  Require(ParseLogLevel(cfg.daemon.log_level).has_value(), "log_level is a level");
  Require(!cfg.store.path.empty(), "store.path is not empty");
  Require(!cfg.control.socket.empty() && cfg.control.socket.size() < 108,
          "control.socket fits a Unix socket address");

  std::set<std::string> stream_names;
  for (const auto& s : cfg.streams) {
    Require(ValidName(s.name), "stream name is valid", s.name);
    Require(stream_names.insert(s.name).second, "stream names are unique", s.name);
    Require(!s.bootstrap.empty(), "a stream has brokers");
    for (const auto& b : s.bootstrap) {
      Require(b.size() > 2 && b.rfind(':') != std::string::npos && b.back() != ':',
              "a broker is host:port", b);
    }
    Require(!s.group_id.empty(), "a stream has a group id");
    using config::Security;
    if (s.security == Security::kPlain || s.security == Security::kScramSha512) {
      Require(!s.username.empty() && s.password.is_set(), "SASL needs username and password");
    }
    if (s.security == Security::kOauthBearer) {
      Require(!s.token_endpoint.empty() && !s.client_id.empty() && s.client_secret.is_set(),
              "OAUTHBEARER needs endpoint, client id and secret");
    }
    CheckSecret(s.password, text_has_marker);
    CheckSecret(s.client_secret, text_has_marker);
    for (const auto& r : s.routes) {
      Require(!r.topic.empty(), "a route selects topics");
      Require(r.handler == "hermes" || r.handler == "gcn" || r.handler == "raw" ||
                  r.handler == "log",
              "a route names a known handler", r.handler);
      if (r.start && r.start->kind == config::StartPosition::Kind::kLastN) {
        Require(r.start->last_n > 0, "last:N has N > 0");
      }
    }
    if (s.start.kind == config::StartPosition::Kind::kLastN) {
      Require(s.start.last_n > 0, "last:N has N > 0");
    }
  }

  std::set<std::string> destination_names;
  for (const auto& d : cfg.destinations) {
    Require(ValidName(d.name), "destination name is valid", d.name);
    Require(destination_names.insert(d.name).second, "destination names are unique", d.name);
    Require(!d.topics.empty(), "a destination lists topics");
    for (const auto& t : d.topics) Require(!t.empty(), "destination topics are not empty");
    Require(d.base_url.starts_with("http://") || d.base_url.starts_with("https://"),
            "base_url is http(s)", d.base_url);
    Require(d.base_url.ends_with("/"), "base_url ends with '/'", d.base_url);
    Require(d.max_in_flight >= 1, "max_in_flight is at least 1");
    Require(d.max_attempts >= 1, "max_attempts is at least 1");
    Require(d.retry_initial <= d.retry_max, "retry_initial <= retry_max");
    CheckSecret(d.api_key, text_has_marker);
    if (d.kind == config::DestinationKind::kHermes) {
      Require(d.api_key.is_set(), "a hermes destination has an API key");
    } else {
      Require(stream_names.count(d.stream) == 1, "a kafka destination names a stream", d.stream);
    }
  }
}

bool SameConfig(const Config& a, const Config& b) {
  return a.source_path == b.source_path && a.daemon == b.daemon && a.store == b.store &&
         a.control == b.control && a.streams == b.streams && a.destinations == b.destinations;
}

}  // namespace
}  // namespace tomstream::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomstream;
  static const config::SecretResolver resolver = fuzz::FakeResolver();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string source(fuzz::kSourceName);
  const bool text_has_marker = text.find(fuzz::kSecretMarker) != std::string_view::npos;
  const Result<config::Config> first = config::ParseConfig(text, source, resolver);
  const Result<config::Config> second = config::ParseConfig(text, source, resolver);
  fuzz::Require(first.ok() == second.ok(), "parsing is deterministic");
  if (!first.ok()) {
    const std::string& m = first.status().message();
    fuzz::Require(first.status().code() == StatusCode::kInvalidArgument,
                  "a refused configuration is INVALID_ARGUMENT", m);
    fuzz::Require(m == second.status().message(), "the same text gives the same errors", m);
    fuzz::Require(text_has_marker || m.find(fuzz::kSecretMarker) == std::string::npos,
                  "no secret value in an error message", m);
    // Every line starts "fuzz.toml:" ("fuzz.toml:12: key: ..." or "fuzz.toml: key: ...").
    size_t line = 0;
    while (line < m.size()) {
      fuzz::Require(m.compare(line, source.size() + 1, source + ":") == 0,
                    "every error line names the file", m);
      const size_t nl = m.find('\n', line);
      if (nl == std::string::npos) break;
      line = nl + 1;
    }
    return 0;
  }
  fuzz::CheckAccepted(first.value(), text_has_marker);
  fuzz::Require(fuzz::SameConfig(first.value(), second.value()), "parsing is deterministic");
  return 0;
}
