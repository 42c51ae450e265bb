// Secrets in the configuration: passwords, API keys, client secrets.
//
// A secret is written in tomstreamd.toml in one of four ways:
//   password = "inline value"
//   password = { env = "HOP_PASSWORD" }           # an environment variable
//   password = { credential = "hop-password" }    # a file in $CREDENTIALS_DIRECTORY (LoadCredential=)
//   password = { file = "/etc/tomstreamd/hop.pw" } # a file; trailing newline removed
// The value never appears in logs, status output or error messages: Secret has no operator<<,
// and describe() says only where the value came from.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/status.h"

namespace tomstream::config {

class Secret {
 public:
  Secret() = default;
  Secret(std::string value, std::string origin)
      : value_(std::move(value)), origin_(std::move(origin)), set_(true) {}

  bool is_set() const { return set_; }
  // The secret itself; for handing to a library, never for logging.
  const std::string& reveal() const { return value_; }
  // Where the value came from, e.g. "env HOP_PASSWORD" or "inline"; safe to log.
  const std::string& describe() const { return origin_; }

  // Same value from the same place (a reload compares configurations with it).
  bool operator==(const Secret&) const = default;

 private:
  std::string value_;
  std::string origin_;
  bool set_ = false;
};

// How a secret reference is turned into its value. The default reads the real environment and
// filesystem; tests substitute their own.
struct SecretResolver {
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  // Reads a whole file; returns an error Status naming the path when it cannot.
  std::function<Result<std::string>(const std::string& path)> read_file;

  static SecretResolver System();
};

}  // namespace tomstream::config
