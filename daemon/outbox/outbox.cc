#include "outbox/outbox.h"

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/heartbeat.h"
#include "common/logging.h"
#include "common/test_hooks.h"
#include "common/text.h"
#include "outbox/hermes_sink.h"
#include "outbox/kafka_sink.h"
#include "outbox/uuid.h"
#include "store/store.h"

namespace tomstream::outbox {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Entries claimed from the store at once, at most.
constexpr int kClaimBatch = 500;
// While a destination fails, how often one entry is tried whatever its backoff: the bound on how
// long after a destination's return delivery resumes.
constexpr auto kProbeInterval = std::chrono::seconds(2);

std::string Sha256(std::string_view prefix, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx.get(), prefix.data(), prefix.size());
  EVP_DigestUpdate(ctx.get(), data.data(), data.size());
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  return std::string(reinterpret_cast<const char*>(digest), len);
}

const char* KindName(config::DestinationKind kind) {
  return kind == config::DestinationKind::kHermes ? "hermes" : "kafka";
}

}  // namespace

std::string DedupeKey(const std::string& idempotency_key, const std::string& body) {
  // The prefixes keep a key from ever equalling a body's hash.
  if (!idempotency_key.empty()) return Sha256(std::string_view("key\0", 4), idempotency_key);
  return Sha256(std::string_view("body\0", 5), body);
}

std::chrono::milliseconds RetryDelay(int attempts, std::chrono::milliseconds initial,
                                     std::chrono::milliseconds max, double jitter) {
  double delay = static_cast<double>(initial.count());
  for (int i = 1; i < attempts && delay < static_cast<double>(max.count()); ++i) delay *= 2;
  delay = std::min(delay, static_cast<double>(max.count())) * jitter;
  return std::chrono::milliseconds(static_cast<int64_t>(delay));
}

// One destination's publishing loop.
class Outbox::Publisher {
 public:
  Publisher(const config::DestinationConfig& destination, std::unique_ptr<Sink> sink,
            store::OutboxStore& store)
      : destination_(destination), sink_(std::move(sink)), store_(store) {
    thread_ = std::thread([this] { Run(); });
  }

  ~Publisher() {
    RequestStop(0ms);
    Join();
  }

