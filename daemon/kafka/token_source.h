// OAUTHBEARER tokens for librdkafka (GCN Kafka).
//
// Debian's librdkafka 2.0.2 is built without OIDC support, so the daemon fetches tokens itself:
// an OAuth 2.0 client-credentials grant (HTTP POST, grant_type=client_credentials) to the
// stream's token endpoint, with libcurl. librdkafka asks for a new token from its refresh
// callback at 80% of the previous token's lifetime, so tokens are renewed before they expire.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "common/status.h"
#include "config/secret.h"

namespace tomstream::kafka {

struct Token {
  std::string value;
  int64_t expiry_ms = 0;  // Unix epoch milliseconds
  std::string principal;
};

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // Fetches a fresh token. Bounded in time. Thread-safe.
  virtual Result<Token> Fetch() = 0;
};

struct ClientCredentials {
  std::string token_endpoint;
  std::string client_id;
  config::Secret client_secret;
  std::string scope;  // optional
  std::string ca_file;  // optional CA bundle for the endpoint's TLS
  std::chrono::milliseconds timeout{10000};
};

class ClientCredentialsTokenSource final : public TokenSource {
 public:
  explicit ClientCredentialsTokenSource(ClientCredentials credentials);
  // On failure the error names the endpoint and the HTTP status or curl error, never the secret.
  Result<Token> Fetch() override;

 private:
  const ClientCredentials credentials_;
};

}  // namespace tomstream::kafka
