// Validation of a photometry message against the hermes serializers (REFERENCE.md section 1),
// collecting every error with its field path, and the Hermes submit body for a valid message.
//
// Beyond REFERENCE.md, three rules come from the hermes source (hermes/serializers.py): `epoch` is
// a date like date_obs, `distance_units` is a choice, and list items (aliases,
// group_associations) must not be blank. Text must be UTF-8, since the body is JSON.
#include "outbox/photometry.h"

#include <array>
#include <cmath>
#include <cstddef>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/astro.h"
#include "common/text.h"

namespace tomstream::outbox {
namespace {

// The body keeps a fixed field order; embedded JSON objects (orbital elements, discovery info,
// extra data keys) are parsed into a sorted-key json first, so the same content renders to the
// same bytes whatever its key order or spacing in the request.
using Json = nlohmann::ordered_json;
using SortedJson = nlohmann::json;

constexpr std::string_view kDefaultUnit = "AB mag";
// REFERENCE.md writes this unit with U+00C5 (A with ring above). The hermes serializer's
// ChoiceField lists it with U+212B (ANGSTROM SIGN) and compares bytes exactly, so the U+00C5
// spelling would be refused by Hermes. Both are accepted here; the body carries Hermes's.
constexpr std::string_view kFluxUnitReference = "erg / s / cm\xC2\xB2 / \xC3\x85";
constexpr std::string_view kFluxUnitHermes = "erg / s / cm\xC2\xB2 / \xE2\x84\xAB";

constexpr std::array<std::string_view, 5> kBrightnessUnits = {
    "AB mag", "Vega mag", "mJy", kFluxUnitReference, kFluxUnitHermes};
constexpr std::string_view kBrightnessUnitsText =
    "must be one of: AB mag, Vega mag, mJy, erg / s / cm\xC2\xB2 / \xC3\x85";
constexpr std::array<std::string_view, 4> kAngleErrorUnits = {"degrees", "mas", "arcsec",
                                                               "arcmin"};
constexpr std::string_view kAngleErrorUnitsText = "must be one of: degrees, mas, arcsec, arcmin";
constexpr std::array<std::string_view, 9> kDistanceUnits = {"cm",  "m",   "km", "pc", "kpc",
                                                             "Mpc", "Gpc", "ly", "au"};
constexpr std::string_view kDistanceUnitsText =
    "must be one of: cm, m, km, pc, kpc, Mpc, Gpc, ly, au";

// data keys that the structured fields produce; extra_data_json must not carry them.
constexpr std::array<std::string_view, 2> kStructuredDataKeys = {"targets", "photometry"};

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Hermes (Django REST framework) trims strings and drops empty ones, so a blank field is unset.
bool IsBlank(std::string_view s) { return Trim(s).empty(); }

bool IsOneOf(std::string_view value, std::span<const std::string_view> allowed) {
  for (const std::string_view a : allowed) {
    if (value == a) return true;
  }
  return false;
}

// A JSON object from `text`, or nullopt (not JSON, or JSON but not an object). Never throws.
std::optional<SortedJson> ParseObject(std::string_view text) {
  SortedJson parsed = SortedJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  return parsed;
}

// A date as Hermes's validate_date reads it: a number is a JD in (2400000, 2600000) or an MJD in
// (1000, 150000); anything else must parse as a date-time.
bool IsHermesDate(std::string_view text) {
  if (const auto number = astro::ParseFiniteDouble(text)) {
    return astro::DateObsToJd(*number).has_value();
  }
  return astro::ParseDateTimeMs(text).has_value();
}

// "targets[2]" / "targets[2].name".
std::string ItemPath(std::string_view array, size_t index, std::string_view field = {}) {
  std::string p(array);
  p += '[';
  p += std::to_string(index);
  p += ']';
  if (!field.empty()) {
    p += '.';
    p += field;
  }
  return p;
}

// Collects every error, in field order.
class Checker {
 public:
  std::vector<FieldError> Take() { return std::move(errors_); }

  void Fail(std::string path, std::string message) {
    errors_.push_back(FieldError{std::move(path), std::move(message)});
  }

  // Free text that may be empty.
  void Text(std::string path, std::string_view value) {
    if (!IsValidUtf8(value)) Fail(std::move(path), "is not valid UTF-8");
  }

  // Text that must not be blank. Returns whether it is usable.
  bool Required(std::string path, std::string_view value,
                std::string_view message = "is required") {
    if (IsBlank(value)) {
      Fail(std::move(path), std::string(message));
      return false;
    }
    if (!IsValidUtf8(value)) {
      Fail(std::move(path), "is not valid UTF-8");
      return false;
    }
    return true;
  }

