#include "control/control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <google/protobuf/util/time_util.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

#include "common/astro.h"
#include "common/clock.h"
#include "common/text.h"
#include "common/test_hooks.h"
#include "common/version.h"
#include "control/checked_service.h"
#include "control/outbox_proto.h"
#include "control/unix_socket.h"
#include "outbox/uuid.h"
#include "store/ingest.h"
#include "tomstream/v1/control.grpc.pb.h"

namespace tomstream::control {
namespace {

namespace pb = tomstream::v1;
using google::protobuf::util::TimeUtil;
// The outbox conversions (control/outbox_proto.h) overload the local ones below.
using control::FromProto;
using control::ToProto;

// gRPC sends a status message as a header, which clients refuse past 16 KiB once percent-encoded
// (up to 3 bytes a byte): a message is kept well under that, whatever it quotes.
constexpr size_t kMaxStatusMessageBytes = 4096;

std::string Bounded(const std::string& message) {
  if (message.size() <= kMaxStatusMessageBytes) return message;
  std::string out;
  AppendTruncatedUtf8(out, message, kMaxStatusMessageBytes);
  return out + "... (" + std::to_string(message.size() - out.size()) + " more bytes)";
}

// The one place internal errors become gRPC status codes.
grpc::Status ToGrpc(const Status& status) {
  const Status st(status.code(), Bounded(status.message()));
  switch (st.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, st.message()};
    case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, st.message()};
    case StatusCode::kAlreadyExists: return {grpc::StatusCode::ALREADY_EXISTS, st.message()};
    case StatusCode::kFailedPrecondition:
      return {grpc::StatusCode::FAILED_PRECONDITION, st.message()};
    case StatusCode::kResourceExhausted:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, st.message()};
    case StatusCode::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, st.message()};
    case StatusCode::kUnimplemented: return {grpc::StatusCode::UNIMPLEMENTED, st.message()};
    case StatusCode::kIoError:
    case StatusCode::kInternal: return {grpc::StatusCode::INTERNAL, st.message()};
  }
  return {grpc::StatusCode::UNKNOWN, st.message()};
}


constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

google::protobuf::Timestamp MillisToTimestamp(int64_t ms) {
  return TimeUtil::MillisecondsToTimestamp(ms);
}

int64_t TimestampToMillis(const google::protobuf::Timestamp& t) {
  return TimeUtil::TimestampToMilliseconds(t);
}

int PageSize(int requested) {
  if (requested <= 0) return kDefaultPageSize;
  return std::min(requested, kMaxPageSize);
}

// Page tokens are the id to continue from, as text.
Result<int64_t> ParsePageToken(const std::string& token) {
  if (token.empty()) return int64_t{0};
  try {
    size_t used = 0;
    const long long v = std::stoll(token, &used);
    if (used == token.size() && v > 0) return static_cast<int64_t>(v);
  } catch (const std::exception&) {
  }
  return Status::InvalidArgument("page_token: not a token this server issued: " + Quoted(token));
}

pb::StreamState ToProto(stream::StreamState s) {
  switch (s) {
    case stream::StreamState::kInactive: return pb::STREAM_STATE_INACTIVE;
    case stream::StreamState::kConnecting: return pb::STREAM_STATE_CONNECTING;
    case stream::StreamState::kConnected: return pb::STREAM_STATE_CONNECTED;
    case stream::StreamState::kBackoff: return pb::STREAM_STATE_BACKOFF;
    case stream::StreamState::kAuthFailed: return pb::STREAM_STATE_AUTH_FAILED;
    case stream::StreamState::kStale: return pb::STREAM_STATE_STALE;
    case stream::StreamState::kPaused: return pb::STREAM_STATE_PAUSED;
  }
  return pb::STREAM_STATE_UNSPECIFIED;
}

