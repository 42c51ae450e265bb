#include "stream/consumer.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <future>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "common/byte_arena.h"
#include "common/clock.h"
#include "common/heartbeat.h"
#include "common/logging.h"
#include "common/test_hooks.h"
#include "handlers/handler.h"
#include "kafka/client_config.h"
#include "kafka/handles.h"
#include "kafka/token_source.h"
#include "store/ingest.h"
#include "store/store.h"
#include "stream/fetch_nudger.h"

namespace tomstream::stream {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;


template <typename Strings>
std::string Join(const Strings& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

// The consumer's group.instance.id: stable across restarts of this daemon (same host, same
// store, same stream), different for any other daemon or stream that might share the group,
// since two live members with one instance id fence each other.
std::string GroupInstanceId(const config::StreamConfig& stream, const std::string& store_path) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  uint64_t h = 1469598103934665603ULL;  // FNV-1a of host and store path
  for (const char c : std::string(host) + '\0' + store_path) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return "tomstreamd-" + stream.name + "-" + hex;
}

// Owns the bytes a batch's views point into: each message's topic, payload and headers are
// copied here and the librdkafka message is destroyed at once, so a batch waiting for the store
// holds about its payload bytes rather than librdkafka's per-message structures and fetch
// buffers. Recycled from batch to batch.
class BatchMemory final : public store::BatchKeepalive {
 public:
  ByteArena bytes;
};

using PartitionKey = std::pair<std::string, int32_t>;

struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

// What the store said about one batch.
struct Completion {
  Status status;
  std::vector<store::PartitionPosition> positions;      // next offsets after the batch
  std::map<PartitionKey, int64_t> first_offsets;        // per partition, the batch's first
  store::IngestBatch batch;  // released (its messages destroyed) on the consumer thread
  size_t bytes = 0;          // the batch's memory, counted in inflight_bytes_
};

}  // namespace

const char* StreamStateName(StreamState state) {
  switch (state) {
    case StreamState::kInactive: return "inactive";
    case StreamState::kConnecting: return "connecting";
    case StreamState::kConnected: return "connected";
    case StreamState::kBackoff: return "backoff";
    case StreamState::kAuthFailed: return "auth_failed";
    case StreamState::kStale: return "stale";
    case StreamState::kPaused: return "paused";
  }
  return "unknown";
}

class StreamConsumer::Impl final : public kafka::ClientEvents {
 public:
  Impl(ConsumerOptions options, store::Store& store, RouteTable routes)
      : options_(std::move(options)),
        store_(store),
        ingest_(store),
        routes_(std::move(routes)),
        md_ctx_(EVP_MD_CTX_new()) {
    log_name = options_.stream.name;
    const auto& s = options_.stream;
    token_source_impl_ = kafka::MakeTokenSource(s);
    token_source = token_source_impl_.get();
    status_.name = s.name;
    status_.bootstrap = kafka::BootstrapServers(s);
    status_.security = config::SecurityName(s.security);
    status_.group_id = s.group_id;
    status_.state = StreamState::kConnecting;
    if (auto counters = ingest_.Counters(s.name); counters.ok()) {
      stored_ = counters->stored;
      duplicates_ = counters->duplicates;
      quarantined_ = counters->quarantined;
      skipped_ = counters->skipped;
    }
  }

