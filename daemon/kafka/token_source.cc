#include "kafka/token_source.h"

#include <curl/curl.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/curl_handles.h"

namespace tomstream::kafka {
namespace {

std::string UrlEncode(CURL* curl, const std::string& s) {
  std::unique_ptr<char, decltype(&curl_free)> enc(
      curl_easy_escape(curl, s.data(), static_cast<int>(s.size())), &curl_free);
  return enc ? std::string(enc.get()) : std::string();
}


}  // namespace

ClientCredentialsTokenSource::ClientCredentialsTokenSource(ClientCredentials credentials)
    : credentials_(std::move(credentials)) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

Result<Token> ClientCredentialsTokenSource::Fetch() {
  const std::string& url = credentials_.token_endpoint;
  CurlPtr curl(curl_easy_init());
  if (!curl) return Status::Internal("curl_easy_init failed");
  std::string form = "grant_type=client_credentials&client_id=" +
                     UrlEncode(curl.get(), credentials_.client_id) + "&client_secret=" +
                     UrlEncode(curl.get(), credentials_.client_secret.reveal());
  if (!credentials_.scope.empty()) form += "&scope=" + UrlEncode(curl.get(), credentials_.scope);
  BoundedBody body;  // a token response is small; anything huge is refused
  CurlSlistPtr headers(
      curl_slist_append(nullptr, "Accept: application/json"));
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &AppendBounded);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(credentials_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(credentials_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!credentials_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, credentials_.ca_file.c_str());
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return Status::Unavailable("token endpoint " + url + ": " + curl_easy_strerror(rc));
  }
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  if (http < 200 || http >= 300) {
    return Status::Unavailable("token endpoint " + url + " answered HTTP " + std::to_string(http));
  }
  const nlohmann::json doc = nlohmann::json::parse(body.data, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("access_token") || !doc["access_token"].is_string()) {
    return Status::Unavailable("token endpoint " + url + " answered without an access_token");
  }
  Token token;
  token.value = doc["access_token"].get<std::string>();
  int64_t expires_in_s = 3600;
  if (doc.contains("expires_in") && doc["expires_in"].is_number()) {
    expires_in_s = doc["expires_in"].get<int64_t>();
  }
  if (expires_in_s <= 0) expires_in_s = 60;
  token.expiry_ms = NowMillis() + expires_in_s * 1000;
  token.principal = credentials_.client_id;
  return token;
}

}  // namespace tomstream::kafka