void ToProto(const stream::PartitionStatusSnapshot& p, pb::PartitionStatus* out) {
  out->set_topic(p.topic);
  out->set_partition(p.partition);
  out->set_stored_offset(p.stored_offset);
  out->set_high_watermark(p.high_watermark);
  out->set_lag(p.lag);
  if (p.last_message_ms >= 0) *out->mutable_last_message_at() = MillisToTimestamp(p.last_message_ms);
}

void ToProto(const stream::StreamStatusSnapshot& s, pb::StreamStatus* out) {
  out->set_name(s.name);
  out->set_bootstrap(s.bootstrap);
  out->set_security(s.security);
  out->set_group_id(s.group_id);
  out->set_state(ToProto(s.state));
  out->set_last_error(s.last_error);
  if (s.last_error_ms > 0) *out->mutable_last_error_at() = MillisToTimestamp(s.last_error_ms);
  out->set_messages_per_second(s.messages_per_second);
  out->set_stored(s.stored);
  out->set_duplicates_skipped(s.duplicates);
  out->set_quarantined(s.quarantined);
  out->set_skipped_test(s.skipped);
  for (const auto& p : s.partitions) ToProto(p, out->add_partitions());
  if (s.last_heartbeat_ms > 0) {
    *out->mutable_last_heartbeat_at() = MillisToTimestamp(s.last_heartbeat_ms);
  }
}

void ToProto(const config::StartPosition& p, pb::StartPosition* out) {
  using Kind = config::StartPosition::Kind;
  switch (p.kind) {
    case Kind::kEarliest: out->set_earliest(true); break;
    case Kind::kLatest: out->set_latest(true); break;
    case Kind::kTime: *out->mutable_time() = MillisToTimestamp(p.time_ms); break;
    case Kind::kLastN: out->set_last_n(p.last_n); break;
  }
}

// Reads a StartPosition; `field` names it in errors. An absolute offset goes to `offset`.
Result<config::StartPosition> FromProto(const pb::StartPosition& p, const std::string& field,
                                        std::optional<int64_t>* offset) {
  config::StartPosition out;
  using Kind = config::StartPosition::Kind;
  switch (p.position_case()) {
    case pb::StartPosition::kEarliest: out.kind = Kind::kEarliest; break;
    case pb::StartPosition::kLatest: out.kind = Kind::kLatest; break;
    case pb::StartPosition::kTime:
      out.kind = Kind::kTime;
      out.time_ms = TimestampToMillis(p.time());
      break;
    case pb::StartPosition::kLastN:
      if (p.last_n() <= 0) return Status::InvalidArgument(field + ".last_n: must be greater than 0");
      out.kind = Kind::kLastN;
      out.last_n = p.last_n();
      break;
    case pb::StartPosition::kOffset:
      if (offset == nullptr) {
        return Status::InvalidArgument(field + ".offset: only SeekRoute takes an absolute offset");
      }
      if (p.offset() < 0) return Status::InvalidArgument(field + ".offset: must not be negative");
      *offset = p.offset();
      break;
    case pb::StartPosition::POSITION_NOT_SET:
      return Status::InvalidArgument(field + ": set one of earliest, latest, time, last_n");
  }
  return out;
}

void ToProto(const stream::RouteInfo& info, pb::Route* out) {
  out->set_id(info.route.id);
  out->set_stream(info.stream);
  switch (info.route.match) {
    case config::RouteConfig::Match::kExact: out->set_topic(info.route.topic); break;
    case config::RouteConfig::Match::kPattern: out->set_pattern(info.route.topic); break;
    case config::RouteConfig::Match::kRegex: out->set_regex(info.route.topic); break;
  }
  out->set_handler(info.route.handler);
  if (info.route.start) ToProto(*info.route.start, out->mutable_start());
  out->set_include_test(info.route.include_test);
  out->set_origin(info.runtime ? pb::ROUTE_ORIGIN_RUNTIME : pb::ROUTE_ORIGIN_CONFIG);
  if (info.created_at_ms > 0) *out->mutable_created_at() = MillisToTimestamp(info.created_at_ms);
  for (const auto& t : info.matched_topics) out->add_matched_topics(t);
}