  void Finite(std::string path, const std::optional<double>& value) {
    if (value && !std::isfinite(*value)) Fail(std::move(path), "is not a finite number");
  }

  // An empty value means unset (or the default); anything else must match a choice exactly.
  void Choice(std::string path, std::string_view value,
              std::span<const std::string_view> allowed, std::string_view message) {
    if (!value.empty() && !IsOneOf(value, allowed)) Fail(std::move(path), std::string(message));
  }

  // Blank means unset. Returns the object when it is one.
  std::optional<SortedJson> Object(std::string path, std::string_view text) {
    if (IsBlank(text)) return std::nullopt;
    auto parsed = SortedJson::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
      Fail(std::move(path), "is not valid JSON");
      return std::nullopt;
    }
    if (!parsed.is_object()) {
      Fail(std::move(path), "must be a JSON object");
      return std::nullopt;
    }
    return parsed;
  }

 private:
  std::vector<FieldError> errors_;
};

void CheckStringList(Checker& c, size_t index, std::string_view field,
                     const std::vector<std::string>& values) {
  for (size_t k = 0; k < values.size(); ++k) {
    c.Required(ItemPath("targets", index, field) + ItemPath("", k), values[k],
               "must not be empty");
  }
}

// `names` maps each trimmed target name to its first index.
void CheckTarget(Checker& c, const Target& t, size_t i,
                 std::unordered_map<std::string_view, size_t>& names) {
  const auto path = [i](std::string_view field) { return ItemPath("targets", i, field); };
  if (c.Required(path("name"), t.name)) {
    const auto [first, inserted] = names.emplace(Trim(t.name), i);
    if (!inserted) {
      c.Fail(path("name"), "is not unique: " + ItemPath("targets", first->second) + " has it too");
    }
  }

  const bool has_ra = !IsBlank(t.ra);
  const bool has_dec = !IsBlank(t.dec);
  if (has_ra && !astro::ParseRaDeg(t.ra)) {
    c.Fail(path("ra"), "is not a right ascension (decimal degrees 0..360 or sexagesimal hours)");
  }
  if (has_dec && !astro::ParseDecDeg(t.dec)) {
    c.Fail(path("dec"), "is not a declination (decimal degrees -90..90 or sexagesimal degrees)");
  }
  (void)c.Object(path("orbital_elements_json"), t.orbital_elements_json);
  // As in hermes: one coordinate without the other is an error even with orbital elements.
  if (has_ra && !has_dec) {
    c.Fail(path("dec"), "is required when ra is set");
  } else if (has_dec && !has_ra) {
    c.Fail(path("ra"), "is required when dec is set");
  } else if (!has_ra && !has_dec && IsBlank(t.orbital_elements_json)) {
    c.Fail(path("ra"), "ra and dec, or orbital_elements_json, are required");
  }

  c.Finite(path("ra_error"), t.ra_error);
  c.Finite(path("dec_error"), t.dec_error);
  c.Choice(path("ra_error_units"), t.ra_error_units, kAngleErrorUnits, kAngleErrorUnitsText);
  c.Choice(path("dec_error_units"), t.dec_error_units, kAngleErrorUnits, kAngleErrorUnitsText);
  c.Finite(path("pm_ra"), t.pm_ra);
  c.Finite(path("pm_dec"), t.pm_dec);
  if (!IsBlank(t.epoch) && !IsHermesDate(t.epoch)) {
    c.Fail(path("epoch"), "is not a date-time, JD or MJD");
  }
  CheckStringList(c, i, "aliases", t.aliases);
  c.Finite(path("redshift"), t.redshift);
  c.Finite(path("distance"), t.distance);
  c.Choice(path("distance_units"), t.distance_units, kDistanceUnits, kDistanceUnitsText);
  c.Text(path("host_name"), t.host_name);
  c.Finite(path("host_redshift"), t.host_redshift);
  c.Text(path("comments"), t.comments);
  CheckStringList(c, i, "group_associations", t.group_associations);
  (void)c.Object(path("discovery_info_json"), t.discovery_info_json);
}

void CheckDateObs(Checker& c, const Photometry& p, std::string path) {
  const bool has_iso = !IsBlank(p.date_obs_iso);
  const int given = (has_iso ? 1 : 0) + (p.date_obs_jd ? 1 : 0) + (p.date_obs_mjd ? 1 : 0);
  if (given == 0) {
    c.Fail(std::move(path), "is required");
  } else if (given > 1) {
    c.Fail(std::move(path), "must be only one of date_obs_iso, date_obs_jd, date_obs_mjd");
  } else if (has_iso) {
    if (!IsHermesDate(p.date_obs_iso)) c.Fail(std::move(path), "is not a date-time, JD or MJD");
  } else {
    const bool is_jd = p.date_obs_jd.has_value();
    const double value = is_jd ? *p.date_obs_jd : *p.date_obs_mjd;
    if (!std::isfinite(value)) {
      c.Fail(std::move(path), "is not a finite number");
    } else if (is_jd && !(value > astro::kHermesJdMin && value < astro::kHermesJdMax)) {
      c.Fail(std::move(path), "is not a JD in (2400000, 2600000)");
    } else if (!is_jd && !(value > astro::kHermesMjdMin && value < astro::kHermesMjdMax)) {
      c.Fail(std::move(path), "is not an MJD in (1000, 150000)");
    }
  }
}

// Hermes's test is Python truthiness: unset and 0.0 do not count (NaN would, and is refused as
// not finite instead).
bool IsSetNonZero(const std::optional<double>& v) { return v && *v != 0.0; }

void CheckPhotometry(Checker& c, const Photometry& p, size_t i,
                     const std::unordered_map<std::string_view, size_t>& target_names) {
  const auto path = [i](std::string_view field) { return ItemPath("photometry", i, field); };
  if (c.Required(path("target_name"), p.target_name) &&
      !target_names.contains(Trim(p.target_name))) {
    c.Fail(path("target_name"), "names no target of this message");
  }
  CheckDateObs(c, p, path("date_obs"));
  if (IsBlank(p.telescope) && IsBlank(p.instrument)) {
    c.Fail(path("telescope"), "telescope or instrument is required");
  }
  c.Text(path("telescope"), p.telescope);
  c.Text(path("instrument"), p.instrument);
  c.Required(path("bandpass"), p.bandpass);

  c.Finite(path("brightness"), p.brightness);
  c.Finite(path("brightness_error"), p.brightness_error);
  c.Choice(path("brightness_unit"), p.brightness_unit, kBrightnessUnits, kBrightnessUnitsText);
  c.Finite(path("limiting_brightness"), p.limiting_brightness);
  c.Finite(path("limiting_brightness_error"), p.limiting_brightness_error);
  c.Choice(path("limiting_brightness_unit"), p.limiting_brightness_unit, kBrightnessUnits,
           kBrightnessUnitsText);
  if (!IsSetNonZero(p.brightness) && !IsSetNonZero(p.limiting_brightness)) {
    c.Fail(path("brightness"), "brightness or limiting_brightness is required and must not be 0");
  }
  c.Finite(path("exposure_time"), p.exposure_time);
  c.Text(path("observer"), p.observer);
  c.Text(path("comments"), p.comments);
  c.Text(path("catalog"), p.catalog);
}

// ---- Rendering ----

void PutText(Json& j, const char* key, const std::string& value) {
  if (!IsBlank(value)) j[key] = value;
}

void PutNumber(Json& j, const char* key, const std::optional<double>& value) {
  if (value && std::isfinite(*value)) j[key] = *value;
}

void PutList(Json& j, const char* key, const std::vector<std::string>& values) {
  Json list = Json::array();
  for (const auto& v : values) {
    if (!IsBlank(v)) list.push_back(v);
  }
  if (!list.empty()) j[key] = std::move(list);
}

void PutObject(Json& j, const char* key, const std::string& text) {
  if (auto parsed = ParseObject(text)) j[key] = Json(*parsed);
}

std::string HermesUnit(const std::string& unit) {
  if (unit.empty()) return std::string(kDefaultUnit);
  if (unit == kFluxUnitReference) return std::string(kFluxUnitHermes);
  return unit;
}

Json RenderTarget(const Target& t) {
  Json j = Json::object();
  PutText(j, "name", t.name);
  PutText(j, "ra", t.ra);
  PutText(j, "dec", t.dec);
  PutNumber(j, "ra_error", t.ra_error);
  PutNumber(j, "dec_error", t.dec_error);
  PutText(j, "ra_error_units", t.ra_error_units);
  PutText(j, "dec_error_units", t.dec_error_units);
  PutNumber(j, "pm_ra", t.pm_ra);
  PutNumber(j, "pm_dec", t.pm_dec);
  PutText(j, "epoch", t.epoch);
  PutList(j, "aliases", t.aliases);
  PutNumber(j, "redshift", t.redshift);
  PutNumber(j, "distance", t.distance);
  PutText(j, "distance_units", t.distance_units);
  PutText(j, "host_name", t.host_name);
  PutNumber(j, "host_redshift", t.host_redshift);
  if (t.new_discovery) j["new_discovery"] = true;
  PutText(j, "comments", t.comments);
  PutList(j, "group_associations", t.group_associations);
  PutObject(j, "orbital_elements", t.orbital_elements_json);
  PutObject(j, "discovery_info", t.discovery_info_json);
  return j;
}

Json RenderPhotometry(const Photometry& p) {
  Json j = Json::object();
  PutText(j, "target_name", p.target_name);
  if (!IsBlank(p.date_obs_iso)) {
    j["date_obs"] = p.date_obs_iso;
  } else {
    PutNumber(j, "date_obs", p.date_obs_jd ? p.date_obs_jd : p.date_obs_mjd);
  }
  PutText(j, "telescope", p.telescope);
  PutText(j, "instrument", p.instrument);
  PutText(j, "bandpass", p.bandpass);
  if (p.brightness) {
    PutNumber(j, "brightness", p.brightness);
    PutNumber(j, "brightness_error", p.brightness_error);
    j["brightness_unit"] = HermesUnit(p.brightness_unit);
  } else {
    PutNumber(j, "brightness_error", p.brightness_error);
  }
  if (p.limiting_brightness) {
    PutNumber(j, "limiting_brightness", p.limiting_brightness);
    PutNumber(j, "limiting_brightness_error", p.limiting_brightness_error);
    j["limiting_brightness_unit"] = HermesUnit(p.limiting_brightness_unit);
  } else {
    PutNumber(j, "limiting_brightness_error", p.limiting_brightness_error);
  }
  PutNumber(j, "exposure_time", p.exposure_time);
  PutText(j, "observer", p.observer);
  PutText(j, "comments", p.comments);
  PutText(j, "catalog", p.catalog);
  return j;
}

}  // namespace