  // Asks the thread to stop; sends under way get `budget` to finish. Returns at once, so that
  // every destination's stop runs at the same time.
  void RequestStop(std::chrono::milliseconds budget) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      stop_budget_ = budget;
    }
    cv_.notify_all();
  }

  // Waits for the thread, then closes the sink (joining its HTTP workers, destroying its
  // producer), so that no send of this publisher is still under way when a reload starts the
  // next outbox, which sends entries left `sending` again.
  void Join() {
    if (thread_.joinable()) thread_.join();
    sink_.reset();
  }

  // New or retried entries may be due: claim without waiting for the next due time.
  void Wake() {
    {
      std::lock_guard lock(mu_);
      wake_ = true;
    }
    cv_.notify_all();
  }

  DestinationStatus Snapshot() const {
    std::lock_guard lock(mu_);
    return status_;
  }

  // Time since the thread last went round its loop (at least once a second while healthy).
  std::chrono::milliseconds SinceProgress() const { return progress_.Age(); }

  bool Stopping() const {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  double DeliveriesPerSecond() const {
    std::lock_guard lock(mu_);
    return rate_;
  }

 private:
  void Run() {
    const LogField destination_field("DESTINATION", destination_.name);
    std::mt19937 rng{std::random_device{}()};
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    std::optional<int64_t> next_due = NowMillis();  // look at once: a backlog may be waiting
    auto rate_since = Clock::now();
    int64_t delivered_since = 0;
    std::vector<SinkOutcome> outcomes;
    for (;;) {
      test_hooks::MaybeStall(test_hooks::Loop::kPublisher);
      progress_.Beat();
      bool woken = false;
      bool idled = false;
      {
        std::unique_lock lock(mu_);
        if (stopping_) break;
        if (sink_->in_flight() == 0 && !wake_) {
          // Idle: sleep until woken or the next entry is due (re-checked at least each second).
          auto wait = 1000ms;
          if (next_due) wait = std::clamp(std::chrono::milliseconds(*next_due - NowMillis()), 0ms, wait);
          if (failing_) {
            wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::max(next_probe_ - Clock::now(), Clock::duration(0))));
          }
          cv_.wait_for(lock, wait, [&] { return stopping_ || wake_; });
          if (stopping_) break;
          idled = true;
        }
        woken = wake_;
        wake_ = false;
      }
      if (woken) {
        next_due = NowMillis();
      } else if (idled && (!next_due || *next_due > NowMillis())) {
        // Nothing is known to be due yet: look again (a retry by hand, an entry recovered).
        auto due = store_.NextDue(destination_.name);
        if (due.ok()) next_due = *due;
      }
      // Outcomes the store could not take before are recorded first (their entries are out of
      // the sink but still `sending`).
      if (!unrecorded_.empty() && Clock::now() >= next_record_attempt_) RecordPending();

      // Claim what is due, as far as the sink has room. While the destination fails, one entry
      // at a time: when one is due, and at least every kProbeInterval whatever the backoff says,
      // so that a destination that comes back is noticed within that interval (then everything
      // waiting is made due at once, see below) and a failing one gets no burst.
      const size_t room = sink_->capacity() - std::min(sink_->capacity(), sink_->in_flight());
      const bool any_due = next_due && *next_due <= NowMillis();
      const bool probe = failing_ && Clock::now() >= next_probe_;
      if (failing_ ? sink_->in_flight() == 0 && (any_due || probe) : room > 0 && any_due) {
        const int want = failing_ ? 1 : static_cast<int>(std::min<size_t>(room, kClaimBatch));
        std::optional<int64_t> due_by;
        if (failing_ && probe) {
          due_by = std::numeric_limits<int64_t>::max();
          next_probe_ = Clock::now() + kProbeInterval;
        }
        auto claimed = store_.Claim(destination_.name, NowMillis(), want, due_by);
        if (!claimed.ok()) {
          NoteError("store: " + claimed.status().message());
          next_due = NowMillis() + 1000;
        } else {
          for (store::OutboxWork& w : *claimed) {
            in_flight_[w.id] = {w.attempts, w.uuid};
            sink_->Send(std::move(w));
          }
          if (static_cast<int>(claimed->size()) < want) {
            // Everything due is out; the next is due later (or nothing is pending).
            auto due = store_.NextDue(destination_.name);
            next_due = due.ok() ? *due : std::optional<int64_t>(NowMillis() + 1000);
          }
        }
      }

      outcomes.clear();
      if (sink_->in_flight() > 0) sink_->Poll(5ms, outcomes);
      if (!outcomes.empty()) {
        const bool was_failing = failing_;
        const std::optional<int64_t> earliest_retry = Record(outcomes, jitter, rng);
        delivered_since += RecordPending();
        if (was_failing && !failing_) {
          // It answers again: what waits for its backoff goes now.
          auto hastened = store_.Hasten(destination_.name, NowMillis());
          if (hastened.ok()) {
            spdlog::info("destination {}: answering again; {} waiting entries are due now",
                         destination_.name, *hastened);
          }
          next_due = NowMillis();
        }
        // Entries back to `pending` are due again at their retry time: wake up then.
        if (earliest_retry && (!next_due || *earliest_retry < *next_due)) next_due = earliest_retry;
      }

      const auto now = Clock::now();
      if (now - rate_since >= 1s) {
        std::lock_guard lock(mu_);
        rate_ = static_cast<double>(delivered_since) /
                std::chrono::duration<double>(now - rate_since).count();
        rate_since = now;
        delivered_since = 0;
      }
    }
    // Stopping: give sends under way their chance, then record everything.
    std::chrono::milliseconds budget;
    {
      std::lock_guard lock(mu_);
      budget = stop_budget_;
    }
    outcomes.clear();
    sink_->Abandon(budget, outcomes);
    if (!outcomes.empty()) Record(outcomes, jitter, rng);
    // What the store refuses now stays `sending` and is sent again after the next start.
    if (!unrecorded_.empty()) RecordPending();
  }

  // Turns sink outcomes into store results (queued in unrecorded_ for RecordPending()): the
  // next attempt's time, or dead after max_attempts. Returns the earliest time an entry is due
  // again, if any goes back to `pending`.
  std::optional<int64_t> Record(const std::vector<SinkOutcome>& outcomes,
                                std::uniform_real_distribution<double>& jitter, std::mt19937& rng) {
    std::optional<int64_t> earliest_retry;
    const int64_t now = NowMillis();
    for (const SinkOutcome& o : outcomes) {
      store::OutboxResult r;
      r.id = o.id;
      InFlight sent{1, {}};
      if (auto it = in_flight_.find(o.id); it != in_flight_.end()) {
        sent = std::move(it->second);
        in_flight_.erase(it);
      }
      const int attempts = sent.attempts;
      // Reachability: any answer (delivered, or refused for good) means the destination is there;
      // a transient failure means it may not be.
      if (o.kind == SinkOutcome::Kind::kTransient) {
        if (!failing_) next_probe_ = Clock::now() + kProbeInterval;
        failing_ = true;
      } else if (o.kind != SinkOutcome::Kind::kNotSent) {
        failing_ = false;
      }
      switch (o.kind) {
        case SinkOutcome::Kind::kDelivered:
          r.kind = store::OutboxResult::Kind::kDelivered;
          r.hermes_uuid = o.hermes_uuid;
          break;
        case SinkOutcome::Kind::kNotSent:
          // Not an attempt: due again shortly (a full local queue drains within milliseconds).
          r.kind = store::OutboxResult::Kind::kNotSent;
          r.retry_at_ms = now + 100;
          break;
        case SinkOutcome::Kind::kTransient:
          if (attempts >= destination_.max_attempts) {
            r.kind = store::OutboxResult::Kind::kDead;
            r.error = o.error + " (attempt " + std::to_string(attempts) + " of " +
                      std::to_string(destination_.max_attempts) + ")";
          } else {
            r.kind = store::OutboxResult::Kind::kRetry;
            r.error = o.error;
            r.retry_at_ms = now + RetryDelay(attempts, destination_.retry_initial,
                                             destination_.retry_max, jitter(rng))
                                      .count();
          }
          break;
        case SinkOutcome::Kind::kPermanent:
          r.kind = store::OutboxResult::Kind::kDead;
          r.error = o.error;
          r.response_body = o.response_body;
          break;
      }
      if (r.kind == store::OutboxResult::Kind::kRetry ||
          r.kind == store::OutboxResult::Kind::kNotSent) {
        if (!earliest_retry || r.retry_at_ms < *earliest_retry) earliest_retry = r.retry_at_ms;
      }
      if (!o.error.empty() && o.kind != SinkOutcome::Kind::kNotSent) NoteError(o.error);
      if (r.kind == store::OutboxResult::Kind::kDead || r.kind == store::OutboxResult::Kind::kRetry) {
        const std::string uuid = sent.uuid.size() == 16 ? UuidToString(sent.uuid) : "";
        const LogField uuid_field("OUTBOX_UUID", uuid);
        if (r.kind == store::OutboxResult::Kind::kDead) {
          spdlog::warn("destination {}: entry {} is dead: {}", destination_.name, uuid, r.error);
        } else {
          spdlog::debug("destination {}: entry {} attempt {} failed, retrying: {}",
                        destination_.name, uuid, attempts, r.error);
        }
      }
      unrecorded_.push_back(std::move(r));
    }
    return earliest_retry;
  }

  // Commits unrecorded_ and waits for the commit. On failure they are kept and tried again a
  // second later: the entries must not stay `sending` while the daemon runs. Returns how many
  // deliveries were recorded.
  int64_t RecordPending() {
    const int64_t delivered = std::count_if(
        unrecorded_.begin(), unrecorded_.end(),
        [](const store::OutboxResult& r) { return r.kind == store::OutboxResult::Kind::kDelivered; });
    auto committed = std::make_shared<std::promise<Status>>();
    auto future = committed->get_future();
    Status st = store_.Complete(unrecorded_, [committed](const Status& s) { committed->set_value(s); });
    if (st.ok()) st = future.get();
    if (!st.ok()) {
      spdlog::error("destination {}: cannot record {} delivery outcomes (trying again): {}",
                    destination_.name, unrecorded_.size(), st.message());
      NoteError("store: " + st.message());
      next_record_attempt_ = Clock::now() + 1s;
      return 0;
    }
    unrecorded_.clear();
    std::lock_guard lock(mu_);
    status_.delivered += delivered;
    return delivered;
  }

  void NoteError(const std::string& error) {
    std::lock_guard lock(mu_);
    status_.last_error = error;
    status_.last_error_ms = NowMillis();
  }

  const config::DestinationConfig destination_;
  std::unique_ptr<Sink> sink_;  // reset by Join()
  store::OutboxStore& store_;
  // Publisher thread only:
  // Set by a transient failure, cleared by any answer: see the claim in Run().
  bool failing_ = false;
  Clock::time_point next_probe_;
  struct InFlight {
    int attempts;
    std::string uuid;  // 16 bytes
  };
  std::map<int64_t, InFlight> in_flight_;          // by OutboxWork::id
  std::vector<store::OutboxResult> unrecorded_;    // outcomes not yet committed
  Clock::time_point next_record_attempt_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;                     // GUARDED_BY(mu_)
  bool stopping_ = false;                 // GUARDED_BY(mu_)
  std::chrono::milliseconds stop_budget_{0};  // GUARDED_BY(mu_)
  DestinationStatus status_;              // GUARDED_BY(mu_)
  double rate_ = 0;                       // GUARDED_BY(mu_)
  Heartbeat progress_;  // the thread's loop, for the watchdog
  std::thread thread_;
};