void AddHeaders(const std::string& blob, google::protobuf::RepeatedPtrField<pb::Header>* out) {
  for (const auto& h : store::DecodeHeaders(blob)) {
    pb::Header* ph = out->Add();
    ph->set_key(std::string(h.key));
    ph->set_value(std::string(h.value));
  }
}

void ToProto(const store::AlertRow& a, pb::Alert* out) {
  out->set_id(a.id);
  out->set_stream(a.stream);
  out->set_topic(a.topic);
  out->set_partition(a.partition);
  out->set_offset(a.offset);
  if (a.kafka_ts_ms >= 0) *out->mutable_kafka_timestamp() = MillisToTimestamp(a.kafka_ts_ms);
  *out->mutable_stored_at() = MillisToTimestamp(a.stored_at_ms);
  out->set_handler(a.handler);
  out->set_message_id(a.message_id);
  out->set_format(a.format);
  out->set_payload(a.payload);
  AddHeaders(a.headers, out->mutable_headers());
  out->set_summary(a.summary);
}

Result<store::AlertFilter> AlertFilterFrom(const std::string& stream, const std::string& topic,
                                           const std::string& handler,
                                           const pb::TimeRange* stored, bool include_payload) {
  store::AlertFilter f;
  f.stream = stream;
  f.topic = topic;
  f.handler = handler;
  f.include_payload = include_payload;
  if (stored != nullptr) {
    if (stored->has_from()) f.stored_from_ms = TimestampToMillis(stored->from());
    if (stored->has_to()) f.stored_to_ms = TimestampToMillis(stored->to());
  }
  return f;
}

class ControlService final : public pb::Control::Service {
 public:
  explicit ControlService(DaemonView& view) : view_(view) {}

  grpc::Status GetVersion(grpc::ServerContext*, const pb::GetVersionRequest*,
                          pb::GetVersionResponse* out) override {
    test_hooks::MaybeStall(test_hooks::Loop::kControl);
    const VersionInfo v = view_.Versions();
    out->set_version(v.version);
    out->set_api_version(kApiVersion);
    out->set_git_revision(v.git_revision);
    out->set_librdkafka_version(v.librdkafka_version);
    out->set_sqlite_version(v.sqlite_version);
    out->set_grpc_version(grpc::Version());
    return grpc::Status::OK;
  }

  grpc::Status GetStatus(grpc::ServerContext*, const pb::GetStatusRequest*,
                         pb::GetStatusResponse* out) override {
    const DaemonSnapshot s = view_.Snapshot();
    out->set_version(s.version);
    out->set_pid(s.pid);
    *out->mutable_started_at() = TimeUtil::MillisecondsToTimestamp(
        std::chrono::duration_cast<std::chrono::milliseconds>(s.started_at.time_since_epoch())
            .count());
    *out->mutable_uptime() = TimeUtil::MillisecondsToDuration(
        std::chrono::duration_cast<std::chrono::milliseconds>(s.uptime).count());
    out->set_config_path(s.config_path);
    out->set_control_socket(s.control_socket);
    out->set_log_level(s.log_level);
    pb::StoreStatus* store = out->mutable_store();
    store->set_path(s.store.path);
    store->set_schema_version(s.store.schema_version);
    store->set_size_bytes(s.store.size_bytes);
    store->set_wal_size_bytes(s.store.wal_size_bytes);
    store->set_write_error(s.store.write_error);
    int64_t stored = 0;
    int64_t quarantined = 0;
    for (const auto& st : s.streams) {
      ToProto(st, out->add_streams());
      stored += st.stored;
      quarantined += st.quarantined;
    }
    store->set_alerts_stored(stored);
    store->set_quarantined(quarantined);
    if (s.outbox) ToProto(*s.outbox, NowMillis(), out->mutable_outbox());
    return grpc::Status::OK;
  }