  ~Impl() override { Stop(10s); }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }

  void Stop(std::chrono::milliseconds budget) {
    {
      std::lock_guard lock(cmd_mu_);
      if (!thread_.joinable()) return;
      stop_deadline_ = Clock::now() + budget;
      stopping_ = true;
    }
    completion_cv_.notify_all();
    thread_.join();
  }

  void SetRoutes(RouteTable routes) {
    std::lock_guard lock(cmd_mu_);
    new_routes_ = std::move(routes);
  }

  Result<std::vector<PartitionStatusSnapshot>> Seek(const SeekRequest& request) {
    auto promise = std::make_shared<std::promise<Result<std::vector<PartitionStatusSnapshot>>>>();
    auto future = promise->get_future();
    {
      std::lock_guard lock(cmd_mu_);
      if (stopping_ || !thread_.joinable()) return Status::Unavailable("stream is not running");
      seeks_.push_back({request, promise});
    }
    if (future.wait_for(30s) != std::future_status::ready) {
      return Status::Unavailable("stream " + options_.stream.name + " did not seek within 30 s");
    }
    return future.get();
  }

  std::chrono::milliseconds SinceProgress() const { return progress_.Age(); }
  bool ClientLeftBehind() const { return client_left_behind_; }

  StreamStatusSnapshot status() const {
    std::lock_guard lock(status_mu_);
    StreamStatusSnapshot s = status_;
    s.stored = stored_.load();
    s.duplicates = duplicates_.load();
    s.quarantined = quarantined_.load();
    s.skipped = skipped_.load();
    s.last_heartbeat_ms = last_heartbeat_ms_.load();
    s.partitions.clear();
    for (const auto& [key, p] : partitions_) s.partitions.push_back(p);
    return s;
  }

  const std::string& name() const { return options_.stream.name; }

  // kafka::ClientEvents; runs on librdkafka's threads.
  void OnKafkaError(rd_kafka_resp_err_t err, const std::string& reason) override {
    if (err == RD_KAFKA_RESP_ERR__FATAL) fatal_ = true;
    spdlog::warn("stream {}: {}: {}", options_.stream.name, rd_kafka_err2name(err), reason);
    const std::string error = std::string(rd_kafka_err2name(err)) + ": " + reason;
    switch (err) {
      case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        SetState(StreamState::kAuthFailed, error);
        break;
      case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
      case RD_KAFKA_RESP_ERR__RESOLVE:
      case RD_KAFKA_RESP_ERR__SSL:
      case RD_KAFKA_RESP_ERR__FATAL:
        SetState(StreamState::kBackoff, error);
        break;
      default: {
        // A dropped idle connection and the like: worth showing, not a change of state.
        std::lock_guard lock(status_mu_);
        status_.last_error = error;
        status_.last_error_ms = NowMillis();
      }
    }
  }

 private:
  // --- state shared with other threads ------------------------------------------------------
  void SetState(StreamState state, const std::string& error = "") {
    std::lock_guard lock(status_mu_);
    // An authentication failure stays visible, with its cause, until the broker is reached
    // again: what follows from it (metadata timeouts, all brokers down) does not replace it.
    if (state == StreamState::kBackoff && status_.state == StreamState::kAuthFailed) return;
    status_.state = state;
    if (!error.empty()) {
      status_.last_error = error;
      status_.last_error_ms = NowMillis();
    }
  }

  // --- the consumer thread ------------------------------------------------------------------
  void Run() {
    const LogField stream_field("STREAM", options_.stream.name);
    spdlog::info("stream {}: starting ({} {})", options_.stream.name, status_.bootstrap,
                 status_.security);
    std::vector<rd_kafka_message_t*> buffer(static_cast<size_t>(
        std::clamp(options_.commit_max_messages, 1, 10000)));
    auto last_rate_at = Clock::now();
    int64_t last_rate_stored = stored_;

    while (!stopping()) {
      test_hooks::MaybeStall(test_hooks::Loop::kConsumer);
      progress_.Beat();
      if (!rk_) {
        if (Clock::now() < next_connect_) {
          std::this_thread::sleep_for(50ms);
          continue;
        }
        Connect();
        if (!rk_) continue;
      }
      ApplyCommands();
      if (Clock::now() >= next_topic_refresh_) RefreshTopics();
      DrainCompletions();
      if (paused_until_) {
        if (Clock::now() < *paused_until_) {
          WaitForCompletion(50ms);
          continue;
        }
        Rewind();
      }
      if (InflightFull()) {
        WaitForCompletion(100ms);
        continue;
      }

      auto timeout = 100ms;
      if (!pending_.empty()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            batch_started_ + options_.commit_max_delay - Clock::now());
        timeout = std::clamp(left, 0ms, 100ms);
      }
      // At most what the batch still has room for, and never more than the buffer holds
      // (commit_max_messages may exceed the buffer; pending_ then outgrows it).
      const size_t room = static_cast<size_t>(options_.commit_max_messages) -
                          std::min(pending_.size(),
                                   static_cast<size_t>(options_.commit_max_messages));
      const ssize_t n = rd_kafka_consume_batch_queue(queue_.get(),
                                                     static_cast<int>(timeout.count()),
                                                     buffer.data(),
                                                     std::clamp<size_t>(room, 1, buffer.size()));
      for (ssize_t i = 0; i < n; ++i) Process(kafka::MessagePtr(buffer[static_cast<size_t>(i)]));
      if (n >= 0 && static_cast<size_t>(n) < buffer.size() / 2) NudgeFetcher();
      // A batch also closes at a quarter of the in-flight memory bound, so that a few batches
      // of large messages still fit it.
      if (!pending_.empty() &&
          (pending_.size() >= static_cast<size_t>(options_.commit_max_messages) ||
           pending_memory_->bytes.capacity() + pending_parsed_bytes_ >=
               options_.max_inflight_bytes / 4 ||
           Clock::now() >= batch_started_ + options_.commit_max_delay)) {
        Flush();
      }
      CheckHeartbeat();
      if (!rk_) continue;
      if (fatal_) {
        char err[512] = {};
        rd_kafka_fatal_error(rk_.get(), err, sizeof err);
        spdlog::error("stream {}: fatal consumer error, recreating the consumer: {}",
                      options_.stream.name, err);
        Disconnect(std::string("fatal: ") + err);
      }
      if (Clock::now() - last_rate_at >= 1s) {
        const double secs = std::chrono::duration<double>(Clock::now() - last_rate_at).count();
        const int64_t stored = stored_;
        {
          std::lock_guard lock(status_mu_);
          status_.messages_per_second = static_cast<double>(stored - last_rate_stored) / secs;
        }
        last_rate_stored = stored;
        last_rate_at = Clock::now();
        RefreshWatermarks();
      }
    }
    Shutdown();
  }

  bool stopping() {
    std::lock_guard lock(cmd_mu_);
    return stopping_;
  }

  std::chrono::milliseconds StopBudgetLeft() {
    std::lock_guard lock(cmd_mu_);
    return std::chrono::duration_cast<std::chrono::milliseconds>(stop_deadline_ - Clock::now());
  }

  void Connect() {
    kafka::ClientOptions co;
    co.role = kafka::ClientRole::kConsumer;
    // Static group membership: a daemon restarted after a crash (kill -9, OOM, power loss)
    // takes over its old membership at once. Without it the dead member keeps the partitions
    // until its session times out (45 s by default) and the new consumer stalls that long.
    co.overrides.emplace_back("group.instance.id", GroupInstanceId(options_.stream, store_.path()));
    co.overrides.insert(co.overrides.end(), options_.kafka_overrides.begin(),
                        options_.kafka_overrides.end());
    co.overrides.emplace_back("topic.metadata.refresh.interval.ms",
                              std::to_string(options_.topic_refresh.count()));
    auto conf = kafka::MakeClientConf(options_.stream, co, this);
    if (!conf.ok()) {
      SetState(StreamState::kBackoff, conf.status().message());
      ScheduleReconnect();
      return;
    }
    rd_kafka_conf_set_rebalance_cb(conf->get(), &RebalanceCallback);
    char err[512] = {};
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof err);
    if (rk == nullptr) {
      SetState(StreamState::kBackoff, std::string("cannot create consumer: ") + err);
      ScheduleReconnect();
      return;
    }
    conf->release();  // rd_kafka_new took ownership
    rk_.reset(rk);
    nudger_ = std::make_unique<FetchNudger>(rk);
    rd_kafka_poll_set_consumer(rk_.get());
    queue_.reset(rd_kafka_queue_get_consumer(rk_.get()));
    kafka::ServeTokenRefreshInBackground(rk_.get(), options_.stream);
    fatal_ = false;
    topic_cache_.clear();  // topic handles belong to the old client
    last_connect_ = Clock::now();
    subscribed_.clear();
    first_assignment_checked_ = false;
    next_topic_refresh_ = Clock::now();
    last_heartbeat_check_ = Clock::now();
    SetState(StreamState::kConnecting);
  }

  void ScheduleReconnect() {
    reconnect_backoff_ = std::min(reconnect_backoff_ * 2, std::chrono::milliseconds(60s));
    next_connect_ = Clock::now() + reconnect_backoff_;
  }

  // Stores what is pending, waits for the store, commits offsets and destroys the consumer.
  void Disconnect(const std::string& why) {
    SetState(StreamState::kBackoff, why);
    FinishInflight(10s);
    CloseConsumer(5s);
    ScheduleReconnect();
  }

  // Leaves the group and destroys the client. `exiting`: the daemon is stopping; a client that
  // cannot close in time (e.g. the broker is unreachable, so librdkafka waits for a group
  // coordinator that never answers, and even rd_kafka_destroy() blocks) is then abandoned to the
  // process exit instead of holding the stop past its deadline. Its threads no longer call back
  // into this object: the error callback is only served by polling, which stops here, and the
  // log callback does not use the opaque.
  void CloseConsumer(std::chrono::milliseconds budget, bool exiting = false) {
    if (!rk_) return;
    const Heartbeat::Busy busy(progress_, budget + 3s);  // + the nudger's stop
    kafka::QueuePtr close_queue(rd_kafka_queue_new(rk_.get()));
    kafka::ErrorPtr error(rd_kafka_consumer_close_queue(rk_.get(), close_queue.get()));
    const auto deadline = Clock::now() + budget;
    while (!error && !rd_kafka_consumer_closed(rk_.get()) && Clock::now() < deadline) {
      kafka::EventPtr ev(rd_kafka_queue_poll(close_queue.get(), 100));
      if (ev && rd_kafka_event_type(ev.get()) == RD_KAFKA_EVENT_REBALANCE) {
        // Eager revocation during close: give the partitions up.
        rd_kafka_assign(rk_.get(), nullptr);
      }
    }
    const bool closed = rd_kafka_consumer_closed(rk_.get());
    close_queue.reset();
    queue_.reset();
    // The nudger may be inside a call that waits a minute for an unreachable broker. If it does
    // not finish within the budget, the client it uses is left alone (never destroyed under
    // it): to the exit, or leaked when reconnecting, which only happens after broker trouble.
    const bool nudger_stopped =
        !nudger_ || nudger_->Stop(std::max(
                        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
                        exiting ? 100ms : 2000ms));
    nudger_.reset();
    if (!nudger_stopped || (!closed && exiting)) {
      spdlog::warn("stream {}: consumer did not close within {} ms; leaving it {} "
                   "(stored data is complete)", options_.stream.name, budget.count(),
                   exiting ? "to the exit" : "behind");
      (void)rk_.release();
      client_left_behind_ = true;
    } else {
      if (!closed) {
        spdlog::warn("stream {}: consumer did not close within {} ms; destroying it",
                     options_.stream.name, budget.count());
      }
      rd_kafka_destroy_flags(rk_.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    std::lock_guard lock(status_mu_);
    partitions_.clear();
    status_.subscribed_topics.clear();
  }

  void Shutdown() {
    if (rk_) {
      FinishInflight(std::max(StopBudgetLeft() / 2, std::chrono::milliseconds(100)));
      CloseConsumer(std::max(StopBudgetLeft(), std::chrono::milliseconds(100)), /*exiting=*/true);
    }
    // Anything still in flight holds pointers to this object's members.
    WaitInflight(Clock::now() + 30s);
    spdlog::info("stream {}: stopped", options_.stream.name);
  }

  // --- commands from other threads ------------------------------------------------------------
  void ApplyCommands() {
    std::optional<RouteTable> routes;
    std::vector<PendingSeek> seeks;
    {
      std::lock_guard lock(cmd_mu_);
      routes.swap(new_routes_);
      seeks.swap(seeks_);
    }
    if (routes) {
      topic_cache_.clear();  // points into the old routes
      routes_ = std::move(*routes);
      next_topic_refresh_ = Clock::now();  // resubscribe now
    }
    for (auto& s : seeks) s.promise->set_value(DoSeek(s.request));
  }

  // --- subscription -------------------------------------------------------------------------
  // Whether some route (or the heartbeat) may select a topic that is not subscribed yet, so the
  // broker's whole topic list is needed.
  bool NeedTopicListing() const {
    if (routes_.HasPatterns()) return true;
    for (const std::string& t : routes_.ExactTopics()) {
      if (subscribed_.count(t) == 0) return true;
    }
    const std::string& hb = options_.stream.heartbeat_topic;
    return !hb.empty() && subscribed_.count(hb) == 0;
  }

  // Reads the topic list (when a route may select a new topic) or just the subscribed topics'
  // metadata (otherwise: a cheap liveness probe that also notices deleted topics), and
  // resubscribes when the set of wanted topics changed. Listing every topic is kept off the
  // common path because frequent full listings make librdkafka's group membership rejoin
  // over and over on a slow link (seen with 300 ms round trips in the mock cluster test).
  void RefreshTopics() {
    next_topic_refresh_ = Clock::now() + options_.topic_refresh;
    const bool listing = NeedTopicListing();
    const rd_kafka_metadata_t* raw = nullptr;
    const Heartbeat::Busy busy(progress_, 6s);
    const rd_kafka_resp_err_t err =
        rd_kafka_metadata(rk_.get(), listing ? 1 : 0, nullptr, &raw, 5000);
    kafka::MetadataPtr md(raw);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      SetState(StreamState::kBackoff,
               std::string("cannot read metadata: ") + rd_kafka_err2str(err));
      next_topic_refresh_ = Clock::now() + std::min(options_.topic_refresh,
                                                    std::chrono::milliseconds(2s));
      return;
    }
    reconnect_backoff_ = 500ms;
    std::vector<std::string> existing;
    if (listing) {
      for (int i = 0; i < md->topic_cnt; ++i) {
        if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) existing.emplace_back(md->topics[i].topic);
      }
    } else {
      existing.assign(subscribed_.begin(), subscribed_.end());
      for (int i = 0; i < md->topic_cnt; ++i) {
        if (md->topics[i].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
          std::erase(existing, std::string(md->topics[i].topic));  // deleted
        }
      }
    }
    std::set<std::string> want;
    for (const std::string& t : routes_.ExactTopics()) {
      if (std::find(existing.begin(), existing.end(), t) != existing.end()) want.insert(t);
    }
    for (const std::string& t : routes_.MatchPatterns(existing)) want.insert(t);
    const std::string& hb = options_.stream.heartbeat_topic;
    if (!hb.empty() && std::find(existing.begin(), existing.end(), hb) != existing.end()) {
      want.insert(hb);
    }
    {
      std::lock_guard lock(status_mu_);
      if (status_.state != StreamState::kStale && status_.state != StreamState::kPaused) {
        status_.state = StreamState::kConnected;
      }
    }
    if (want == subscribed_ && !rejoin_) return;
    if (want.empty()) {
      rd_kafka_unsubscribe(rk_.get());
    } else {
      kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(want.size())));
      for (const auto& t : want) {
        rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
      }
      const rd_kafka_resp_err_t serr = rd_kafka_subscribe(rk_.get(), list.get());
      if (serr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        SetState(StreamState::kBackoff, std::string("subscribe failed: ") + rd_kafka_err2str(serr));
        return;
      }
    }
    spdlog::info("stream {}: subscribed to [{}]", options_.stream.name,
                 Join(want));
    subscribed_ = std::move(want);
    rejoin_ = false;
    std::lock_guard lock(status_mu_);
    status_.subscribed_topics.assign(subscribed_.begin(), subscribed_.end());
  }

  static void RebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<Impl*>(static_cast<kafka::ClientEvents*>(opaque));
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->OnAssign(rk, parts);
    } else {
      self->OnRevoke(rk, parts);
    }
  }

  // Where an assigned partition starts: the later of its stored and committed offsets, else
  // its route's start position.
  void OnAssign(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts) {
    // Up to three 10 s requests, and one more per partition that has no stored position.
    const Heartbeat::Busy busy(progress_, 10s * (3 + parts->cnt));
    // Static membership (group.instance.id): a member that rejoins under its instance id while
    // the group is stable gets the assignment of its previous run back without a rebalance,
    // even when its subscription changed meanwhile (routes edited, topics created or deleted
    // while the daemon was down). So the first assignment of a new client is checked against
    // the subscription: on a mismatch the client subscribes again, which makes it join again
    // with its member id, and a rejoining leader forces a rebalance. Partitions of topics it no
    // longer subscribes to are not consumed meanwhile (their stored positions must not move).
    std::set<std::string> assigned_topics;
    for (int i = 0; i < parts->cnt; ++i) assigned_topics.insert(parts->elems[i].topic);
    if (!first_assignment_checked_) {
      first_assignment_checked_ = true;
      if (assigned_topics != subscribed_) {
        spdlog::info("stream {}: the group returned an assignment of [{}] for a subscription of "
                     "[{}] (a previous run's); joining again",
                     options_.stream.name,
                     Join(assigned_topics), Join(subscribed_));
        rejoin_ = true;
        next_topic_refresh_ = Clock::now();
      }
    }
    kafka::PartitionListPtr subscribed_only;
    if (!std::includes(subscribed_.begin(), subscribed_.end(), assigned_topics.begin(),
                       assigned_topics.end())) {
      subscribed_only.reset(rd_kafka_topic_partition_list_new(parts->cnt));
      for (int i = 0; i < parts->cnt; ++i) {
        if (subscribed_.count(parts->elems[i].topic) != 0) {
          rd_kafka_topic_partition_list_add(subscribed_only.get(), parts->elems[i].topic,
                                            parts->elems[i].partition);
        }
      }
      parts = subscribed_only.get();
    }
    std::map<PartitionKey, int64_t> stored;
    auto positions = ingest_.Positions(options_.stream.name);
    if (positions.ok()) {
      for (const auto& p : *positions) stored[{p.topic, p.partition}] = p.next_offset;
    } else {
      spdlog::error("stream {}: cannot read stored offsets ({}); using Kafka's committed offsets",
                    options_.stream.name, positions.status().message());
    }
    kafka::PartitionListPtr committed(rd_kafka_topic_partition_list_copy(parts));
    if (rd_kafka_resp_err_t err = rd_kafka_committed(rk, committed.get(), 10000); err) {
      spdlog::warn("stream {}: cannot read committed offsets: {}", options_.stream.name,
                   rd_kafka_err2str(err));
    }
    kafka::PartitionListPtr by_time(rd_kafka_topic_partition_list_new(0));
    std::vector<int> fresh;  // indexes of partitions without a stored or committed position
    // The positions status() shows, published under status_mu_ at the end: the lock is never
    // held across the broker requests below.
    std::map<PartitionKey, int64_t> shown;
    for (int i = 0; i < parts->cnt; ++i) {
      rd_kafka_topic_partition_t& tp = parts->elems[i];
      const PartitionKey key{tp.topic, tp.partition};
      int64_t offset = -1;
      if (auto it = stored.find(key); it != stored.end()) offset = it->second;
      if (committed->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
          committed->elems[i].offset >= 0) {
        offset = std::max(offset, committed->elems[i].offset);
      }
      if (offset >= 0) {
        tp.offset = offset;
      } else {
        fresh.push_back(i);
        const Route* route = routes_.Match(tp.topic);
        const config::StartPosition start =
            route != nullptr && route->start ? *route->start : options_.stream.start;
        tp.offset = StartOffset(rk, tp.topic, tp.partition, start, by_time.get());
      }
      shown[key] = offset;
    }
    if (by_time->cnt > 0) {
      if (rd_kafka_offsets_for_times(rk, by_time.get(), 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < by_time->cnt; ++i) {
          const auto& t = by_time->elems[i];
          rd_kafka_topic_partition_t* tp =
              rd_kafka_topic_partition_list_find(parts, t.topic, t.partition);
          if (tp != nullptr) tp->offset = t.offset >= 0 ? t.offset : RD_KAFKA_OFFSET_END;
        }
      } else {
        spdlog::warn("stream {}: offsets for start times not available; starting at the end",
                     options_.stream.name);
      }
    }
    // A start position applies once, when a partition is first assigned: resolved to an
    // absolute offset and stored now. Otherwise a restart before the partition's first message
    // resolves "latest" (or a time, or last:N) again and skips what arrived while it was down.
    std::vector<store::PartitionPosition> resolved;
    for (const int i : fresh) {
      rd_kafka_topic_partition_t& tp = parts->elems[i];
      if (tp.offset < 0) {
        int64_t low = 0;
        int64_t high = 0;
        if (rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                rk, tp.topic, tp.partition, &low, &high, 10000)) {
          spdlog::warn("stream {}: cannot resolve the start of {}[{}] ({}); not stored",
                       options_.stream.name, tp.topic, tp.partition, rd_kafka_err2str(err));
          continue;
        }
        tp.offset = tp.offset == RD_KAFKA_OFFSET_BEGINNING ? low : high;
      }
      resolved.push_back({tp.topic, tp.partition, tp.offset, -1});
      shown[{tp.topic, tp.partition}] = tp.offset;
    }
    if (!resolved.empty()) {
      if (Status st = ingest_.SetPositions(options_.stream.name, resolved); !st.ok()) {
        spdlog::warn("stream {}: cannot store the start positions: {}", options_.stream.name,
                     st.message());
      }
    }
    {
      std::lock_guard lock(status_mu_);
      for (const auto& [key, offset] : shown) {
        PartitionStatusSnapshot& ps = partitions_[key];
        ps.topic = key.first;
        ps.partition = key.second;
        ps.stored_offset = offset;
      }
    }
    for (int i = 0; i < parts->cnt; ++i) {
      const LogField topic_field("TOPIC", parts->elems[i].topic);
      const LogField partition_field("PARTITION", std::to_string(parts->elems[i].partition));
      spdlog::info("stream {}: assigned {}[{}] from offset {}", options_.stream.name,
                   parts->elems[i].topic, parts->elems[i].partition, parts->elems[i].offset);
    }
    rd_kafka_assign(rk, parts);
  }

  // The offset a partition with no stored or committed position starts from. For a start time
  // the partition is added to `by_time` and resolved by the caller in one request.
  int64_t StartOffset(rd_kafka_t* rk, const char* topic, int32_t partition,
                      const config::StartPosition& start, rd_kafka_topic_partition_list_t* by_time) {
    using Kind = config::StartPosition::Kind;
    switch (start.kind) {
      case Kind::kEarliest: return RD_KAFKA_OFFSET_BEGINNING;
      case Kind::kLatest: return RD_KAFKA_OFFSET_END;
      case Kind::kTime:
        rd_kafka_topic_partition_list_add(by_time, topic, partition)->offset = start.time_ms;
        return RD_KAFKA_OFFSET_END;
      case Kind::kLastN: {
        int64_t low = 0;
        int64_t high = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, partition, &low, &high, 10000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          return RD_KAFKA_OFFSET_END;
        }
        return std::max(low, high - start.last_n);
      }
    }
    return RD_KAFKA_OFFSET_BEGINNING;
  }

  void OnRevoke(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts) {
    // What was read from these partitions is stored (and committed) before they go.
    FinishInflight(30s);
    rd_kafka_assign(rk, nullptr);
    std::lock_guard lock(status_mu_);
    for (int i = 0; i < parts->cnt; ++i) partitions_.erase({parts->elems[i].topic, parts->elems[i].partition});
  }

  // --- one message ----------------------------------------------------------------------------
  handlers::Handler* HandlerFor(const std::string& name) {
    auto it = handlers_.find(name);
    if (it == handlers_.end()) it = handlers_.emplace(name, handlers::MakeHandler(name)).first;
    return it->second.get();
  }

  // What a topic's messages need, looked up once per topic handle (not per message).
  struct TopicInfo {
    std::string name;
    const Route* route = nullptr;
    handlers::Handler* handler = nullptr;
    bool heartbeat = false;
  };

  const TopicInfo& TopicFor(rd_kafka_topic_t* rkt) {
    auto it = topic_cache_.find(rkt);
    if (it != topic_cache_.end()) return it->second;
    TopicInfo info;
    info.name = rd_kafka_topic_name(rkt);
    info.route = routes_.Match(info.name);
    if (info.route != nullptr) info.handler = HandlerFor(info.route->handler);
    info.heartbeat = !options_.stream.heartbeat_topic.empty() &&
                     info.name == options_.stream.heartbeat_topic;
    return topic_cache_.emplace(rkt, std::move(info)).first->second;
  }

  void Process(kafka::MessagePtr msg) {
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        const char* topic = msg->rkt != nullptr ? rd_kafka_topic_name(msg->rkt) : "";
        spdlog::warn("stream {}: {}: {}", options_.stream.name, topic,
                     rd_kafka_message_errstr(msg.get()));
        if (msg->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
            msg->err != RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
          SetState(StreamState::kBackoff, rd_kafka_message_errstr(msg.get()));
        }
      }
      return;
    }
    if (pending_.empty()) batch_started_ = Clock::now();
    const TopicInfo& info = TopicFor(msg->rkt);
    rd_kafka_timestamp_type_t ts_type;
    const int64_t ts = rd_kafka_message_timestamp(msg.get(), &ts_type);

    auto [pos, inserted] = batch_positions_.try_emplace({msg->rkt, msg->partition});
    if (inserted) {
      pos->second.topic = pending_memory_->bytes.Copy(rd_kafka_topic_name(msg->rkt));
      pos->second.first_offset = msg->offset;
    }
    pos->second.next_offset = msg->offset + 1;
    pos->second.last_message_ms = ts >= 0 ? ts : NowMillis();

    store::IngestMessage im;
    im.topic = pos->second.topic;
    im.partition = msg->partition;
    im.offset = msg->offset;
    im.timestamp_ms = ts;
    im.payload = pending_memory_->bytes.Copy(
        std::string_view(static_cast<const char*>(msg->payload), msg->len));

    headers_.clear();
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(msg.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) ==
                         RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        headers_.push_back({name, std::string_view(static_cast<const char*>(value), size),
                            value == nullptr});
      }
    }
    const handlers::Message m{im.topic, msg->partition, msg->offset, ts, im.payload, headers_};

    if (info.heartbeat) last_heartbeat_ms_ = NowMillis();
    if (info.route == nullptr) {
      im.disposition = store::Disposition::kSkip;  // a heartbeat, or a route just removed
    } else {
      const handlers::HopInfo hop = handlers::ReadHop(m);
      im.handler = info.handler->name();
      im.format = hop.format;
      store::EncodeHeaders(headers_, encoded_headers_);
      im.headers = pending_memory_->bytes.Copy(encoded_headers_);
      SetMessageId(hop, im.topic, im);
      if (hop.is_test && !info.route->include_test) {
        im.disposition = store::Disposition::kSkip;
      } else if (Status st = info.handler->Parse(m, hop, im.parsed); !st.ok()) {
        im.disposition = store::Disposition::kQuarantine;
        im.error = st.message();
        const LogField topic_field("TOPIC", info.name);
        const LogField partition_field("PARTITION", std::to_string(msg->partition));
        const LogField offset_field("OFFSET", std::to_string(msg->offset));
        spdlog::warn("stream {}: quarantined {}[{}]@{}: {}", options_.stream.name, info.name,
                     msg->partition, msg->offset, im.error);
      } else if (!info.handler->stores_alerts()) {
        im.disposition = store::Disposition::kSkip;
      }
    }
    pending_parsed_bytes_ += im.parsed.HeapBytes();
    pending_.push_back(std::move(im));
  }

  void SetMessageId(const handlers::HopInfo& hop, std::string_view topic, store::IngestMessage& im) {
    if (hop.id) {
      std::memcpy(im.message_id_bytes.data(), hop.id->data(), hop.id->size());
      im.message_id_size = static_cast<uint8_t>(hop.id->size());
      return;
    }
    unsigned int len = 0;
    EVP_DigestInit_ex(md_ctx_.get(), EVP_sha256(), nullptr);
    EVP_DigestUpdate(md_ctx_.get(), topic.data(), topic.size());
    EVP_DigestUpdate(md_ctx_.get(), "\0", 1);
    EVP_DigestUpdate(md_ctx_.get(), im.payload.data(), im.payload.size());
    EVP_DigestFinal_ex(md_ctx_.get(), reinterpret_cast<unsigned char*>(im.message_id_bytes.data()),
                       &len);
    im.message_id_size = static_cast<uint8_t>(len);
  }

  // See stream/fetch_nudger.h.
  void NudgeFetcher() {
    const auto now = Clock::now();
    if (!nudger_ || now - last_nudge_ < 20ms) return;
    last_nudge_ = now;
    std::vector<PartitionKey> keys;
    {
      std::lock_guard lock(status_mu_);
      if (status_.state != StreamState::kConnected) return;
      for (const auto& entry : partitions_) keys.push_back(entry.first);
    }
    nudger_->Nudge(std::move(keys));
  }

  // --- batches --------------------------------------------------------------------------------
  void Flush() {
    if (pending_.empty()) return;
    store::IngestBatch batch;
    batch.stream = options_.stream.name;
    batch.messages = std::move(pending_);
    pending_ = std::move(spare_messages_);  // a finished batch's vector, capacity kept
    pending_.clear();
    auto first_offsets = std::make_shared<std::map<PartitionKey, int64_t>>();
    for (const auto& [key, p] : batch_positions_) {
      batch.positions.push_back({std::string(p.topic), key.second, p.next_offset, p.last_message_ms});
      (*first_offsets)[{std::string(p.topic), key.second}] = p.first_offset;
    }
    batch_positions_.clear();
    const size_t bytes = pending_memory_->bytes.capacity() + pending_parsed_bytes_ +
                         batch.messages.capacity() * sizeof(store::IngestMessage);
    pending_parsed_bytes_ = 0;
    batch.keepalive = std::move(pending_memory_);
    pending_memory_ = spare_memory_ ? std::move(spare_memory_) : std::make_unique<BatchMemory>();
    std::vector<store::PartitionPosition> positions = batch.positions;

    {
      std::lock_guard lock(completion_mu_);
      ++inflight_;
      inflight_bytes_ += bytes;
    }
    Status st = ingest_.Submit(
        std::move(batch),
        [this, positions, first_offsets, bytes](const Status& result,
                                                 const store::IngestCounts& counts,
                                                 store::IngestBatch&& done) {
          // Runs on the store's writer thread right after the commit, so status never shows
          // less than what a reader of the store can already see.
          if (result.ok()) RecordStored(counts, positions);
          {
            std::lock_guard lock(completion_mu_);
            completions_.push_back({result, positions, *first_offsets, std::move(done), bytes});
          }
          completion_cv_.notify_all();
        });
    if (!st.ok()) {
      // The batch never reached the store: treat it as failed so its messages are read again.
      std::lock_guard lock(completion_mu_);
      completions_.push_back({st, positions, *first_offsets, {}, bytes});
    }
  }

  void RecordStored(const store::IngestCounts& counts,
                    const std::vector<store::PartitionPosition>& positions) {
    stored_ += counts.stored;
    duplicates_ += counts.duplicates;
    quarantined_ += counts.quarantined;
    skipped_ += counts.skipped;
    std::lock_guard lock(status_mu_);
    for (const auto& p : positions) {
      auto it = partitions_.find({p.topic, p.partition});
      if (it == partitions_.end()) continue;
      it->second.stored_offset = p.next_offset;
      it->second.last_message_ms = p.last_message_ms;
      if (it->second.high_watermark >= 0) {
        it->second.lag = std::max<int64_t>(0, it->second.high_watermark - p.next_offset);
      }
    }
  }

  void WaitForCompletion(std::chrono::milliseconds limit) {
    std::unique_lock lock(completion_mu_);
    completion_cv_.wait_for(lock, limit, [&] { return !completions_.empty() || stopping(); });
  }

  // Handles finished batches: counts, positions, offsets to Kafka, or a rewind after a failure.
  void DrainCompletions() {
    std::deque<Completion> done;
    {
      std::lock_guard lock(completion_mu_);
      done.swap(completions_);
      inflight_ -= done.size();
      for (const Completion& c : done) inflight_bytes_ -= c.bytes;
    }
    if (done.empty()) return;
    for (Completion& c : done) {
      // Only BatchMemory is ever handed to the store as a keepalive (Flush()).
      if (c.batch.keepalive && !spare_memory_) {
        spare_memory_.reset(static_cast<BatchMemory*>(c.batch.keepalive.release()));
        spare_memory_->bytes.Clear();
      }
      if (c.batch.messages.capacity() > spare_messages_.capacity()) {
        c.batch.messages.clear();
        spare_messages_ = std::move(c.batch.messages);
      }
    }
    kafka::PartitionListPtr commit(rd_kafka_topic_partition_list_new(0));
    for (Completion& c : done) {
      if (!c.status.ok()) {
        for (const auto& [key, first] : c.first_offsets) {
          auto [it, inserted] = rewind_to_.try_emplace(key, first);
          if (!inserted) it->second = std::min(it->second, first);
        }
        if (!paused_until_) {
          pause_backoff_ = std::min(pause_backoff_ * 2, std::chrono::milliseconds(30s));
          paused_until_ = Clock::now() + pause_backoff_;
          spdlog::error("stream {}: the store refused a batch ({}); pausing {} ms, then reading "
                        "again from the first unstored message",
                        options_.stream.name, c.status.message(), pause_backoff_.count());
          SetState(StreamState::kPaused, "store: " + c.status.message());
        }
        continue;
      }
      for (const auto& p : c.positions) {
        rd_kafka_topic_partition_list_add(commit.get(), p.topic.c_str(), p.partition)->offset =
            p.next_offset;
      }
    }
    if (commit->cnt > 0 && rk_) {
      // Asynchronous: Kafka's committed offset only ever trails the stored one.
      rd_kafka_commit(rk_.get(), commit.get(), 1);
    }
  }

  // After a failed batch: once nothing is in flight, lets the store accept the stream's batches
  // again and reads every partition again from its first unstored message.
  void Rewind() {
    if (inflight_count() > 0) return;
    DrainCompletions();
    // Messages read but not yet handed to the store are read again too.
    for (const auto& [key, p] : batch_positions_) {
      auto [it, inserted] = rewind_to_.try_emplace({std::string(p.topic), key.second}, p.first_offset);
      if (!inserted) it->second = std::min(it->second, p.first_offset);
    }
    pending_.clear();
    pending_memory_->bytes.Clear();
    pending_parsed_bytes_ = 0;
    batch_positions_.clear();
    if (Status st = ingest_.Resume(options_.stream.name); !st.ok()) {
      paused_until_ = Clock::now() + pause_backoff_;
      SetState(StreamState::kPaused, "store: " + st.message());
      return;
    }
    kafka::PartitionListPtr seek(rd_kafka_topic_partition_list_new(0));
    for (const auto& [key, offset] : rewind_to_) {
      rd_kafka_topic_partition_list_add(seek.get(), key.first.c_str(), key.second)->offset = offset;
    }
    if (seek->cnt > 0 && rk_) {
      kafka::ErrorPtr err(rd_kafka_seek_partitions(rk_.get(), seek.get(), 10000));
      if (err) {
        spdlog::error("stream {}: rewind failed ({}); recreating the consumer",
                      options_.stream.name, rd_kafka_error_string(err.get()));
        // A new consumer resumes from the stored offsets.
        CloseConsumer(5s);
        next_connect_ = Clock::now();
      }
    }
    spdlog::info("stream {}: store accepts writes again; resuming", options_.stream.name);
    rewind_to_.clear();
    paused_until_.reset();
    pause_backoff_ = 500ms;
    SetState(StreamState::kConnected);
  }

  bool InflightFull() {
    std::lock_guard lock(completion_mu_);
    return inflight_ >= options_.max_inflight_batches ||
           inflight_bytes_ >= options_.max_inflight_bytes;
  }

  size_t inflight_count() {
    std::lock_guard lock(completion_mu_);
    return inflight_;
  }

  void WaitInflight(Clock::time_point deadline) {
    std::unique_lock lock(completion_mu_);
    completion_cv_.wait_until(lock, deadline, [&] { return inflight_ == completions_.size(); });
  }

  // Hands the pending batch to the store and waits (bounded) until every batch is committed
  // and its offsets are committed to Kafka.
  void FinishInflight(std::chrono::milliseconds budget) {
    const Heartbeat::Busy busy(progress_, budget + 1s);
    if (!paused_until_) Flush();
    WaitInflight(Clock::now() + budget);
    DrainCompletions();
    if (rk_) rd_kafka_commit(rk_.get(), nullptr, 0);  // no-op unless async commits queued
  }

  // --- seek -----------------------------------------------------------------------------------
  Result<std::vector<PartitionStatusSnapshot>> DoSeek(const SeekRequest& req) {
    if (!rk_) return Status::Unavailable("stream " + options_.stream.name + " is not connected");
    RouteTable one({req.route});
    rd_kafka_topic_partition_list_t* assigned_raw = nullptr;
    if (rd_kafka_assignment(rk_.get(), &assigned_raw) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Unavailable("cannot read the assignment");
    }
    kafka::PartitionListPtr assigned(assigned_raw);
    // A 10 s request by time, one per partition, and a bounded wait for the store.
    const Heartbeat::Busy busy(progress_, 10s * (2 + assigned->cnt) + 30s);
    kafka::PartitionListPtr target(rd_kafka_topic_partition_list_new(0));
    kafka::PartitionListPtr by_time(rd_kafka_topic_partition_list_new(0));
    for (int i = 0; i < assigned->cnt; ++i) {
      const auto& tp = assigned->elems[i];
      if (one.Match(tp.topic) == nullptr) continue;
      int64_t offset = req.absolute_offset ? *req.absolute_offset
                                           : StartOffset(rk_.get(), tp.topic, tp.partition,
                                                         req.position, by_time.get());
      rd_kafka_topic_partition_list_add(target.get(), tp.topic, tp.partition)->offset = offset;
    }
    if (target->cnt == 0) {
      return Status::FailedPrecondition("no partition of a topic matching \"" + req.route.topic +
                                        "\" is assigned to stream " + options_.stream.name);
    }
    if (by_time->cnt > 0 &&
        rd_kafka_offsets_for_times(rk_.get(), by_time.get(), 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < by_time->cnt; ++i) {
        auto* tp = rd_kafka_topic_partition_list_find(target.get(), by_time->elems[i].topic,
                                                      by_time->elems[i].partition);
        if (tp != nullptr) tp->offset = by_time->elems[i].offset;
      }
    }
    // Logical offsets become absolute ones, so the store and Kafka hold real positions.
    for (int i = 0; i < target->cnt; ++i) {
      auto& tp = target->elems[i];
      if (tp.offset >= 0) continue;
      int64_t low = 0;
      int64_t high = 0;
      if (rd_kafka_query_watermark_offsets(rk_.get(), tp.topic, tp.partition, &low, &high, 10000)) {
        return Status::Unavailable(std::string("cannot read the offsets of ") + tp.topic);
      }
      tp.offset = tp.offset == RD_KAFKA_OFFSET_BEGINNING ? low : high;
    }
    FinishInflight(30s);
    pending_.clear();
    std::vector<store::PartitionPosition> positions;
    for (int i = 0; i < target->cnt; ++i) {
      positions.push_back({target->elems[i].topic, target->elems[i].partition,
                           target->elems[i].offset, -1});
    }
    TOMSTREAM_RETURN_IF_ERROR(ingest_.SetPositions(options_.stream.name, positions));
    rd_kafka_commit(rk_.get(), target.get(), 0);
    kafka::ErrorPtr err(rd_kafka_seek_partitions(rk_.get(), target.get(), 10000));
    if (err) return Status::Unavailable(std::string("seek failed: ") + rd_kafka_error_string(err.get()));
    std::vector<PartitionStatusSnapshot> out;
    std::lock_guard lock(status_mu_);
    for (const auto& p : positions) {
      PartitionStatusSnapshot& ps = partitions_[{p.topic, p.partition}];
      ps.topic = p.topic;
      ps.partition = p.partition;
      ps.stored_offset = p.next_offset;
      out.push_back(ps);
    }
    spdlog::info("stream {}: seeked {} partitions of \"{}\"", options_.stream.name, out.size(),
                 req.route.topic);
    return out;
  }

  // --- health -------------------------------------------------------------------------------
  // A silent heartbeat topic on a reachable broker means consumption stalled: reconnect. (An
  // unreachable broker is already shown as such and librdkafka is reconnecting.)
  void CheckHeartbeat() {
    if (options_.stream.heartbeat_topic.empty()) return;
    {
      std::lock_guard lock(status_mu_);
      if (status_.state != StreamState::kConnected && status_.state != StreamState::kStale) return;
    }
    const auto now = Clock::now();
    if (now - last_heartbeat_check_ < 1s) return;
    last_heartbeat_check_ = now;
    const int64_t last = last_heartbeat_ms_;
    const int64_t since_connect = std::chrono::duration_cast<std::chrono::milliseconds>(
                                      now - last_connect_).count();
    const int64_t quiet = last > 0 ? NowMillis() - last : since_connect;
    if (quiet > options_.stream.heartbeat_timeout.count() &&
        since_connect > options_.stream.heartbeat_timeout.count()) {
      spdlog::warn("stream {}: heartbeat topic {} silent for {} ms; reconnecting",
                   options_.stream.name, options_.stream.heartbeat_topic, quiet);
      FinishInflight(10s);
      CloseConsumer(5s);
      SetState(StreamState::kStale, "heartbeat topic " + options_.stream.heartbeat_topic +
                                        " silent for " + std::to_string(quiet / 1000) + " s");
      next_connect_ = Clock::now();
    }
  }

  void RefreshWatermarks() {
    if (!rk_) return;
    std::lock_guard lock(status_mu_);
    for (auto& [key, p] : partitions_) {
      int64_t low = 0;
      int64_t high = 0;
      if (rd_kafka_get_watermark_offsets(rk_.get(), key.first.c_str(), key.second, &low, &high) ==
              RD_KAFKA_RESP_ERR_NO_ERROR &&
          high >= 0) {
        p.high_watermark = high;
        if (p.stored_offset >= 0) p.lag = std::max<int64_t>(0, high - p.stored_offset);
      }
    }
  }

  struct PendingSeek {
    SeekRequest request;
    std::shared_ptr<std::promise<Result<std::vector<PartitionStatusSnapshot>>>> promise;
  };
  struct BatchPosition {
    std::string_view topic;  // in pending_memory_
    int64_t first_offset = 0;
    int64_t next_offset = 0;
    int64_t last_message_ms = -1;
  };

  // Constant after construction.
  const ConsumerOptions options_;
  store::Store& store_;
  std::unique_ptr<kafka::TokenSource> token_source_impl_;

  // Used only by the consumer thread (and librdkafka callbacks it serves).
  store::IngestStore ingest_;
  RouteTable routes_;
  std::map<std::string, std::unique_ptr<handlers::Handler>> handlers_;
  std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter> md_ctx_;
  std::vector<handlers::Header> headers_;
  std::vector<store::IngestMessage> pending_;
  std::unique_ptr<FetchNudger> nudger_;  // while rk_ exists
  std::unique_ptr<BatchMemory> pending_memory_ = std::make_unique<BatchMemory>();
  std::unique_ptr<BatchMemory> spare_memory_;          // recycled from a finished batch
  std::vector<store::IngestMessage> spare_messages_;  // recycled from finished batches
  std::string encoded_headers_;                        // scratch for EncodeHeaders()
  size_t pending_parsed_bytes_ = 0;                    // ParsedAlert::HeapBytes() of pending_
  // Keyed by librdkafka's topic handle: no string copy per message.
  std::map<std::pair<const rd_kafka_topic_t*, int32_t>, BatchPosition> batch_positions_;
  std::unordered_map<const rd_kafka_topic_t*, TopicInfo> topic_cache_;
  Clock::time_point batch_started_;
  std::set<std::string> subscribed_;
  bool first_assignment_checked_ = true;  // false from Connect() until the first assignment
  bool rejoin_ = false;                   // subscribe again although the topics are unchanged
  Clock::time_point next_topic_refresh_;
  Clock::time_point next_connect_;
  Clock::time_point last_connect_ = Clock::now();
  Clock::time_point last_heartbeat_check_;
  std::chrono::milliseconds reconnect_backoff_{500};
  std::optional<Clock::time_point> paused_until_;
  std::chrono::milliseconds pause_backoff_{500};
  std::map<PartitionKey, int64_t> rewind_to_;
  std::atomic<bool> fatal_{false};
  Clock::time_point last_nudge_;

  mutable std::mutex cmd_mu_;
  bool stopping_ = false;                      // GUARDED_BY(cmd_mu_)
  Clock::time_point stop_deadline_;            // GUARDED_BY(cmd_mu_)
  std::optional<RouteTable> new_routes_;       // GUARDED_BY(cmd_mu_)
  std::vector<PendingSeek> seeks_;             // GUARDED_BY(cmd_mu_)

  std::mutex completion_mu_;
  std::condition_variable completion_cv_;
  size_t inflight_ = 0;                        // GUARDED_BY(completion_mu_)
  size_t inflight_bytes_ = 0;                  // GUARDED_BY(completion_mu_)
  std::deque<Completion> completions_;         // GUARDED_BY(completion_mu_)

  mutable std::mutex status_mu_;
  StreamStatusSnapshot status_;                               // GUARDED_BY(status_mu_)
  std::map<PartitionKey, PartitionStatusSnapshot> partitions_;  // GUARDED_BY(status_mu_)
  std::atomic<int64_t> stored_{0};
  std::atomic<int64_t> duplicates_{0};
  std::atomic<int64_t> quarantined_{0};
  std::atomic<int64_t> skipped_{0};
  std::atomic<int64_t> last_heartbeat_ms_{0};
  Heartbeat progress_;  // the consumer thread's loop, for the watchdog
  // A client that could not close was released, not destroyed: its threads may still use this
  // object (e.g. an OAUTHBEARER token refresh), which must then live until the process exits.
  std::atomic<bool> client_left_behind_{false};

  // Destroyed first: the consumer's callbacks use the members above. queue_ before rk_.
  kafka::KafkaPtr rk_;
  kafka::QueuePtr queue_;
  std::thread thread_;
};

StreamConsumer::StreamConsumer(ConsumerOptions options, store::Store& store, RouteTable routes)
    : impl_(std::make_unique<Impl>(std::move(options), store, std::move(routes))) {}
StreamConsumer::~StreamConsumer() = default;
void StreamConsumer::Start() { impl_->Start(); }
void StreamConsumer::Stop(std::chrono::milliseconds budget) { impl_->Stop(budget); }
void StreamConsumer::SetRoutes(RouteTable routes) { impl_->SetRoutes(std::move(routes)); }
Result<std::vector<PartitionStatusSnapshot>> StreamConsumer::Seek(const SeekRequest& request) {
  return impl_->Seek(request);
}
StreamStatusSnapshot StreamConsumer::status() const { return impl_->status(); }
std::chrono::milliseconds StreamConsumer::SinceProgress() const { return impl_->SinceProgress(); }
bool StreamConsumer::ClientLeftBehind() const { return impl_->ClientLeftBehind(); }
const std::string& StreamConsumer::name() const { return impl_->name(); }

}  // namespace tomstream::stream
