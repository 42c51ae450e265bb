// A photometry message to share, as a client enqueues it (control.proto PhotometryMessage),
// and the Hermes rules it must pass before it is stored in the outbox.
//
// The validation mirrors the Hermes serializers (../shared/REFERENCE.md section 1) so that a
// message the outbox accepts is one Hermes accepts too; every error names its field by path,
// e.g. "photometry[3].bandpass".
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tomstream::outbox {

struct Target {
  std::string name;
  std::string ra;   // decimal degrees or sexagesimal (hours); as given
  std::string dec;  // decimal degrees or sexagesimal; as given
  std::optional<double> ra_error;
  std::optional<double> dec_error;
  std::string ra_error_units;   // degrees, mas, arcsec, arcmin
  std::string dec_error_units;
  std::optional<double> pm_ra;
  std::optional<double> pm_dec;
  std::string epoch;
  std::vector<std::string> aliases;
  std::optional<double> redshift;
  std::optional<double> distance;
  std::string distance_units;
  std::string host_name;
  std::optional<double> host_redshift;
  bool new_discovery = false;
  std::string comments;
  std::vector<std::string> group_associations;
  std::string orbital_elements_json;  // a JSON object, or empty
  std::string discovery_info_json;    // a JSON object, or empty
};

struct Photometry {
  std::string target_name;
  // date_obs: exactly one of these is set.
  std::string date_obs_iso;           // ISO 8601 date-time
  std::optional<double> date_obs_jd;  // Julian date
  std::optional<double> date_obs_mjd; // modified Julian date
  std::string telescope;
  std::string instrument;
  std::string bandpass;
  std::optional<double> brightness;
  std::optional<double> brightness_error;
  std::string brightness_unit;  // empty means "AB mag"
  std::optional<double> limiting_brightness;
  std::optional<double> limiting_brightness_error;
  std::string limiting_brightness_unit;  // empty means "AB mag"
  std::optional<double> exposure_time;
  std::string observer;
  std::string comments;
  std::string catalog;
};

struct PhotometryMessage {
  std::string destination;
  std::string topic;
  std::string title;
  std::string submitter;
  std::string authors;
  std::string message_text;
  std::vector<Target> targets;
  std::vector<Photometry> photometry;
  std::string extra_data_json;  // other keys of Hermes's "data" object (a JSON object), or empty
  std::string idempotency_key;
};

struct FieldError {
  std::string path;     // "title", "targets[0].ra", "photometry[3].bandpass", ...
  std::string message;  // what is wrong, e.g. "is required"

  bool operator==(const FieldError&) const = default;
};

// Every way `m` breaks the Hermes rules (empty when it passes). Checks the message itself only:
// whether its destination exists and allows its topic is the outbox's business.
std::vector<FieldError> ValidatePhotometryMessage(const PhotometryMessage& m);

// The Hermes submit body for `m` (REFERENCE.md section 1, "Message body"): title, topic,
// submitter, authors, message_text and data {targets, photometry, extra keys}, with empty and
// unset fields left out and units defaulted to "AB mag". Deterministic: equal messages give
// byte-equal bodies (the outbox's content hash relies on it). REQUIRES: `m` passed validation.
std::string RenderHermesJson(const PhotometryMessage& m);

}  // namespace tomstream::outbox
