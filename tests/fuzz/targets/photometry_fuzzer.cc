// Fuzz target: ValidatePhotometryMessage() and RenderHermesJson() on a PhotometryMessage built
// from the input, a text of lines (hand-written seeds stay readable, and so do reproducers):
//   [target]          starts a new target; later lines set its fields
//   [photometry]      starts a new photometry row
//   key=value         sets a field of the message (before any section) or of the current
//                     target or row; the value is the rest of the line, any bytes but '\n'
// Number fields take the value as strtod() reads it when it reads all of it ("nan", "inf" and
// "1e999" included), else stay unset; list fields (aliases, group_associations) append;
// new_discovery is set by "true". Unknown keys and other lines are ignored.
//
// Invariants:
//   - validation is deterministic and every error names a field path and says what is wrong;
//   - for a message that passes validation (RenderHermesJson's precondition):
//     - the body is valid JSON (nlohmann::json parses it strictly);
//     - rendering is deterministic, also when the embedded JSON objects are re-spaced and their
//       keys reordered (photometry.h: the outbox's content hash relies on it);
//     - the daemon's own "hermes" handler accepts the body, as Hermes puts it on Kafka, and
//       reads back the same targets and photometry rows (the outbox's Kafka sink publishes
//       exactly this body, and a hermes route reading that topic must not quarantine it).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/astro.h"
#include "handlers/handler.h"
#include "outbox/photometry.h"
#include "require.h"

