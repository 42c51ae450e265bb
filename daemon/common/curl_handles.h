// RAII for libcurl handles and a bounded response-body sink. Header-only: the module that
// includes it links CURL::libcurl.
#pragma once

#include <curl/curl.h>

#include <cstddef>
#include <memory>
#include <string>

namespace tomstream {

struct CurlDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// A response body kept up to `limit` bytes. Past it the transfer fails (CURLE_WRITE_ERROR), or
// with `keep_reading` the rest is read and dropped and `truncated` set. Set with
// CURLOPT_WRITEFUNCTION = AppendBounded, CURLOPT_WRITEDATA = &body.
struct BoundedBody {
  std::string data;
  size_t limit = 64 * 1024;
  bool keep_reading = false;
  bool truncated = false;
};

inline size_t AppendBounded(char* data, size_t size, size_t count, void* out) {
  auto* body = static_cast<BoundedBody*>(out);
  const size_t n = size * count;
  if (body->data.size() + n > body->limit) {
    if (!body->keep_reading) return 0;
    body->data.append(data, body->limit - body->data.size());
    body->truncated = true;
    return n;
  }
  body->data.append(data, n);
  return n;
}

}  // namespace tomstream
