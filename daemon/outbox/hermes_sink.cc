#include "outbox/hermes_sink.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/curl_handles.h"

namespace tomstream::outbox {
namespace {

constexpr size_t kMaxResponseBytes = 1 << 20;  // a submit answer echoes the message: small
constexpr size_t kMaxKeptBody = 16 * 1024;     // what a dead entry keeps of the answer

// The length of the valid UTF-8 sequence at the start of `s`, or 0.
size_t Utf8SequenceLength(std::string_view s) {
  const auto c = static_cast<unsigned char>(s[0]);
  size_t n = 0;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0 && c >= 0xc2) n = 2;
  else if ((c & 0xf0) == 0xe0) n = 3;
  else if ((c & 0xf8) == 0xf0 && c <= 0xf4) n = 4;
  else return 0;
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80) return 0;
  }
  return n;
}

// What a dead entry keeps of an answer: at most kMaxKeptBody bytes, cut between characters,
// and valid UTF-8 (each invalid byte becomes '?'): it is shown through proto3 string fields,
// which a client cannot parse otherwise. A proxy's Latin-1 error page is no exception.
std::string Truncated(const std::string& body) {
  std::string out;
  std::string_view rest(body);
  while (!rest.empty()) {
    const size_t n = Utf8SequenceLength(rest);
    if (out.size() + std::max<size_t>(n, 1) > kMaxKeptBody) return out + "...";
    if (n == 0) {
      out += '?';
      rest.remove_prefix(1);
    } else {
      out.append(rest.substr(0, n));
      rest.remove_prefix(n);
    }
  }
  return out;
}

}  // namespace

SinkOutcome ClassifyHermesAnswer(int64_t id, long http_status, const std::string& body,
                                bool truncated) {
  SinkOutcome o;
  o.id = id;
  const std::string status = "Hermes answered HTTP " + std::to_string(http_status);
  if (http_status >= 200 && http_status < 300) {
    const nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object() && !truncated) {
      // Not Hermes (a proxy's page, a wrong base_url): the message was not shared. Kept dead, so
      // that it shows, rather than retried blindly or taken for delivered.
      o.kind = SinkOutcome::Kind::kPermanent;
      o.error = status + " with a body that is not a Hermes answer (is base_url right?)";
      o.response_body = Truncated(body);
      return o;
    }
    if (doc.is_object() && doc.contains("error")) {
      o.kind = SinkOutcome::Kind::kPermanent;
      const nlohmann::json& e = doc["error"];
      o.error = status + " with an error: " + (e.is_string() ? e.get<std::string>() : e.dump());
      o.response_body = Truncated(body);
      return o;
    }
    o.kind = SinkOutcome::Kind::kDelivered;
    if (doc.is_object() && doc.contains("uuid") && doc["uuid"].is_string()) {
      o.hermes_uuid = doc["uuid"].get<std::string>();
    }
    return o;
  }
  if (http_status >= 400 && http_status < 500 && http_status != 408 && http_status != 429) {
    o.kind = SinkOutcome::Kind::kPermanent;
    o.error = status;
    o.response_body = Truncated(body);
    return o;
  }
  o.kind = SinkOutcome::Kind::kTransient;
  o.error = status;
  return o;
}

HermesSink::HermesSink(const config::DestinationConfig& destination)
    : destination_(destination), url_(destination.base_url + "api/v0/submit_message/") {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const int n = std::max(1, destination.max_in_flight);
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { Work(); });
}

HermesSink::~HermesSink() {
  aborting_ = true;  // a hanging server must not hold the daemon's stop for a request timeout
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void HermesSink::Send(store::OutboxWork work) {
  {
    std::lock_guard lock(mu_);
    ++in_flight_;
    queue_.push_back(std::move(work));
  }
  work_cv_.notify_one();
}

void HermesSink::Poll(std::chrono::milliseconds timeout, std::vector<SinkOutcome>& out) {
  std::unique_lock lock(mu_);
  done_cv_.wait_for(lock, timeout, [&] { return !outcomes_.empty(); });
  in_flight_ -= outcomes_.size();
  out.insert(out.end(), std::make_move_iterator(outcomes_.begin()),
             std::make_move_iterator(outcomes_.end()));
  outcomes_.clear();
}

size_t HermesSink::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

void HermesSink::Abandon(std::chrono::milliseconds budget, std::vector<SinkOutcome>& out) {
  std::unique_lock lock(mu_);
  // Not started yet: never sent, so plainly retried later.
  for (const store::OutboxWork& w : queue_) {
    out.push_back({w.id, SinkOutcome::Kind::kNotSent, "not sent: the daemon stopped", "", ""});
  }
  in_flight_ -= queue_.size();
  queue_.clear();
  // Requests under way get the budget to finish; then they are aborted (reported transient: the
  // server may or may not have accepted them).
  if (!done_cv_.wait_for(lock, budget, [&] { return in_flight_ == outcomes_.size(); })) {
    aborting_ = true;
    done_cv_.wait_for(lock, std::chrono::seconds(2),
                      [&] { return in_flight_ == outcomes_.size(); });
  }
  in_flight_ -= outcomes_.size();
  out.insert(out.end(), std::make_move_iterator(outcomes_.begin()),
             std::make_move_iterator(outcomes_.end()));
  outcomes_.clear();
}

int HermesSink::OnProgress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<HermesSink*>(self)->aborting_ ? 1 : 0;
}

void HermesSink::Work() {
  CurlPtr curl(curl_easy_init());
  const std::string auth = "Authorization: Token " + destination_.api_key.reveal();
  CurlSlistPtr headers(curl_slist_append(nullptr, auth.c_str()));
  curl_slist_append(headers.get(), "Content-Type: application/json");
  curl_slist_append(headers.get(), "Accept: application/json");
  for (;;) {
    store::OutboxWork work;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    SinkOutcome outcome;
    if (!curl) {
      outcome = {work.id, SinkOutcome::Kind::kTransient, "curl_easy_init failed", "", ""};
    } else {
      CURL* c = curl.get();
      BoundedBody body;
      body.limit = kMaxResponseBytes;
      // Hermes echoes the message: a large one's answer is read to its end, its start kept.
      body.keep_reading = true;
      curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, work.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(work.body.size()));
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &AppendBounded);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
      const long timeout_ms = static_cast<long>(destination_.request_timeout.count());
      curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
      curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min(timeout_ms, 10000L));
      curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
      curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &HermesSink::OnProgress);
      curl_easy_setopt(c, CURLOPT_XFERINFODATA, this);
      const CURLcode rc = curl_easy_perform(c);
      if (rc != CURLE_OK) {
        outcome = {work.id, SinkOutcome::Kind::kTransient,
                   std::string("Hermes request failed: ") + curl_easy_strerror(rc), "", ""};
      } else {
        long http = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
        outcome = ClassifyHermesAnswer(work.id, http, body.data, body.truncated);
      }
    }
    {
      std::lock_guard lock(mu_);
      outcomes_.push_back(std::move(outcome));
    }
    done_cv_.notify_all();
  }
}

}  // namespace tomstream::outbox