namespace tomstream::fuzz {
namespace {

using outbox::Photometry;
using outbox::PhotometryMessage;
using outbox::Target;

std::optional<double> Number(std::string_view value) {
  const std::string s(value);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return d;
}

bool SetMessageField(PhotometryMessage& m, std::string_view key, std::string_view value) {
  std::string* text = nullptr;
  if (key == "destination") text = &m.destination;
  else if (key == "topic") text = &m.topic;
  else if (key == "title") text = &m.title;
  else if (key == "submitter") text = &m.submitter;
  else if (key == "authors") text = &m.authors;
  else if (key == "message_text") text = &m.message_text;
  else if (key == "extra_data_json") text = &m.extra_data_json;
  else if (key == "idempotency_key") text = &m.idempotency_key;
  if (text == nullptr) return false;
  text->assign(value);
  return true;
}

void SetTargetField(Target& t, std::string_view key, std::string_view value) {
  std::string* text = nullptr;
  std::optional<double>* number = nullptr;
  if (key == "name") text = &t.name;
  else if (key == "ra") text = &t.ra;
  else if (key == "dec") text = &t.dec;
  else if (key == "ra_error") number = &t.ra_error;
  else if (key == "dec_error") number = &t.dec_error;
  else if (key == "ra_error_units") text = &t.ra_error_units;
  else if (key == "dec_error_units") text = &t.dec_error_units;
  else if (key == "pm_ra") number = &t.pm_ra;
  else if (key == "pm_dec") number = &t.pm_dec;
  else if (key == "epoch") text = &t.epoch;
  else if (key == "redshift") number = &t.redshift;
  else if (key == "distance") number = &t.distance;
  else if (key == "distance_units") text = &t.distance_units;
  else if (key == "host_name") text = &t.host_name;
  else if (key == "host_redshift") number = &t.host_redshift;
  else if (key == "comments") text = &t.comments;
  else if (key == "orbital_elements_json") text = &t.orbital_elements_json;
  else if (key == "discovery_info_json") text = &t.discovery_info_json;
  else if (key == "aliases") t.aliases.emplace_back(value);
  else if (key == "group_associations") t.group_associations.emplace_back(value);
  else if (key == "new_discovery") t.new_discovery = value == "true";
  if (text != nullptr) text->assign(value);
  if (number != nullptr) *number = Number(value);
}

void SetPhotometryField(Photometry& p, std::string_view key, std::string_view value) {
  std::string* text = nullptr;
  std::optional<double>* number = nullptr;
  if (key == "target_name") text = &p.target_name;
  else if (key == "date_obs_iso") text = &p.date_obs_iso;
  else if (key == "date_obs_jd") number = &p.date_obs_jd;
  else if (key == "date_obs_mjd") number = &p.date_obs_mjd;
  else if (key == "telescope") text = &p.telescope;
  else if (key == "instrument") text = &p.instrument;
  else if (key == "bandpass") text = &p.bandpass;
  else if (key == "brightness") number = &p.brightness;
  else if (key == "brightness_error") number = &p.brightness_error;
  else if (key == "brightness_unit") text = &p.brightness_unit;
  else if (key == "limiting_brightness") number = &p.limiting_brightness;
  else if (key == "limiting_brightness_error") number = &p.limiting_brightness_error;
  else if (key == "limiting_brightness_unit") text = &p.limiting_brightness_unit;
  else if (key == "exposure_time") number = &p.exposure_time;
  else if (key == "observer") text = &p.observer;
  else if (key == "comments") text = &p.comments;
  else if (key == "catalog") text = &p.catalog;
  if (text != nullptr) text->assign(value);
  if (number != nullptr) *number = Number(value);
}

PhotometryMessage ReadMessage(std::string_view input) {
  PhotometryMessage m;
  enum class Section { kMessage, kTarget, kPhotometry } section = Section::kMessage;
  while (!input.empty()) {
    const size_t nl = input.find('\n');
    const std::string_view line = input.substr(0, nl);
    input.remove_prefix(nl == std::string_view::npos ? input.size() : nl + 1);
    if (line == "[target]") {
      section = Section::kTarget;
      m.targets.emplace_back();
      continue;
    }
    if (line == "[photometry]") {
      section = Section::kPhotometry;
      m.photometry.emplace_back();
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, eq);
    const std::string_view value = line.substr(eq + 1);
    switch (section) {
      case Section::kMessage: (void)SetMessageField(m, key, value); break;
      case Section::kTarget: SetTargetField(m.targets.back(), key, value); break;
      case Section::kPhotometry: SetPhotometryField(m.photometry.back(), key, value); break;
    }
  }
  return m;
}

std::string DescribeErrors(const std::vector<outbox::FieldError>& errors) {
  std::string s;
  for (const auto& e : errors) {
    s += e.path;
    s += ": ";
    s += e.message;
    s += '\n';
  }
  return s;
}

// Re-spaces an embedded JSON object and reverses its key order (at every level); blank or
// non-object text is left alone.
void Reformat(std::string& text) {
  auto parsed = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return;
  const auto reverse = [](const auto& self, const nlohmann::ordered_json& j)
      -> nlohmann::ordered_json {
    if (j.is_object()) {
      nlohmann::ordered_json out = nlohmann::ordered_json::object();
      std::vector<std::pair<std::string, nlohmann::ordered_json>> items;
      for (const auto& [k, v] : j.items()) items.emplace_back(k, self(self, v));
      for (auto it = items.rbegin(); it != items.rend(); ++it) out[it->first] = it->second;
      return out;
    }
    if (j.is_array()) {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const auto& v : j) out.push_back(self(self, v));
      return out;
    }
    return j;
  };
  text = reverse(reverse, parsed).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool SameNumber(const std::optional<double>& a, const std::optional<double>& b) {
  return a.has_value() == b.has_value() && (!a || *a == *b);
}

// The rendered body read back by the daemon's hermes handler, as a hermes route would read it
// from the topic the outbox's Kafka sink wrote it to.
void CheckReadBack(const PhotometryMessage& m, const std::string& body) {
  static const auto handler = handlers::MakeHandler("hermes");
  const handlers::Header format{"_format", "json", false};
  handlers::Message message;
  message.topic = m.topic;
  message.payload = body;
  message.headers = std::span<const handlers::Header>(&format, 1);
  const handlers::HopInfo hop = handlers::ReadHop(message);
  handlers::ParsedAlert alert;
  const Status st = handler->Parse(message, hop, alert);
  Require(st.ok(), "the hermes handler accepts a body the outbox validated",
          st.message() + "\n  body: " + body);
  const handlers::HermesRecord& rec = *alert.hermes;
  Require(rec.title == m.title && rec.topic == m.topic && rec.submitter == m.submitter,
          "title, topic and submitter read back", body);
  Require(rec.targets.size() == m.targets.size(), "every target reads back", body);
  for (size_t i = 0; i < m.targets.size(); ++i) {
    const Target& t = m.targets[i];
    const handlers::HermesTarget& r = rec.targets[i];
    Require(r.name == t.name, "target name reads back", body);
    Require(SameNumber(r.ra_deg, astro::ParseRaDeg(t.ra)) &&
                SameNumber(r.dec_deg, astro::ParseDecDeg(t.dec)),
            "target position reads back", body);
  }
  Require(rec.photometry.size() == m.photometry.size(), "every row reads back", body);
  for (size_t i = 0; i < m.photometry.size(); ++i) {
    const Photometry& p = m.photometry[i];
    const handlers::HermesPhotometry& r = rec.photometry[i];
    Require(r.target_name == p.target_name && r.bandpass == p.bandpass,
            "row target and bandpass read back", body);
    double jd = 0;
    if (p.date_obs_jd) {
      jd = *p.date_obs_jd;
    } else if (p.date_obs_mjd) {
      jd = *p.date_obs_mjd + astro::kMjdOffset;
    } else if (const auto number = astro::ParseFiniteDouble(p.date_obs_iso)) {
      jd = *astro::DateObsToJd(*number);
    } else {
      jd = astro::UnixMsToJd(*astro::ParseDateTimeMs(p.date_obs_iso));
    }
    Require(r.date_obs_jd == jd, "date_obs reads back as the same instant", body);
    Require(SameNumber(r.brightness, p.brightness) &&
                SameNumber(r.limiting_brightness, p.limiting_brightness),
            "brightness and limiting_brightness read back", body);
  }
}

}  // namespace
}  // namespace tomstream::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomstream;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  outbox::PhotometryMessage m = fuzz::ReadMessage(input);

  const auto errors = outbox::ValidatePhotometryMessage(m);
  fuzz::Require(errors == outbox::ValidatePhotometryMessage(m), "validation is deterministic");
  for (const auto& e : errors) {
    fuzz::Require(!e.path.empty() && !e.message.empty(), "an error has a path and a message",
                  fuzz::DescribeErrors(errors));
  }
  if (!errors.empty()) return 0;

  const std::string body = outbox::RenderHermesJson(m);
  const auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  fuzz::Require(!parsed.is_discarded() && parsed.is_object(), "the body is a JSON object", body);
  fuzz::Require(body == outbox::RenderHermesJson(m), "rendering is deterministic", body);

  outbox::PhotometryMessage reformatted = m;
  fuzz::Reformat(reformatted.extra_data_json);
  for (auto& t : reformatted.targets) {
    fuzz::Reformat(t.orbital_elements_json);
    fuzz::Reformat(t.discovery_info_json);
  }
  fuzz::Require(outbox::ValidatePhotometryMessage(reformatted).empty(),
                "re-spacing embedded JSON keeps a message valid", body);
  fuzz::Require(body == outbox::RenderHermesJson(reformatted),
                "the body does not depend on embedded JSON's key order or spacing",
                body + "\n  vs\n  " + outbox::RenderHermesJson(reformatted));

  fuzz::CheckReadBack(m, body);
  return 0;
}