  grpc::Status SetLogLevel(grpc::ServerContext*, const pb::SetLogLevelRequest* req,
                           pb::SetLogLevelResponse* out) override {
    std::string previous;
    Status st = view_.SetLogLevel(req->level(), previous);
    if (!st.ok()) return ToGrpc(st);
    out->set_previous_level(previous);
    out->set_level(req->level());
    return grpc::Status::OK;
  }

  grpc::Status ListStreams(grpc::ServerContext*, const pb::ListStreamsRequest*,
                           pb::ListStreamsResponse* out) override {
    for (const auto& s : view_.Snapshot().streams) ToProto(s, out->add_streams());
    return grpc::Status::OK;
  }

  grpc::Status AddRoute(grpc::ServerContext*, const pb::AddRouteRequest* req,
                        pb::AddRouteResponse* out) override {
    const pb::Route& r = req->route();
    stream::Route route;
    int selectors = 0;
    if (!r.topic().empty()) {
      route.match = config::RouteConfig::Match::kExact;
      route.topic = r.topic();
      ++selectors;
    }
    if (!r.pattern().empty()) {
      route.match = config::RouteConfig::Match::kPattern;
      route.topic = r.pattern();
      ++selectors;
    }
    if (!r.regex().empty()) {
      route.match = config::RouteConfig::Match::kRegex;
      route.topic = r.regex();
      ++selectors;
    }
    if (selectors != 1) {
      return ToGrpc(Status::InvalidArgument("route: give exactly one of topic, pattern or regex"));
    }
    if (r.stream().empty()) return ToGrpc(Status::InvalidArgument("route.stream: required"));
    route.handler = r.handler();
    route.include_test = r.include_test();
    if (r.has_start()) {
      auto start = FromProto(r.start(), "route.start", nullptr);
      if (!start.ok()) return ToGrpc(start.status());
      route.start = *start;
    }
    auto added = view_.AddRoute(r.stream(), std::move(route));
    if (!added.ok()) return ToGrpc(added.status());
    ToProto(*added, out->mutable_route());
    return grpc::Status::OK;
  }

  grpc::Status RemoveRoute(grpc::ServerContext*, const pb::RemoveRouteRequest* req,
                           pb::RemoveRouteResponse*) override {
    if (req->id() <= 0) {
      return ToGrpc(Status::InvalidArgument(
          "id: a runtime route id (config-file routes are removed by editing the config)"));
    }
    return ToGrpc(view_.RemoveRoute(req->id()));
  }

  grpc::Status ListRoutes(grpc::ServerContext*, const pb::ListRoutesRequest* req,
                          pb::ListRoutesResponse* out) override {
    auto routes = view_.ListRoutes(req->stream());
    if (!routes.ok()) return ToGrpc(routes.status());
    for (const auto& r : *routes) ToProto(r, out->add_routes());
    return grpc::Status::OK;
  }

  grpc::Status SeekRoute(grpc::ServerContext*, const pb::SeekRouteRequest* req,
                         pb::SeekRouteResponse* out) override {
    if (req->id() == 0 && (req->stream().empty() || req->topic().empty())) {
      return ToGrpc(Status::InvalidArgument("give id, or stream and topic"));
    }
    std::optional<int64_t> offset;
    auto position = FromProto(req->position(), "position", &offset);
    if (!position.ok()) return ToGrpc(position.status());
    auto moved = view_.SeekRoute(req->id(), req->stream(), req->topic(), *position, offset);
    if (!moved.ok()) return ToGrpc(moved.status());
    for (const auto& p : *moved) ToProto(p, out->add_partitions());
    return grpc::Status::OK;
  }

