#include "control/outbox_proto.h"

#include <google/protobuf/util/time_util.h>

#include "outbox/uuid.h"

namespace tomstream::control {
namespace {

using google::protobuf::util::TimeUtil;

// A proto3 `optional double` as std::optional.
std::optional<double> Optional(bool has, double value) {
  return has ? std::optional<double>(value) : std::nullopt;
}

}  // namespace

outbox::PhotometryMessage FromProto(const v1::PhotometryMessage& m) {
  outbox::PhotometryMessage out;
  out.destination = m.destination();
  out.topic = m.topic();
  out.title = m.title();
  out.submitter = m.submitter();
  out.authors = m.authors();
  out.message_text = m.message_text();
  out.extra_data_json = m.extra_data_json();
  out.idempotency_key = m.idempotency_key();
  for (const v1::Target& t : m.targets()) {
    outbox::Target o;
    o.name = t.name();
    o.ra = t.ra();
    o.dec = t.dec();
    o.ra_error = Optional(t.has_ra_error(), t.ra_error());
    o.dec_error = Optional(t.has_dec_error(), t.dec_error());
    o.ra_error_units = t.ra_error_units();
    o.dec_error_units = t.dec_error_units();
    o.pm_ra = Optional(t.has_pm_ra(), t.pm_ra());
    o.pm_dec = Optional(t.has_pm_dec(), t.pm_dec());
    o.epoch = t.epoch();
    o.aliases.assign(t.aliases().begin(), t.aliases().end());
    o.redshift = Optional(t.has_redshift(), t.redshift());
    o.distance = Optional(t.has_distance(), t.distance());
    o.distance_units = t.distance_units();
    o.host_name = t.host_name();
    o.host_redshift = Optional(t.has_host_redshift(), t.host_redshift());
    o.new_discovery = t.new_discovery();
    o.comments = t.comments();
    o.group_associations.assign(t.group_associations().begin(), t.group_associations().end());
    o.orbital_elements_json = t.orbital_elements_json();
    o.discovery_info_json = t.discovery_info_json();
    out.targets.push_back(std::move(o));
  }
  for (const v1::Photometry& p : m.photometry()) {
    outbox::Photometry o;
    o.target_name = p.target_name();
    o.date_obs_iso = p.date_obs_iso();
    // Zero is outside both ranges: it means "not given".
    if (p.date_obs_jd() != 0) o.date_obs_jd = p.date_obs_jd();
    if (p.date_obs_mjd() != 0) o.date_obs_mjd = p.date_obs_mjd();
    o.telescope = p.telescope();
    o.instrument = p.instrument();
    o.bandpass = p.bandpass();
    o.brightness = Optional(p.has_brightness(), p.brightness());
    o.brightness_error = Optional(p.has_brightness_error(), p.brightness_error());
    o.brightness_unit = p.brightness_unit();
    o.limiting_brightness = Optional(p.has_limiting_brightness(), p.limiting_brightness());
    o.limiting_brightness_error =
        Optional(p.has_limiting_brightness_error(), p.limiting_brightness_error());
    o.limiting_brightness_unit = p.limiting_brightness_unit();
    o.exposure_time = Optional(p.has_exposure_time(), p.exposure_time());
    o.observer = p.observer();
    o.comments = p.comments();
    o.catalog = p.catalog();
    out.photometry.push_back(std::move(o));
  }
  return out;
}

v1::OutboxState ToProto(store::OutboxState state) {
  return static_cast<v1::OutboxState>(static_cast<int>(state));  // numbered alike
}

Result<std::optional<store::OutboxState>> FromProto(v1::OutboxState state, const char* field) {
  if (state == v1::OUTBOX_STATE_UNSPECIFIED) return std::optional<store::OutboxState>();
  if (state < v1::OUTBOX_STATE_PENDING || state > v1::OUTBOX_STATE_CANCELLED) {
    return Status::InvalidArgument(std::string(field) + ": no outbox state is numbered " +
                                   std::to_string(static_cast<int>(state)));
  }
  return std::optional<store::OutboxState>(static_cast<store::OutboxState>(static_cast<int>(state)));
}

void ToProto(const store::OutboxEntry& e, v1::OutboxEntry* out) {
  out->set_uuid(outbox::UuidToString(e.uuid));
  out->set_destination(e.destination);
  out->set_topic(e.topic);
  out->set_title(e.title);
  out->set_state(ToProto(e.state));
  out->set_attempts(e.attempts);
  out->set_last_error(e.last_error);
  *out->mutable_created_at() = TimeUtil::MillisecondsToTimestamp(e.created_at_ms);
  *out->mutable_updated_at() = TimeUtil::MillisecondsToTimestamp(e.updated_at_ms);
  if (e.state == store::OutboxState::kPending) {
    *out->mutable_next_attempt_at() = TimeUtil::MillisecondsToTimestamp(e.next_attempt_at_ms);
  }
  if (e.delivered_at_ms >= 0) {
    *out->mutable_delivered_at() = TimeUtil::MillisecondsToTimestamp(e.delivered_at_ms);
  }
  out->set_hermes_uuid(e.hermes_uuid);
  out->set_response_body(e.response_body);
  out->set_body_json(e.body);
  out->set_idempotency_key(e.idempotency_key);
}

void ToProto(const outbox::OutboxStatus& s, int64_t now_ms, v1::OutboxStatus* out) {
  out->set_pending(s.counts.pending);
  out->set_sending(s.counts.sending);
  out->set_delivered(s.counts.delivered);
  out->set_dead(s.counts.dead);
  out->set_cancelled(s.counts.cancelled);
  if (s.counts.oldest_pending_created_ms >= 0) {
    *out->mutable_oldest_pending_age() = TimeUtil::MillisecondsToDuration(
        std::max<int64_t>(0, now_ms - s.counts.oldest_pending_created_ms));
  }
  out->set_deliveries_per_second(s.deliveries_per_second);
  for (const outbox::DestinationStatus& d : s.destinations) {
    v1::DestinationStatus* o = out->add_destinations();
    o->set_name(d.name);
    o->set_kind(d.kind);
    o->set_last_error(d.last_error);
    if (d.last_error_ms >= 0) {
      *o->mutable_last_error_at() = TimeUtil::MillisecondsToTimestamp(d.last_error_ms);
    }
    o->set_delivered(d.delivered);
  }
}

}  // namespace tomstream::control