Outbox::Outbox(OutboxOptions options, store::Store& store)
    : options_(std::move(options)), store_(store) {}

Outbox::~Outbox() { Stop(0ms); }

Result<std::unique_ptr<Outbox>> Outbox::Start(OutboxOptions options, store::Store& store) {
  std::unique_ptr<Outbox> outbox(new Outbox(std::move(options), store));
  auto recovered = outbox->store_.RecoverSending(NowMillis());
  if (!recovered.ok()) return recovered.status().WithContext("recovering the outbox");
  if (*recovered > 0) {
    spdlog::info("outbox: {} entries were being sent when the daemon stopped; sending them again "
                 "with the same ids",
                 *recovered);
  }
  for (const config::DestinationConfig& d : outbox->options_.destinations) {
    std::unique_ptr<Sink> sink;
    if (d.kind == config::DestinationKind::kHermes) {
      sink = std::make_unique<HermesSink>(d);
    } else {
      auto stream = std::find_if(outbox->options_.streams.begin(), outbox->options_.streams.end(),
                                 [&](const config::StreamConfig& s) { return s.name == d.stream; });
      if (stream == outbox->options_.streams.end()) {
        return Status::InvalidArgument("destination " + d.name + ": no stream named " + d.stream);
      }
      const std::string sender = stream->username.empty() ? "tomstreamd" : stream->username;
      sink = std::make_unique<KafkaSink>(d, *stream, sender, outbox->options_.kafka_overrides);
    }
    outbox->publishers_.push_back(std::make_unique<Publisher>(d, std::move(sink), outbox->store_));
  }
  return outbox;
}