  grpc::Status ListAlerts(grpc::ServerContext*, const pb::ListAlertsRequest* req,
                          pb::ListAlertsResponse* out) override {
    auto before = ParsePageToken(req->page_token());
    if (!before.ok()) return ToGrpc(before.status());
    auto filter = AlertFilterFrom(req->stream(), req->topic(), req->handler(),
                                  req->has_stored() ? &req->stored() : nullptr,
                                  req->include_payload());
    const int limit = PageSize(req->page_size());
    auto rows = view_.ListAlerts(*filter, *before, limit);
    if (!rows.ok()) return ToGrpc(rows.status());
    for (const auto& a : *rows) ToProto(a, out->add_alerts());
    if (static_cast<int>(rows->size()) == limit) {
      out->set_next_page_token(std::to_string(rows->back().id));
    }
    return grpc::Status::OK;
  }

  grpc::Status GetAlert(grpc::ServerContext*, const pb::GetAlertRequest* req,
                        pb::Alert* out) override {
    auto alert = view_.GetAlert(req->id());
    if (!alert.ok()) return ToGrpc(alert.status());
    ToProto(*alert, out);
    return grpc::Status::OK;
  }

  grpc::Status WatchAlerts(grpc::ServerContext* ctx, const pb::WatchAlertsRequest* req,
                           grpc::ServerWriter<pb::Alert>* writer) override {
    auto filter = AlertFilterFrom(req->stream(), req->topic(), req->handler(), nullptr,
                                  req->include_payload());
    int64_t after = req->after_id();
    if (after == 0) {
      auto latest = view_.LatestAlertId();
      if (!latest.ok()) return ToGrpc(latest.status());
      after = *latest;
    }
    constexpr int kBatch = 500;
    while (!ctx->IsCancelled()) {
      auto rows = view_.AlertsAfter(*filter, after, kBatch);
      if (!rows.ok()) return ToGrpc(rows.status());
      for (const auto& a : *rows) {
        pb::Alert alert;
        ToProto(a, &alert);
        if (!writer->Write(alert)) return grpc::Status::OK;  // the client went away
        after = a.id;
      }
      if (static_cast<int>(rows->size()) < kBatch) {
        view_.WaitForAlerts(after, std::chrono::milliseconds(500));
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status ListPhotometry(grpc::ServerContext*, const pb::ListPhotometryRequest* req,
                              pb::ListPhotometryResponse* out) override {
    if (req->target().empty()) return ToGrpc(Status::InvalidArgument("target: required"));
    auto after = ParsePageToken(req->page_token());
    if (!after.ok()) return ToGrpc(after.status());
    std::optional<double> from;
    std::optional<double> to;
    if (req->date_obs().has_from()) from = astro::UnixMsToJd(TimestampToMillis(req->date_obs().from()));
    if (req->date_obs().has_to()) to = astro::UnixMsToJd(TimestampToMillis(req->date_obs().to()));
    const int limit = PageSize(req->page_size());
    auto rows = view_.ListPhotometry(req->target(), from, to, *after, limit);
    if (!rows.ok()) return ToGrpc(rows.status());
    for (const auto& p : *rows) {
      pb::PhotometryPoint* pp = out->add_photometry();
      pp->set_alert_id(p.alert_id);
      pp->set_target_name(p.target_name);
      *pp->mutable_date_obs() = MillisToTimestamp(astro::JdToUnixMs(p.date_obs_jd));
      pp->set_telescope(p.telescope);
      pp->set_instrument(p.instrument);
      pp->set_bandpass(p.bandpass);
      if (p.brightness) pp->set_brightness(*p.brightness);
      if (p.brightness_error) pp->set_brightness_error(*p.brightness_error);
      pp->set_brightness_unit(p.brightness_unit);
      if (p.limiting_brightness) pp->set_limiting_brightness(*p.limiting_brightness);
      if (p.limiting_brightness_error) {
        pp->set_limiting_brightness_error(*p.limiting_brightness_error);
      }
      pp->set_limiting_brightness_unit(p.limiting_brightness_unit);
      if (p.exposure_time) pp->set_exposure_time(*p.exposure_time);
      pp->set_observer(p.observer);
      pp->set_comments(p.comments);
      pp->set_catalog(p.catalog);
    }
    if (static_cast<int>(rows->size()) == limit) {
      out->set_next_page_token(std::to_string(rows->back().id));
    }
    return grpc::Status::OK;
  }

  grpc::Status EnqueuePhotometry(grpc::ServerContext*, const pb::EnqueuePhotometryRequest* req,
                                 pb::EnqueuePhotometryResponse* out) override {
    std::vector<outbox::PhotometryMessage> messages;
    messages.reserve(static_cast<size_t>(req->messages_size()));
    for (const pb::PhotometryMessage& m : req->messages()) messages.push_back(FromProto(m));
    auto outcomes = view_.EnqueuePhotometry(std::move(messages), req->validate_only());
    if (!outcomes.ok()) return ToGrpc(outcomes.status());
    for (const store::EnqueueOutcome& o : *outcomes) {
      pb::EnqueueResult* r = out->add_results();
      r->set_uuid(outbox::UuidToString(o.uuid));
      r->set_duplicate(o.duplicate);
      if (!o.uuid.empty()) r->set_state(ToProto(o.state));
    }
    return grpc::Status::OK;
  }

  grpc::Status ListOutbox(grpc::ServerContext*, const pb::ListOutboxRequest* req,
                          pb::ListOutboxResponse* out) override {
    auto before = ParsePageToken(req->page_token());
    if (!before.ok()) return ToGrpc(before.status());
    const int limit = PageSize(req->page_size());
    store::OutboxFilter filter;
    auto state = FromProto(req->state(), "state");
    if (!state.ok()) return ToGrpc(state.status());
    filter.state = *state;
    filter.destination = req->destination();
    filter.topic = req->topic();
    auto entries = view_.ListOutbox(filter, *before, limit);
    if (!entries.ok()) return ToGrpc(entries.status());
    for (const store::OutboxEntry& e : *entries) ToProto(e, out->add_entries());
    if (static_cast<int>(entries->size()) == limit) {
      out->set_next_page_token(std::to_string(entries->back().id));
    }
    return grpc::Status::OK;
  }

  grpc::Status GetOutboxEntry(grpc::ServerContext*, const pb::GetOutboxEntryRequest* req,
                              pb::OutboxEntry* out) override {
    return OnEntry(req->uuid(), [&](const std::string& id) { return view_.GetOutboxEntry(id); }, out);
  }

  grpc::Status RetryOutboxEntry(grpc::ServerContext*, const pb::RetryOutboxEntryRequest* req,
                                pb::OutboxEntry* out) override {
    return OnEntry(req->uuid(), [&](const std::string& id) { return view_.RetryOutboxEntry(id); },
                   out);
  }

  grpc::Status CancelOutboxEntry(grpc::ServerContext*, const pb::CancelOutboxEntryRequest* req,
                                 pb::OutboxEntry* out) override {
    return OnEntry(req->uuid(), [&](const std::string& id) { return view_.CancelOutboxEntry(id); },
                   out);
  }

  grpc::Status ListQuarantine(grpc::ServerContext*, const pb::ListQuarantineRequest* req,
                              pb::ListQuarantineResponse* out) override {
    auto before = ParsePageToken(req->page_token());
    if (!before.ok()) return ToGrpc(before.status());
    const int limit = PageSize(req->page_size());
    auto rows = view_.ListQuarantine(req->stream(), req->topic(), req->include_payload(), *before,
                                     limit);
    if (!rows.ok()) return ToGrpc(rows.status());
    for (const auto& q : *rows) {
      pb::QuarantinedMessage* m = out->add_messages();
      m->set_id(q.id);
      m->set_stream(q.stream);
      m->set_topic(q.topic);
      m->set_partition(q.partition);
      m->set_offset(q.offset);
      m->set_handler(q.handler);
      m->set_error(q.error);
      m->set_payload(q.payload);
      AddHeaders(q.headers, m->mutable_headers());
      *m->mutable_stored_at() = MillisToTimestamp(q.stored_at_ms);
    }
    if (static_cast<int>(rows->size()) == limit) {
      out->set_next_page_token(std::to_string(rows->back().id));
    }
    return grpc::Status::OK;
  }

 private:
  // Parses `uuid`, runs `op` on its bytes and returns the entry it gives.
  template <typename Op>
  grpc::Status OnEntry(const std::string& uuid, Op op, pb::OutboxEntry* out) {
    const auto id = outbox::ParseUuid(uuid);
    if (!id) {
      return ToGrpc(Status::InvalidArgument("uuid: " + Quoted(uuid) + " is not a UUID"));
    }
    Result<store::OutboxEntry> entry = op(*id);
    if (!entry.ok()) return ToGrpc(entry.status());
    ToProto(*entry, out);
    return grpc::Status::OK;
  }

  DaemonView& view_;
};

}  // namespace

// Serves a listening socket systemd passed (socket activation). gRPC cannot adopt a listening
// socket, only connected ones (AddInsecureChannelFromFd), so this thread accepts connections and
// hands each one to the server.
class Acceptor {
 public:
  // REQUIRES: wake_fd is an eventfd.
  Acceptor(int listen_fd, int wake_fd, grpc::Server& server)
      : listen_fd_(listen_fd), wake_fd_(wake_fd), server_(server) {
    // Non-blocking: a peer that gives up between poll() and accept4() must not block the
    // thread (and with it the stop).
    fcntl(listen_fd_, F_SETFL, fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
    thread_ = std::thread([this] { Run(); });
  }
  ~Acceptor() {
    const uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof one) < 0) spdlog::warn("control: cannot wake the acceptor");
    thread_.join();
    close(wake_fd_);
    close(listen_fd_);  // systemd keeps its own copy for the next start
  }
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

 private:
  void Run() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        spdlog::error("control: poll on the activated socket failed: {}", std::strerror(errno));
        return;
      }
      if (fds[1].revents != 0) return;
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        // The peer may have gone already (ECONNABORTED), or the process is out of descriptors:
        // go on either way; a pause keeps an fd shortage from spinning.
        if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR) {
          spdlog::warn("control: accept on the activated socket failed: {}", std::strerror(errno));
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        continue;
      }
      grpc::AddInsecureChannelFromFd(&server_, fd);  // the server owns fd from here
    }
  }

  const int listen_fd_;
  const int wake_fd_;
  grpc::Server& server_;
  std::thread thread_;  // last: uses the members above
};

