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

// A response body that refuses to grow past `limit` bytes (the transfer then fails with
// CURLE_WRITE_ERROR). Set with CURLOPT_WRITEFUNCTION = AppendBounded, CURLOPT_WRITEDATA = &body.
struct BoundedBody {
  std::string data;
  size_t limit = 64 * 1024;
};

inline size_t AppendBounded(char* data, size_t size, size_t count, void* out) {
  auto* body = static_cast<BoundedBody*>(out);
  if (body->data.size() + size * count > body->limit) return 0;
  body->data.append(data, size * count);
  return size * count;
}

}  // namespace tomstream