void Outbox::Stop(std::chrono::milliseconds budget) {
  for (auto& p : publishers_) p->RequestStop(budget);
  for (auto& p : publishers_) p->Join();
}

Result<std::vector<store::EnqueueOutcome>> Outbox::Enqueue(std::vector<PhotometryMessage> messages,
                                                           bool validate_only) {
  if (messages.empty()) return Status::InvalidArgument("messages: at least one is required");
  // The first kMaxListedProblems problems are listed; the rest only counted, so that a large
  // invalid batch costs no more memory than a valid one.
  constexpr size_t kMaxListedProblems = 20;
  std::vector<std::string> errors;
  size_t problems = 0;
  const auto problem = [&](std::string text) {
    if (++problems <= kMaxListedProblems) errors.push_back(std::move(text));
  };
  std::vector<const config::DestinationConfig*> destinations(messages.size(), nullptr);
  for (size_t i = 0; i < messages.size(); ++i) {
    PhotometryMessage& m = messages[i];
    const std::string prefix =
        messages.size() > 1 ? "messages[" + std::to_string(i) + "]." : std::string();
    auto dest = std::find_if(options_.destinations.begin(), options_.destinations.end(),
                             [&](const config::DestinationConfig& d) { return d.name == m.destination; });
    if (m.destination.empty()) {
      problem(prefix + "destination: is required");
    } else if (dest == options_.destinations.end()) {
      problem(prefix + "destination: no destination is named " + Quoted(m.destination));
    } else {
      destinations[i] = &*dest;
      if (m.authors.empty()) m.authors = dest->default_authors;
      if (!m.topic.empty() &&
          std::find(dest->topics.begin(), dest->topics.end(), m.topic) == dest->topics.end()) {
        std::string allowed;
        for (const std::string& t : dest->topics) allowed += (allowed.empty() ? "" : ", ") + t;
        problem(prefix + "topic: " + Quoted(m.topic) + " is not a topic of destination " +
                dest->name + " (" + allowed + ")");
      }
    }
    for (const FieldError& e : ValidatePhotometryMessage(m)) {
      problem(prefix + e.path + ": " + e.message);
    }
  }
  if (problems > 0) {
    std::string text = problems == 1 ? "invalid message: "
                                     : "invalid message (" + std::to_string(problems) +
                                           " problems): ";
    for (size_t i = 0; i < errors.size(); ++i) text += (i ? "; " : "") + errors[i];
    if (problems > errors.size()) {
      text += "; ... and " + std::to_string(problems - errors.size()) + " more";
    }
    return Status::InvalidArgument(text);
  }
  if (validate_only) return std::vector<store::EnqueueOutcome>(messages.size());

  std::vector<store::NewOutboxEntry> entries;
  entries.reserve(messages.size());
  for (const PhotometryMessage& m : messages) {
    store::NewOutboxEntry e;
    e.uuid = NewUuidV7();
    e.destination = m.destination;
    e.topic = m.topic;
    e.title = m.title;
    e.idempotency_key = m.idempotency_key;
    e.body = RenderHermesJson(m);
    e.dedupe_key = DedupeKey(m.idempotency_key, e.body);
    entries.push_back(std::move(e));
  }
  auto done = std::make_shared<std::promise<std::pair<Status, std::vector<store::EnqueueOutcome>>>>();
  auto future = done->get_future();
  TOMSTREAM_RETURN_IF_ERROR(store_.Enqueue(
      std::move(entries), [done](const Status& st, std::vector<store::EnqueueOutcome> outcomes) {
        done->set_value({st, std::move(outcomes)});
      }));
  auto [st, outcomes] = future.get();
  if (!st.ok()) return st.WithContext("storing the messages");
  for (size_t i = 0; i < messages.size(); ++i) {
    if (!outcomes[i].duplicate) WakePublisher(messages[i].destination);
  }
  return std::move(outcomes);
}