using CheckedControl = CheckedService<pb::Control::Service>;

// Every method of the Control service, registered behind the check of its requests' wire form.
std::unique_ptr<CheckedControl> Checked(pb::Control::Service& service) {
  using S = pb::Control::Service;
  const auto* descriptor = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      pb::Control::service_full_name());
  auto checked = std::make_unique<CheckedControl>(service, *descriptor);
  checked->Unary("GetVersion", &S::GetVersion);
  checked->Unary("GetStatus", &S::GetStatus);
  checked->Unary("SetLogLevel", &S::SetLogLevel);
  checked->Unary("ListStreams", &S::ListStreams);
  checked->Unary("AddRoute", &S::AddRoute);
  checked->Unary("RemoveRoute", &S::RemoveRoute);
  checked->Unary("ListRoutes", &S::ListRoutes);
  checked->Unary("SeekRoute", &S::SeekRoute);
  checked->Unary("ListAlerts", &S::ListAlerts);
  checked->Unary("GetAlert", &S::GetAlert);
  checked->ServerStreaming("WatchAlerts", &S::WatchAlerts);
  checked->Unary("ListPhotometry", &S::ListPhotometry);
  checked->Unary("ListQuarantine", &S::ListQuarantine);
  checked->Unary("EnqueuePhotometry", &S::EnqueuePhotometry);
  checked->Unary("ListOutbox", &S::ListOutbox);
  checked->Unary("GetOutboxEntry", &S::GetOutboxEntry);
  checked->Unary("RetryOutboxEntry", &S::RetryOutboxEntry);
  checked->Unary("CancelOutboxEntry", &S::CancelOutboxEntry);
  return checked;
}

