#include "outbox/kafka_sink.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

#include <spdlog/spdlog.h>

namespace tomstream::outbox {
namespace {

bool IsPermanent(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      return true;
    default:
      return false;
  }
}

int64_t IdOf(void* msg_opaque) {
  return static_cast<int64_t>(reinterpret_cast<intptr_t>(msg_opaque));
}

}  // namespace

KafkaSink::KafkaSink(const config::DestinationConfig& destination,
                     const config::StreamConfig& stream, std::string sender,
                     std::vector<std::pair<std::string, std::string>> overrides)
    : destination_(destination),
      stream_(stream),
      sender_(std::move(sender)),
      overrides_(std::move(overrides)),
      capacity_(static_cast<size_t>(destination.max_in_flight)),
      token_source_impl_(kafka::MakeTokenSource(stream)) {
  log_name = "destination " + destination.name;
  token_source = token_source_impl_.get();
  Create();
}

KafkaSink::~KafkaSink() { Destroy(std::chrono::milliseconds(0)); }

void KafkaSink::Create() {
  kafka::ClientOptions co;
  co.role = kafka::ClientRole::kProducer;
  // A message that cannot be delivered within the request timeout is reported and retried
  // later by the outbox, which keeps the entry; librdkafka need not hold it for minutes.
  co.overrides.push_back({"message.timeout.ms",
                          std::to_string(std::max<int64_t>(
                              1000, destination_.request_timeout.count()))});
  co.overrides.insert(co.overrides.end(), overrides_.begin(), overrides_.end());
  auto conf = kafka::MakeClientConf(stream_, co, this);
  if (!conf.ok()) {
    last_create_error_ = conf.status().message();
    spdlog::error("destination {}: {}", destination_.name, last_create_error_);
    return;
  }
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &KafkaSink::DeliveryReport);
  char err[512] = {};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err, sizeof err);
  if (rk == nullptr) {
    last_create_error_ = std::string("cannot create producer: ") + err;
    spdlog::error("destination {}: {}", destination_.name, last_create_error_);
    return;
  }
  conf->release();  // rd_kafka_new took ownership
  rk_.reset(rk);
  kafka::ServeTokenRefreshInBackground(rk, stream_);
  fatal_ = false;
  last_create_error_.clear();
}

void KafkaSink::Destroy(std::chrono::milliseconds budget) {
  if (!rk_) return;
  // Whatever is still queued or in flight is reported (purged: transient) into pending_reports_.
  reports_ = &pending_reports_;
  if (budget.count() > 0) rd_kafka_flush(rk_.get(), static_cast<int>(budget.count()));
  rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_flush(rk_.get(), 1000);
  reports_ = nullptr;
  rk_.reset();
}

void KafkaSink::DeliveryReport(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  auto* self = static_cast<KafkaSink*>(static_cast<kafka::ClientEvents*>(opaque));
  SinkOutcome o;
  o.id = IdOf(msg->_private);
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    o.kind = SinkOutcome::Kind::kDelivered;
  } else if (msg->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE) {
    o.kind = SinkOutcome::Kind::kNotSent;  // purged before it was sent
    o.error = "not sent: the producer was closed";
  } else {
    o.kind = IsPermanent(msg->err) ? SinkOutcome::Kind::kPermanent : SinkOutcome::Kind::kTransient;
    o.error = std::string("kafka: ") + rd_kafka_err2str(msg->err);
  }
  // Reports only arrive inside Poll() or Destroy(), which point reports_ somewhere.
  (self->reports_ != nullptr ? *self->reports_ : self->pending_reports_).push_back(std::move(o));
}

void KafkaSink::Send(store::OutboxWork work) {
  ++in_flight_;
  if (!rk_) {
    pending_reports_.push_back({work.id, SinkOutcome::Kind::kNotSent,
                                "not sent: no producer: " + last_create_error_, "", ""});
    return;
  }
  // rd_kafka_produceva() rather than the producev() macros, which are full of C casts.
  auto header = [](const char* name, const std::string& value) {
    rd_kafka_vu_t vu{};
    vu.vtype = RD_KAFKA_VTYPE_HEADER;
    vu.u.header.name = name;
    vu.u.header.val = value.data();
    vu.u.header.size = static_cast<ssize_t>(value.size());
    return vu;
  };
  static const std::string kJson = "json";
  rd_kafka_vu_t vus[9] = {};
  vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[0].u.cstr = work.topic.c_str();
  vus[1].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[1].u.mem.ptr = work.body.data();
  vus[1].u.mem.size = work.body.size();
  vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[2].u.i = RD_KAFKA_MSG_F_COPY;
  vus[3] = header("_id", work.uuid);
  vus[4] = header("_format", kJson);
  vus[5] = header("_sender", sender_);
  vus[6] = header("title", work.title);
  vus[7] = header("topic", work.topic);
  vus[8].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vus[8].u.ptr = reinterpret_cast<void*>(static_cast<intptr_t>(work.id));
  kafka::ErrorPtr error(rd_kafka_produceva(rk_.get(), vus, std::size(vus)));
  const rd_kafka_resp_err_t err = error ? rd_kafka_error_code(error.get()) : RD_KAFKA_RESP_ERR_NO_ERROR;
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
    // Back-pressure from the local queue (it is bounded in bytes, entries are not): try later.
    pending_reports_.push_back({work.id, SinkOutcome::Kind::kNotSent,
                                "not sent: the producer's queue is full", "", ""});
  } else if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    pending_reports_.push_back(
        {work.id,
         IsPermanent(err) ? SinkOutcome::Kind::kPermanent : SinkOutcome::Kind::kTransient,
         std::string("kafka: ") + rd_kafka_err2str(err), "", ""});
  }
}

void KafkaSink::Poll(std::chrono::milliseconds timeout, std::vector<SinkOutcome>& out) {
  if (fatal_) {
    char reason[512] = {};
    if (rk_) rd_kafka_fatal_error(rk_.get(), reason, sizeof reason);
    spdlog::error("destination {}: fatal producer error, recreating the producer: {}",
                  destination_.name, reason);
    Destroy(std::chrono::milliseconds(0));
    Create();
    ++recreated_;
  } else if (!rk_) {
    Create();  // an earlier creation failed; try again
  }
  const size_t before = out.size();
  out.insert(out.end(), std::make_move_iterator(pending_reports_.begin()),
             std::make_move_iterator(pending_reports_.end()));
  pending_reports_.clear();
  if (rk_) {
    reports_ = &out;
    rd_kafka_poll(rk_.get(), out.size() > before ? 0 : static_cast<int>(timeout.count()));
    reports_ = nullptr;
  }
  in_flight_ -= out.size() - before;
}

void KafkaSink::Abandon(std::chrono::milliseconds budget, std::vector<SinkOutcome>& out) {
  Destroy(budget);
  in_flight_ -= pending_reports_.size();
  out.insert(out.end(), std::make_move_iterator(pending_reports_.begin()),
             std::make_move_iterator(pending_reports_.end()));
  pending_reports_.clear();
}

void KafkaSink::OnKafkaError(rd_kafka_resp_err_t err, const std::string& reason) {
  if (err == RD_KAFKA_RESP_ERR__FATAL) fatal_ = true;
  spdlog::warn("destination {}: {}: {}", destination_.name, rd_kafka_err2name(err), reason);
}

}  // namespace tomstream::outbox