std::vector<std::string> Outbox::Stalled(std::chrono::milliseconds limit) const {
  std::vector<std::string> out;
  for (size_t p = 0; p < publishers_.size(); ++p) {
    // A stopped publisher (its outbox is being replaced by a reload) makes no progress by design.
    if (!publishers_[p]->Stopping() && publishers_[p]->SinceProgress() > limit) {
      out.push_back("destination " + options_.destinations[p].name);
    }
  }
  return out;
}

void Outbox::WakePublisher(const std::string& destination) {
  for (size_t p = 0; p < publishers_.size(); ++p) {
    if (options_.destinations[p].name == destination) publishers_[p]->Wake();
  }
}

Result<std::vector<store::OutboxEntry>> Outbox::List(const store::OutboxFilter& filter,
                                                     int64_t before_id, int limit) {
  return store_.List(filter, before_id, limit);
}

Result<store::OutboxEntry> Outbox::Get(const std::string& uuid) { return store_.Get(uuid); }

Result<store::OutboxEntry> Outbox::Retry(const std::string& uuid) {
  auto entry = store_.Retry(uuid, NowMillis());
  if (entry.ok()) WakePublisher(entry->destination);
  return entry;
}

Result<store::OutboxEntry> Outbox::Cancel(const std::string& uuid) {
  return store_.Cancel(uuid, NowMillis());
}

Result<OutboxStatus> Outbox::GetStatus() {
  OutboxStatus s;
  auto counts = store_.Counts();
  if (!counts.ok()) return counts.status();
  s.counts = *counts;
  for (size_t p = 0; p < publishers_.size(); ++p) {
    DestinationStatus d = publishers_[p]->Snapshot();
    d.name = options_.destinations[p].name;
    d.kind = KindName(options_.destinations[p].kind);
    s.deliveries_per_second += publishers_[p]->DeliveriesPerSecond();
    s.destinations.push_back(std::move(d));
  }
  return s;
}

}  // namespace tomstream::outbox