struct ControlServer::Impl {
  ControlServerOptions options;
  LockFile claim;  // held until after the socket file is removed
  std::unique_ptr<ControlService> service;
  std::unique_ptr<CheckedControl> checked;  // what the server runs: `service` behind the checks
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<Acceptor> acceptor;  // only when socket-activated
  std::shared_ptr<grpc::Channel> probe_channel;
  bool stopped = false;
};

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControlServer::~ControlServer() { Shutdown(std::chrono::milliseconds(0)); }

Result<LockFile> ControlServer::Claim(const ControlServerOptions& options) {
  if (options.listen_fd >= 0) {
    // systemd owns the socket file: only make sure no other daemon runs beside us.
    return LockFile::Acquire(options.socket_path + ".lock",
                             "control socket " + options.socket_path);
  }
  return ClaimSocketPath(options.socket_path);
}

Result<std::unique_ptr<ControlServer>> ControlServer::Start(const ControlServerOptions& options,
                                                            LockFile claim, DaemonView& view) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->claim = std::move(claim);
  impl->service = std::make_unique<ControlService>(view);
  impl->checked = Checked(*impl->service);
  if (Status complete = impl->checked->Complete(); !complete.ok()) return complete;
  const bool activated = options.listen_fd >= 0;

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int unix_port = 0;
  if (!activated) {
    builder.AddListeningPort("unix:" + options.socket_path, grpc::InsecureServerCredentials(),
                             &unix_port);
  }
  int tcp_port = 0;
  if (!options.tcp_listen.empty()) {
    builder.AddListeningPort(options.tcp_listen, grpc::InsecureServerCredentials(), &tcp_port);
  }
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(impl->checked.get());
  impl->server = builder.BuildAndStart();
  // Our own socket file is removed on failure; an activated one belongs to systemd.
  const auto give_up = [&](Status st) {
    if (impl->server) impl->server->Shutdown();
    if (!activated) unlink(options.socket_path.c_str());
    return st;
  };
  if (impl->server == nullptr || (!activated && unix_port == 0)) {
    return give_up(Status::IoError("cannot listen on control socket " + options.socket_path));
  }
  if (!options.tcp_listen.empty() && tcp_port == 0) {
    return give_up(Status::IoError("cannot listen on control.tcp_listen " + options.tcp_listen));
  }
  if (activated) {
    const int wake_fd = eventfd(0, EFD_CLOEXEC);
    if (wake_fd < 0) {
      return give_up(Status::IoError(std::string("eventfd: ") + std::strerror(errno)));
    }
    impl->acceptor = std::make_unique<Acceptor>(options.listen_fd, wake_fd, *impl->server);
  } else {
    Status secured = SecureSocket(options.socket_path, options.socket_group);
    if (!secured.ok()) return give_up(secured);
  }
  impl->probe_channel = impl->server->InProcessChannel(grpc::ChannelArguments());
  spdlog::info("control: serving on unix:{}{}{}", options.socket_path,
               activated ? " (socket from systemd)" : "",
               options.tcp_listen.empty() ? "" : " and " + options.tcp_listen);
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

Status ControlServer::Probe(std::chrono::milliseconds limit) {
  auto stub = pb::Control::NewStub(impl_->probe_channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + limit);
  pb::GetVersionResponse out;
  const grpc::Status st = stub->GetVersion(&ctx, pb::GetVersionRequest(), &out);
  if (!st.ok()) return Status::Unavailable("control server: " + st.error_message());
  return Status::Ok();
}

void ControlServer::Shutdown(std::chrono::milliseconds grace) {
  if (impl_ == nullptr || impl_->stopped) return;
  impl_->stopped = true;
  impl_->acceptor.reset();  // no new connections
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
  if (impl_->options.listen_fd < 0) unlink(impl_->options.socket_path.c_str());
}

}  // namespace tomstream::control