std::vector<FieldError> ValidatePhotometryMessage(const PhotometryMessage& m) {
  Checker c;
  c.Required("title", m.title);
  c.Required("topic", m.topic);
  c.Required("submitter", m.submitter);
  c.Text("authors", m.authors);
  c.Text("message_text", m.message_text);

  std::unordered_map<std::string_view, size_t> target_names;
  for (size_t i = 0; i < m.targets.size(); ++i) CheckTarget(c, m.targets[i], i, target_names);
  for (size_t i = 0; i < m.photometry.size(); ++i) {
    CheckPhotometry(c, m.photometry[i], i, target_names);
  }

  if (const auto extra = c.Object("extra_data_json", m.extra_data_json)) {
    for (const std::string_view key : kStructuredDataKeys) {
      if (extra->contains(key)) {
        c.Fail("extra_data_json",
               "must not contain \"" + std::string(key) + "\": it comes from the " +
                   std::string(key) + " field");
      }
    }
    // Hermes reads data.event_id as a CharField (a string or a number, not blank), and so does
    // the daemon's own hermes handler when the message comes back from Kafka.
    if (const auto it = extra->find("event_id"); it != extra->end() && !it->is_null()) {
      if (!it->is_string() && !it->is_number()) {
        c.Fail("extra_data_json", "event_id must be a string or a number");
      } else if (it->is_string() && IsBlank(it->get_ref<const std::string&>())) {
        c.Fail("extra_data_json", "event_id must not be blank");
      }
    }
  }
  return c.Take();
}

std::string RenderHermesJson(const PhotometryMessage& m) {
  Json body = Json::object();
  body["title"] = m.title;
  body["topic"] = m.topic;
  body["submitter"] = m.submitter;
  body["authors"] = m.authors;
  body["message_text"] = m.message_text;

  Json data = Json::object();
  Json& targets = data["targets"] = Json::array();
  for (const Target& t : m.targets) targets.push_back(RenderTarget(t));
  Json& photometry = data["photometry"] = Json::array();
  for (const Photometry& p : m.photometry) photometry.push_back(RenderPhotometry(p));
  if (const auto extra = ParseObject(m.extra_data_json)) {
    for (const auto& [key, value] : extra->items()) {
      if (!IsOneOf(key, kStructuredDataKeys)) data[key] = Json(value);
    }
  }
  body["data"] = std::move(data);
  // replace: a string that is not UTF-8 (validation refuses those) must not make dump() throw.
  return body.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

}  // namespace tomstream::outbox
