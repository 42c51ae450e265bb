// Hermes photometry messages: every validation rule of shared/REFERENCE.md section 1, refused and
// accepted, and the submit body, against the Hermes example in shared/fixtures/hermes.
#include "outbox/photometry.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tomstream::outbox {

// Readable failures: "targets[0].ra: is required" instead of bytes.
void PrintTo(const FieldError& e, std::ostream* os) { *os << e.path << ": " << e.message; }

namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Json = nlohmann::json;  // compares objects regardless of key order

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The flux-density unit as REFERENCE.md spells it (U+00C5) and as the hermes serializer does
// (U+212B ANGSTROM SIGN).
const std::string kFluxUnitReference = "erg / s / cm\xC2\xB2 / \xC3\x85";
const std::string kFluxUnitHermes = "erg / s / cm\xC2\xB2 / \xE2\x84\xAB";
const std::string kUnitsMessage =
    "must be one of: AB mag, Vega mag, mJy, erg / s / cm\xC2\xB2 / \xC3\x85";

const fs::path kFixtures = TOMSTREAM_FIXTURES_DIR;

// Reads a fixture; a missing file is a test failure (never a skip).
std::string Fixture(const std::string& relative) {
  const fs::path path = kFixtures / relative;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "fixture missing: " << path
                  << " (shared/fixtures must sit beside the repository checkout)";
    return {};
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A message that passes every rule and uses every field somewhere:
//   targets[0] SN 2026abc  decimal ra/dec, aliases          photometry[0] (ISO), [1] (JD)
//   targets[1] 2026 AB1    orbital elements only            photometry[2] (MJD, instrument only)
//   targets[2] AT 2026xyz  sexagesimal ra/dec, every option  no photometry
PhotometryMessage ValidMessage() {
  PhotometryMessage m;
  m.destination = "hermes";
  m.topic = "hermes.test";
  m.title = "Updated data for SN 2026abc from MyTOM.";
  m.submitter = "MyTOM";
  m.authors = "A. Observer, B. Reducer";
  m.message_text = "Two new epochs.";

  Target& sn = m.targets.emplace_back();
  sn.name = "SN 2026abc";
  sn.ra = "150.1234";
  sn.dec = "-20.5678";
  sn.aliases = {"ZTF26aaaaaaa"};

  Target& asteroid = m.targets.emplace_back();
  asteroid.name = "2026 AB1";
  asteroid.orbital_elements_json =
      R"({"epoch_of_elements": "2026-05-01", "orbital_inclination": 10.5,
          "longitude_of_the_ascending_node": 80.25, "argument_of_the_perihelion": 70.0,
          "eccentricity": 0.1, "semimajor_axis": 2.7, "mean_anomaly": 12.0})";

  Target& at = m.targets.emplace_back();
  at.name = "AT 2026xyz";
  at.ra = "10:00:30.5";
  at.dec = "-05:30:00";
  at.ra_error = 0.5;
  at.dec_error = 0.4;
  at.ra_error_units = "arcsec";
  at.dec_error_units = "arcsec";
  at.pm_ra = 1.25;
  at.pm_dec = -0.75;
  at.epoch = "2000.0";
  at.redshift = 0.031;
  at.distance = 135.0;
  at.distance_units = "Mpc";
  at.host_name = "NGC 3109";
  at.host_redshift = 0.0314;
  at.new_discovery = true;
  at.comments = "Found in difference imaging.";
  at.group_associations = {"MyTOM group"};
  at.discovery_info_json = R"({"reporting_group": "MyTOM", "discovery_source": "ZTF"})";

  Photometry& p0 = m.photometry.emplace_back();
  p0.target_name = "SN 2026abc";
  p0.date_obs_iso = "2026-05-01T03:04:05+00:00";
  p0.telescope = "1m0a.doma.elp.lco";
  p0.instrument = "fa16";
  p0.bandpass = "g";
  p0.brightness = 18.52;
  p0.brightness_error = 0.05;
  p0.brightness_unit = "AB mag";
  p0.exposure_time = 300.0;
  p0.observer = "A. Observer";
  p0.comments = "Clear night.";
  p0.catalog = "PS1";

  Photometry& p1 = m.photometry.emplace_back();
  p1.target_name = "SN 2026abc";
  p1.date_obs_jd = 2461161.5;
  p1.telescope = "1m0a.doma.elp.lco";
  p1.bandpass = "r";
  p1.limiting_brightness = 20.2;
  p1.limiting_brightness_error = 0.1;
  p1.limiting_brightness_unit = "AB mag";

  Photometry& p2 = m.photometry.emplace_back();
  p2.target_name = "2026 AB1";
  p2.date_obs_mjd = 61161.0;
  p2.instrument = "fa16";
  p2.bandpass = "V";
  p2.brightness = 17.1;
  p2.brightness_unit = "Vega mag";

  m.extra_data_json = R"({"event_id": "S260501a"})";
  m.idempotency_key = "key-1";
  return m;
}

// The message REFERENCE.md shows, as shared/fixtures/hermes/photometry_example.json has it.
PhotometryMessage FixtureMessage() {
  PhotometryMessage m;
  m.destination = "hermes";
  m.title = "Updated data for SN 2026abc from MyTOM.";
  m.topic = "hermes.test";
  m.submitter = "MyTOM";
  m.authors = "A. Observer, B. Reducer";
  m.message_text = "Two new epochs from the 1m network.";
  Target& t = m.targets.emplace_back();
  t.name = "SN 2026abc";
  t.ra = "150.1234";
  t.dec = "-20.5678";
  t.aliases = {"ZTF26aaaaaaa"};
  Photometry& p0 = m.photometry.emplace_back();
  p0.target_name = "SN 2026abc";
  p0.date_obs_iso = "2026-05-01T03:04:05+00:00";
  p0.telescope = "1m0a.doma.elp.lco";
  p0.instrument = "fa16";
  p0.bandpass = "g";
  p0.brightness = 18.52;
  p0.brightness_error = 0.05;
  p0.brightness_unit = "AB mag";
  Photometry& p1 = m.photometry.emplace_back();
  p1.target_name = "SN 2026abc";
  p1.date_obs_jd = 2461161.5;
  p1.telescope = "1m0a.doma.elp.lco";
  p1.bandpass = "r";
  p1.limiting_brightness = 20.2;
  // limiting_brightness_unit left empty: the default "AB mag" must appear in the body.
  return m;
}

std::vector<FieldError> Validate(const PhotometryMessage& m) {
  return ValidatePhotometryMessage(m);
}

// The message after `change`, which must have exactly `expected` as its only error.
void ExpectOnly(const std::function<void(PhotometryMessage&)>& change, const FieldError& expected) {
  PhotometryMessage m = ValidMessage();
  change(m);
  EXPECT_THAT(Validate(m), ElementsAre(expected));
}

// The message after `change` passes.
void ExpectValid(const std::function<void(PhotometryMessage&)>& change) {
  PhotometryMessage m = ValidMessage();
  change(m);
  EXPECT_THAT(Validate(m), IsEmpty());
}

Json Render(const PhotometryMessage& m) { return Json::parse(RenderHermesJson(m)); }

// ---------------------------------------------------------------------------------------------
// Validation

TEST(PhotometryValidateTest, ValidMessagePasses) {
  EXPECT_THAT(Validate(ValidMessage()), IsEmpty());
}

TEST(PhotometryValidateTest, FixtureMessagePasses) {
  EXPECT_THAT(Validate(FixtureMessage()), IsEmpty());
}

TEST(PhotometryValidateTest, TopLevelFieldsRequired) {
  for (std::string PhotometryMessage::*field :
       {&PhotometryMessage::title, &PhotometryMessage::topic, &PhotometryMessage::submitter}) {
    for (const char* blank : {"", "   ", "\t\n"}) {
      PhotometryMessage m = ValidMessage();
      const std::string name = field == &PhotometryMessage::title   ? "title"
                               : field == &PhotometryMessage::topic ? "topic"
                                                                    : "submitter";
      m.*field = blank;
      EXPECT_THAT(Validate(m), ElementsAre(FieldError{name, "is required"}))
          << name << " = \"" << blank << "\"";
    }
  }
}

TEST(PhotometryValidateTest, AuthorsAndMessageTextOptional) {
  ExpectValid([](PhotometryMessage& m) {
    m.authors.clear();
    m.message_text.clear();
  });
}

TEST(PhotometryValidateTest, DestinationAndIdempotencyKeyAreNotChecked) {
  // Whether a destination exists is the outbox's business, not a Hermes rule.
  ExpectValid([](PhotometryMessage& m) {
    m.destination.clear();
    m.idempotency_key.clear();
  });
}

TEST(PhotometryValidateTest, MessageWithoutDataIsAllowed) {
  // Hermes's "data" is optional: a text-only message has neither targets nor photometry.
  PhotometryMessage m = ValidMessage();
  m.targets.clear();
  m.photometry.clear();
  m.extra_data_json.clear();
  EXPECT_THAT(Validate(m), IsEmpty());
}

TEST(PhotometryValidateTest, TargetNameRequired) {
  ExpectOnly([](PhotometryMessage& m) { m.targets[2].name = ""; },
             {"targets[2].name", "is required"});
  ExpectOnly([](PhotometryMessage& m) { m.targets[2].name = "  "; },
             {"targets[2].name", "is required"});
}

TEST(PhotometryValidateTest, TargetNameUnique) {
  ExpectOnly([](PhotometryMessage& m) { m.targets[2].name = "SN 2026abc"; },
             {"targets[2].name", "is not unique: targets[0] has it too"});
  // Hermes trims names before comparing them.
  ExpectOnly([](PhotometryMessage& m) { m.targets[2].name = " SN 2026abc\t"; },
             {"targets[2].name", "is not unique: targets[0] has it too"});
  // Case matters.
  ExpectValid([](PhotometryMessage& m) { m.targets[2].name = "sn 2026abc"; });
}

TEST(PhotometryValidateTest, ThreeTargetsWithOneNameReportEachRepeat) {
  PhotometryMessage m = ValidMessage();
  m.targets[1].name = "SN 2026abc";
  m.targets[2].name = "SN 2026abc";
  m.photometry[2].target_name = "SN 2026abc";
  EXPECT_THAT(Validate(m),
              ElementsAre(FieldError{"targets[1].name", "is not unique: targets[0] has it too"},
                          FieldError{"targets[2].name", "is not unique: targets[0] has it too"}));
}

TEST(PhotometryValidateTest, RaWithoutDec) {
  ExpectOnly([](PhotometryMessage& m) { m.targets[0].dec.clear(); },
             {"targets[0].dec", "is required when ra is set"});
  ExpectOnly([](PhotometryMessage& m) { m.targets[0].dec = " "; },
             {"targets[0].dec", "is required when ra is set"});
  // Orbital elements do not excuse half a position (as in hermes).
  ExpectOnly(
      [](PhotometryMessage& m) {
        m.targets[1].ra = "150.0";
      },
      {"targets[1].dec", "is required when ra is set"});
}

TEST(PhotometryValidateTest, DecWithoutRa) {
  ExpectOnly([](PhotometryMessage& m) { m.targets[0].ra.clear(); },
             {"targets[0].ra", "is required when dec is set"});
  ExpectOnly([](PhotometryMessage& m) { m.targets[1].dec = "10.0"; },
             {"targets[1].ra", "is required when dec is set"});
}

TEST(PhotometryValidateTest, PositionOrOrbitalElementsRequired) {
  ExpectOnly(
      [](PhotometryMessage& m) {
        m.targets[0].ra.clear();
        m.targets[0].dec.clear();
      },
      {"targets[0].ra", "ra and dec, or orbital_elements_json, are required"});
  ExpectOnly([](PhotometryMessage& m) { m.targets[1].orbital_elements_json = " "; },
             {"targets[1].ra", "ra and dec, or orbital_elements_json, are required"});
  // Orbital elements alone (targets[1]) pass; so do both.
  ExpectValid([](PhotometryMessage& m) {
    m.targets[1].ra = "12.5";
    m.targets[1].dec = "+3.25";
  });
}

TEST(PhotometryValidateTest, RaMustParse) {
  for (const char* bad : {"abc", "400", "-1", "NaN", "nan", "inf", "-inf", "1e999", "24:00:00",
                          "10:61:00", "10h", "150.1234deg"}) {
    ExpectOnly([bad](PhotometryMessage& m) { m.targets[0].ra = bad; },
               {"targets[0].ra",
                "is not a right ascension (decimal degrees 0..360 or sexagesimal hours)"});
  }
  for (const char* good : {"0", "360", "359.9999", "  150.1234 ", "23:59:59.9", "10 00 30.5",
                           "10h00m30.5s", "1.5e2"}) {
    ExpectValid([good](PhotometryMessage& m) { m.targets[0].ra = good; });
  }
}

TEST(PhotometryValidateTest, DecMustParse) {
  for (const char* bad : {"abc", "90.0001", "-95", "NaN", "inf", "-Infinity", "+91:00:00",
                          "-20:60:00"}) {
    ExpectOnly([bad](PhotometryMessage& m) { m.targets[0].dec = bad; },
               {"targets[0].dec",
                "is not a declination (decimal degrees -90..90 or sexagesimal degrees)"});
  }
  for (const char* good : {"-90", "90", "0", "+45.5", "-00:30:00", "+89 59 59.9", "-20d30m00s"}) {
    ExpectValid([good](PhotometryMessage& m) { m.targets[0].dec = good; });
  }
}

TEST(PhotometryValidateTest, BadRaAndMissingDecAreBothReported) {
  PhotometryMessage m = ValidMessage();
  m.targets[0].ra = "abc";
  m.targets[0].dec.clear();
  EXPECT_THAT(Validate(m),
              ElementsAre(FieldError{"targets[0].ra", "is not a right ascension (decimal "
                                                      "degrees 0..360 or sexagesimal hours)"},
                          FieldError{"targets[0].dec", "is required when ra is set"}));
}

TEST(PhotometryValidateTest, OrbitalElementsMustBeAnObject) {
  ExpectOnly([](PhotometryMessage& m) { m.targets[1].orbital_elements_json = "[1, 2]"; },
             {"targets[1].orbital_elements_json", "must be a JSON object"});
  ExpectOnly([](PhotometryMessage& m) { m.targets[1].orbital_elements_json = "{\"a\": "; },
             {"targets[1].orbital_elements_json", "is not valid JSON"});
  ExpectOnly([](PhotometryMessage& m) { m.targets[1].orbital_elements_json = "{\"a\": NaN}"; },
             {"targets[1].orbital_elements_json", "is not valid JSON"});
  ExpectOnly([](PhotometryMessage& m) { m.targets[1].orbital_elements_json = "{\"a\": 1e999}"; },
             {"targets[1].orbital_elements_json", "is not valid JSON"});
  ExpectValid([](PhotometryMessage& m) { m.targets[1].orbital_elements_json = " {} "; });
}

TEST(PhotometryValidateTest, DiscoveryInfoMustBeAnObject) {
  ExpectOnly([](PhotometryMessage& m) { m.targets[2].discovery_info_json = "\"ZTF\""; },
             {"targets[2].discovery_info_json", "must be a JSON object"});
  ExpectOnly([](PhotometryMessage& m) { m.targets[2].discovery_info_json = "{reporting_group}"; },
             {"targets[2].discovery_info_json", "is not valid JSON"});
  ExpectValid([](PhotometryMessage& m) { m.targets[2].discovery_info_json.clear(); });
}

TEST(PhotometryValidateTest, ErrorUnits) {
  for (const char* good : {"degrees", "mas", "arcsec", "arcmin", ""}) {
    ExpectValid([good](PhotometryMessage& m) {
      m.targets[2].ra_error_units = good;
      m.targets[2].dec_error_units = good;
    });
  }
  for (const char* bad : {"deg", "Arcsec", " arcsec", "radians"}) {
    ExpectOnly([bad](PhotometryMessage& m) { m.targets[2].ra_error_units = bad; },
               {"targets[2].ra_error_units", "must be one of: degrees, mas, arcsec, arcmin"});
    ExpectOnly([bad](PhotometryMessage& m) { m.targets[2].dec_error_units = bad; },
               {"targets[2].dec_error_units", "must be one of: degrees, mas, arcsec, arcmin"});
  }
}

TEST(PhotometryValidateTest, DistanceUnits) {
  for (const char* good : {"cm", "m", "km", "pc", "kpc", "Mpc", "Gpc", "ly", "au", ""}) {
    ExpectValid([good](PhotometryMessage& m) { m.targets[2].distance_units = good; });
  }
  ExpectOnly([](PhotometryMessage& m) { m.targets[2].distance_units = "parsec"; },
             {"targets[2].distance_units", "must be one of: cm, m, km, pc, kpc, Mpc, Gpc, ly, au"});
}

TEST(PhotometryValidateTest, Epoch) {
  for (const char* good : {"2000.0", "2000", "2451545.0", "2026-05-01T00:00:00Z", ""}) {
    ExpectValid([good](PhotometryMessage& m) { m.targets[2].epoch = good; });
  }
  for (const char* bad : {"J2000", "0", "soon", "nan"}) {
    ExpectOnly([bad](PhotometryMessage& m) { m.targets[2].epoch = bad; },
               {"targets[2].epoch", "is not a date-time, JD or MJD"});
  }
}

TEST(PhotometryValidateTest, AliasesAndGroupsMustNotBeBlank) {
  ExpectOnly([](PhotometryMessage& m) { m.targets[0].aliases = {"ZTF26aaaaaaa", " "}; },
             {"targets[0].aliases[1]", "must not be empty"});
  ExpectOnly([](PhotometryMessage& m) { m.targets[2].group_associations = {""}; },
             {"targets[2].group_associations[0]", "must not be empty"});
  ExpectValid([](PhotometryMessage& m) {
    m.targets[0].aliases.clear();
    m.targets[2].group_associations.clear();
  });
}

// Each optional number of a target and a photometry row: where it is, and its path.
struct NumberField {
  std::function<std::optional<double>&(PhotometryMessage&)> get;
  std::string path;
};

std::vector<NumberField> OptionalNumbers() {
  return {
      {[](PhotometryMessage& m) -> auto& { return m.targets[2].ra_error; }, "targets[2].ra_error"},
      {[](PhotometryMessage& m) -> auto& { return m.targets[2].dec_error; },
       "targets[2].dec_error"},
      {[](PhotometryMessage& m) -> auto& { return m.targets[2].pm_ra; }, "targets[2].pm_ra"},
      {[](PhotometryMessage& m) -> auto& { return m.targets[2].pm_dec; }, "targets[2].pm_dec"},
      {[](PhotometryMessage& m) -> auto& { return m.targets[2].redshift; }, "targets[2].redshift"},
      {[](PhotometryMessage& m) -> auto& { return m.targets[2].distance; }, "targets[2].distance"},
      {[](PhotometryMessage& m) -> auto& { return m.targets[2].host_redshift; },
       "targets[2].host_redshift"},
      {[](PhotometryMessage& m) -> auto& { return m.photometry[0].brightness; },
       "photometry[0].brightness"},
      {[](PhotometryMessage& m) -> auto& { return m.photometry[0].brightness_error; },
       "photometry[0].brightness_error"},
      {[](PhotometryMessage& m) -> auto& { return m.photometry[1].limiting_brightness; },
       "photometry[1].limiting_brightness"},
      {[](PhotometryMessage& m) -> auto& { return m.photometry[1].limiting_brightness_error; },
       "photometry[1].limiting_brightness_error"},
      {[](PhotometryMessage& m) -> auto& { return m.photometry[0].exposure_time; },
       "photometry[0].exposure_time"},
  };
}

TEST(PhotometryValidateTest, NonFiniteNumbersRefused) {
  for (const NumberField& field : OptionalNumbers()) {
    for (const double bad : {kNaN, kInf, -kInf}) {
      PhotometryMessage m = ValidMessage();
      field.get(m) = bad;
      // A NaN brightness is present (Hermes's truthiness), so only its finiteness is reported.
      EXPECT_THAT(Validate(m), ElementsAre(FieldError{field.path, "is not a finite number"}))
          << field.path << " = " << bad;
    }
  }
}

TEST(PhotometryValidateTest, FiniteAndUnsetNumbersAccepted) {
  for (const NumberField& field : OptionalNumbers()) {
    for (const double good : {-1.5, 0.5, 1e-300, 1e300}) {
      PhotometryMessage m = ValidMessage();
      field.get(m) = good;
      EXPECT_THAT(Validate(m), IsEmpty()) << field.path << " = " << good;
    }
  }
  // Unset: every optional number except the one brightness each row needs.
  PhotometryMessage m = ValidMessage();
  for (const NumberField& field : OptionalNumbers()) {
    if (field.path != "photometry[0].brightness" &&
        field.path != "photometry[1].limiting_brightness") {
      field.get(m).reset();
    }
  }
  EXPECT_THAT(Validate(m), IsEmpty());
}

TEST(PhotometryValidateTest, PhotometryTargetNameRequired) {
  ExpectOnly([](PhotometryMessage& m) { m.photometry[1].target_name.clear(); },
             {"photometry[1].target_name", "is required"});
  ExpectOnly([](PhotometryMessage& m) { m.photometry[1].target_name = " \t"; },
             {"photometry[1].target_name", "is required"});
}

TEST(PhotometryValidateTest, PhotometryTargetNameMustNameATarget) {
  ExpectOnly([](PhotometryMessage& m) { m.photometry[1].target_name = "SN 2026abd"; },
             {"photometry[1].target_name", "names no target of this message"});
  // An alias is not a target name.
  ExpectOnly([](PhotometryMessage& m) { m.photometry[1].target_name = "ZTF26aaaaaaa"; },
             {"photometry[1].target_name", "names no target of this message"});
  // Hermes trims both sides.
  ExpectValid([](PhotometryMessage& m) { m.photometry[1].target_name = "  SN 2026abc "; });
  // A target without photometry (targets[2]) and one named later than its rows are fine.
  ExpectValid([](PhotometryMessage& m) { std::swap(m.targets[0], m.targets[2]); });
}

TEST(PhotometryValidateTest, PhotometryWithoutTargets) {
  PhotometryMessage m = ValidMessage();
  m.targets.clear();
  const std::string message = "names no target of this message";
  EXPECT_THAT(Validate(m), ElementsAre(FieldError{"photometry[0].target_name", message},
                                       FieldError{"photometry[1].target_name", message},
                                       FieldError{"photometry[2].target_name", message}));
}

TEST(PhotometryValidateTest, DateObsRequired) {
  ExpectOnly([](PhotometryMessage& m) { m.photometry[0].date_obs_iso.clear(); },
             {"photometry[0].date_obs", "is required"});
  ExpectOnly([](PhotometryMessage& m) { m.photometry[0].date_obs_iso = "  "; },
             {"photometry[0].date_obs", "is required"});
  ExpectOnly([](PhotometryMessage& m) { m.photometry[1].date_obs_jd.reset(); },
             {"photometry[1].date_obs", "is required"});
  ExpectOnly([](PhotometryMessage& m) { m.photometry[2].date_obs_mjd.reset(); },
             {"photometry[2].date_obs", "is required"});
}

TEST(PhotometryValidateTest, DateObsOnlyOnce) {
  const FieldError twice{"photometry[0].date_obs",
                         "must be only one of date_obs_iso, date_obs_jd, date_obs_mjd"};
  ExpectOnly([](PhotometryMessage& m) { m.photometry[0].date_obs_jd = 2461161.5; }, twice);
  ExpectOnly([](PhotometryMessage& m) { m.photometry[0].date_obs_mjd = 61161.0; }, twice);
  ExpectOnly(
      [](PhotometryMessage& m) {
        m.photometry[0].date_obs_iso.clear();
        m.photometry[0].date_obs_jd = 2461161.5;
        m.photometry[0].date_obs_mjd = 61161.0;
      },
      twice);
  // A blank ISO string is no date at all.
  ExpectValid([](PhotometryMessage& m) { m.photometry[1].date_obs_iso = " "; });
}

TEST(PhotometryValidateTest, DateObsIso) {
  for (const char* bad : {"yesterday", "2026-02-30T00:00:00Z", "2026-05-01T24:00:00",
                          "01/05/2026", "2026-05-01T03:04:05 PST", "60000000", "nan"}) {
    ExpectOnly([bad](PhotometryMessage& m) { m.photometry[0].date_obs_iso = bad; },
               {"photometry[0].date_obs", "is not a date-time, JD or MJD"});
  }
  // Hermes reads a numeric string as a JD or MJD, as float(date_obs) does.
  for (const char* good : {"2026-05-01", "2026-05-01 03:04:05Z", "2026-05-01T03:04:05.123-03:00",
                           "2461161.5", "61161"}) {
    ExpectValid([good](PhotometryMessage& m) { m.photometry[0].date_obs_iso = good; });
  }
}

TEST(PhotometryValidateTest, DateObsJd) {
  for (const double bad : {2400000.0, 2600000.0, 2399999.9, 2600000.1, 61161.0, 0.0, -2461161.5}) {
    ExpectOnly([bad](PhotometryMessage& m) { m.photometry[1].date_obs_jd = bad; },
               {"photometry[1].date_obs", "is not a JD in (2400000, 2600000)"});
  }
  for (const double bad : {kNaN, kInf, -kInf}) {
    ExpectOnly([bad](PhotometryMessage& m) { m.photometry[1].date_obs_jd = bad; },
               {"photometry[1].date_obs", "is not a finite number"});
  }
  for (const double good : {2400000.0001, 2599999.9999, 2461161.5}) {
    ExpectValid([good](PhotometryMessage& m) { m.photometry[1].date_obs_jd = good; });
  }
}

TEST(PhotometryValidateTest, DateObsMjd) {
  for (const double bad : {1000.0, 150000.0, 999.0, 150000.5, 2461161.5, 0.0}) {
    ExpectOnly([bad](PhotometryMessage& m) { m.photometry[2].date_obs_mjd = bad; },
               {"photometry[2].date_obs", "is not an MJD in (1000, 150000)"});
  }
  for (const double bad : {kNaN, kInf}) {
    ExpectOnly([bad](PhotometryMessage& m) { m.photometry[2].date_obs_mjd = bad; },
               {"photometry[2].date_obs", "is not a finite number"});
  }
  for (const double good : {1000.5, 149999.5, 61161.0}) {
    ExpectValid([good](PhotometryMessage& m) { m.photometry[2].date_obs_mjd = good; });
  }
}

TEST(PhotometryValidateTest, BandpassRequired) {
  ExpectOnly([](PhotometryMessage& m) { m.photometry[2].bandpass.clear(); },
             {"photometry[2].bandpass", "is required"});
  ExpectOnly([](PhotometryMessage& m) { m.photometry[2].bandpass = "\t"; },
             {"photometry[2].bandpass", "is required"});
}

TEST(PhotometryValidateTest, TelescopeOrInstrument) {
  const FieldError missing{"photometry[0].telescope", "telescope or instrument is required"};
  ExpectOnly(
      [](PhotometryMessage& m) {
        m.photometry[0].telescope.clear();
        m.photometry[0].instrument.clear();
      },
      missing);
  ExpectOnly(
      [](PhotometryMessage& m) {
        m.photometry[0].telescope = " ";
        m.photometry[0].instrument = "";
      },
      missing);
  ExpectValid([](PhotometryMessage& m) { m.photometry[0].telescope.clear(); });
  ExpectValid([](PhotometryMessage& m) { m.photometry[0].instrument.clear(); });
}

TEST(PhotometryValidateTest, BrightnessOrLimitingBrightness) {
  const FieldError missing{"photometry[0].brightness",
                           "brightness or limiting_brightness is required and must not be 0"};
  ExpectOnly([](PhotometryMessage& m) { m.photometry[0].brightness.reset(); }, missing);
  // A lone 0.0 is falsy to Hermes.
  ExpectOnly([](PhotometryMessage& m) { m.photometry[0].brightness = 0.0; }, missing);
  ExpectOnly([](PhotometryMessage& m) { m.photometry[0].brightness = -0.0; }, missing);
  ExpectOnly(
      [](PhotometryMessage& m) {
        m.photometry[0].brightness = 0.0;
        m.photometry[0].limiting_brightness = 0.0;
      },
      missing);
  ExpectOnly([](PhotometryMessage& m) { m.photometry[1].limiting_brightness = 0.0; },
             {"photometry[1].brightness",
              "brightness or limiting_brightness is required and must not be 0"});

  ExpectValid([](PhotometryMessage& m) {
    m.photometry[0].brightness = 0.0;
    m.photometry[0].limiting_brightness = 21.0;
  });
  ExpectValid([](PhotometryMessage& m) {
    m.photometry[0].brightness.reset();
    m.photometry[0].limiting_brightness = 21.0;
  });
  ExpectValid([](PhotometryMessage& m) { m.photometry[0].brightness = -0.5; });  // mJy can be < 0
}

TEST(PhotometryValidateTest, BrightnessUnits) {
  for (const std::string& good :
       {std::string("AB mag"), std::string("Vega mag"), std::string("mJy"), kFluxUnitReference,
        kFluxUnitHermes, std::string()}) {
    ExpectValid([&good](PhotometryMessage& m) {
      m.photometry[0].brightness_unit = good;
      m.photometry[1].limiting_brightness_unit = good;
    });
  }
  for (const char* bad : {"AB", "ABmag", "ab mag", "AB mag ", "Jy", "erg / s / cm2 / A",
                          "erg/s/cm\xC2\xB2/\xC3\x85"}) {
    ExpectOnly([bad](PhotometryMessage& m) { m.photometry[0].brightness_unit = bad; },
               {"photometry[0].brightness_unit", kUnitsMessage});
    ExpectOnly([bad](PhotometryMessage& m) { m.photometry[1].limiting_brightness_unit = bad; },
               {"photometry[1].limiting_brightness_unit", kUnitsMessage});
  }
  // A unit is checked even when its value is unset (Hermes validates the field regardless).
  ExpectOnly([](PhotometryMessage& m) { m.photometry[1].brightness_unit = "AB"; },
             {"photometry[1].brightness_unit", kUnitsMessage});
}

TEST(PhotometryValidateTest, ExtraDataMustBeAnObject) {
  ExpectOnly([](PhotometryMessage& m) { m.extra_data_json = "not json"; },
             {"extra_data_json", "is not valid JSON"});
  ExpectOnly([](PhotometryMessage& m) { m.extra_data_json = "[{\"event_id\": \"S1\"}]"; },
             {"extra_data_json", "must be a JSON object"});
  ExpectOnly([](PhotometryMessage& m) { m.extra_data_json = "null"; },
             {"extra_data_json", "must be a JSON object"});
  ExpectValid([](PhotometryMessage& m) { m.extra_data_json.clear(); });
  ExpectValid([](PhotometryMessage& m) { m.extra_data_json = "{}"; });
  ExpectValid([](PhotometryMessage& m) {
    m.extra_data_json = R"({"event_id": "S260501a", "references": [{"source": "GCN",
        "citation": "12345"}], "spectroscopy": [], "custom": {"nested": [1, 2.5, null]}})";
  });
}

TEST(PhotometryValidateTest, ExtraDataMustNotCarryStructuredKeys) {
  ExpectOnly([](PhotometryMessage& m) { m.extra_data_json = R"({"targets": []})"; },
             {"extra_data_json", "must not contain \"targets\": it comes from the targets field"});
  ExpectOnly([](PhotometryMessage& m) { m.extra_data_json = R"({"photometry": null})"; },
             {"extra_data_json",
              "must not contain \"photometry\": it comes from the photometry field"});
  PhotometryMessage m = ValidMessage();
  m.extra_data_json = R"({"photometry": [], "event_id": "S1", "targets": []})";
  EXPECT_THAT(Validate(m),
              ElementsAre(FieldError{"extra_data_json",
                                     "must not contain \"targets\": it comes from the targets "
                                     "field"},
                          FieldError{"extra_data_json",
                                     "must not contain \"photometry\": it comes from the "
                                     "photometry field"}));
}

TEST(PhotometryValidateTest, TextMustBeUtf8) {
  ExpectOnly([](PhotometryMessage& m) { m.title = "SN \xFF"; }, {"title", "is not valid UTF-8"});
  ExpectOnly([](PhotometryMessage& m) { m.authors = "A. \xC3"; },  // truncated sequence
             {"authors", "is not valid UTF-8"});
  ExpectOnly([](PhotometryMessage& m) { m.photometry[0].comments = "\xED\xA0\x80"; },  // surrogate
             {"photometry[0].comments", "is not valid UTF-8"});
  ExpectOnly([](PhotometryMessage& m) { m.targets[2].host_name = "\xC0\xAF"; },  // overlong
             {"targets[2].host_name", "is not valid UTF-8"});
  ExpectValid([](PhotometryMessage& m) {
    m.photometry[0].observer =
        "Zo\xC3\xAB \xC3\x96stlund \xE6\x9C\x9B\xE9\x81\xA0 \xF0\x9F\x94\xAD";
  });
}

TEST(PhotometryValidateTest, EveryProblemIsReported) {
  PhotometryMessage m = ValidMessage();
  m.title = " ";
  m.submitter.clear();
  m.targets[0].ra = "400";
  m.targets[2].name = "2026 AB1";
  m.targets[2].ra_error = kNaN;
  m.photometry[0].bandpass.clear();
  m.photometry[0].brightness_unit = "AB";
  m.photometry[1].date_obs_iso = "2026-05-01";
  m.photometry[1].limiting_brightness.reset();
  m.photometry[2].target_name = "nobody";
  m.photometry[2].instrument.clear();
  m.extra_data_json = R"({"targets": []})";
  EXPECT_THAT(
      Validate(m),
      ElementsAre(
          FieldError{"title", "is required"}, FieldError{"submitter", "is required"},
          FieldError{"targets[0].ra",
                     "is not a right ascension (decimal degrees 0..360 or sexagesimal hours)"},
          FieldError{"targets[2].name", "is not unique: targets[1] has it too"},
          FieldError{"targets[2].ra_error", "is not a finite number"},
          FieldError{"photometry[0].bandpass", "is required"},
          FieldError{"photometry[0].brightness_unit", kUnitsMessage},
          FieldError{"photometry[1].date_obs",
                     "must be only one of date_obs_iso, date_obs_jd, date_obs_mjd"},
          FieldError{"photometry[1].brightness",
                     "brightness or limiting_brightness is required and must not be 0"},
          FieldError{"photometry[2].target_name", "names no target of this message"},
          FieldError{"photometry[2].telescope", "telescope or instrument is required"},
          FieldError{"extra_data_json",
                     "must not contain \"targets\": it comes from the targets field"}));
}

TEST(PhotometryValidateTest, EmptyMessageReportsTheRequiredFields) {
  EXPECT_THAT(Validate(PhotometryMessage{}),
              ElementsAre(FieldError{"title", "is required"}, FieldError{"topic", "is required"},
                          FieldError{"submitter", "is required"}));
}

// ---------------------------------------------------------------------------------------------
// Rendering

TEST(PhotometryRenderTest, FixtureMessageRendersTheFixture) {
  const std::string text = Fixture("hermes/photometry_example.json");
  ASSERT_FALSE(text.empty());
  const Json fixture = Json::parse(text);
  ASSERT_TRUE(fixture.contains("data") && fixture["data"].contains("photometry"));

  const PhotometryMessage m = FixtureMessage();
  ASSERT_THAT(Validate(m), IsEmpty());
  const Json rendered = Render(m);
  // Part by part first, for readable failures; then the whole, so nothing extra slips in.
  for (const char* key : {"title", "topic", "submitter", "authors", "message_text"}) {
    EXPECT_EQ(rendered.at(key), fixture.at(key)) << key;
  }
  EXPECT_EQ(rendered["data"]["targets"], fixture["data"]["targets"]);
  ASSERT_EQ(rendered["data"]["photometry"].size(), fixture["data"]["photometry"].size());
  for (size_t i = 0; i < fixture["data"]["photometry"].size(); ++i) {
    EXPECT_EQ(rendered["data"]["photometry"][i], fixture["data"]["photometry"][i]) << i;
  }
  EXPECT_EQ(rendered, fixture);
}

TEST(PhotometryRenderTest, TopLevelOrderAndAlwaysPresentFields) {
  PhotometryMessage m;
  m.title = "T";
  m.topic = "hermes.test";
  m.submitter = "S";
  EXPECT_EQ(RenderHermesJson(m),
            R"({"title":"T","topic":"hermes.test","submitter":"S","authors":"",)"
            R"("message_text":"","data":{"targets":[],"photometry":[]}})");
}

TEST(PhotometryRenderTest, ExactBodyOfOneRow) {
  PhotometryMessage m;
  m.title = "T";
  m.topic = "hermes.test";
  m.submitter = "S";
  m.authors = "A";
  Target& t = m.targets.emplace_back();
  t.name = "X";
  t.ra = "10:00:00";
  t.dec = "+05:00:00";
  Photometry& p = m.photometry.emplace_back();
  p.target_name = "X";
  p.date_obs_mjd = 61161.25;
  p.instrument = "fa16";
  p.bandpass = "g";
  p.brightness = 18.5;
  m.extra_data_json = R"({ "b": 1, "a": "x" })";
  EXPECT_EQ(RenderHermesJson(m),
            R"({"title":"T","topic":"hermes.test","submitter":"S","authors":"A",)"
            R"("message_text":"","data":)"
            R"({"targets":[{"name":"X","ra":"10:00:00","dec":"+05:00:00"}],)"
            R"("photometry":[{"target_name":"X","date_obs":61161.25,"instrument":"fa16",)"
            R"("bandpass":"g","brightness":18.5,"brightness_unit":"AB mag"}],"a":"x","b":1}})");
}

TEST(PhotometryRenderTest, EveryTargetField) {
  const Json target = Render(ValidMessage())["data"]["targets"][2];
  const Json expected = Json::parse(R"({
      "name": "AT 2026xyz", "ra": "10:00:30.5", "dec": "-05:30:00",
      "ra_error": 0.5, "dec_error": 0.4, "ra_error_units": "arcsec", "dec_error_units": "arcsec",
      "pm_ra": 1.25, "pm_dec": -0.75, "epoch": "2000.0", "redshift": 0.031,
      "distance": 135.0, "distance_units": "Mpc", "host_name": "NGC 3109",
      "host_redshift": 0.0314, "new_discovery": true, "comments": "Found in difference imaging.",
      "group_associations": ["MyTOM group"],
      "discovery_info": {"reporting_group": "MyTOM", "discovery_source": "ZTF"}})");
  EXPECT_EQ(target, expected);
  // ra/dec stay strings, exactly as given.
  EXPECT_TRUE(target["ra"].is_string());
  EXPECT_TRUE(target["dec"].is_string());
}

TEST(PhotometryRenderTest, OrbitalElementsAreAnObject) {
  const Json target = Render(ValidMessage())["data"]["targets"][1];
  EXPECT_EQ(target, Json::parse(R"({"name": "2026 AB1", "orbital_elements": {
      "epoch_of_elements": "2026-05-01", "orbital_inclination": 10.5,
      "longitude_of_the_ascending_node": 80.25, "argument_of_the_perihelion": 70.0,
      "eccentricity": 0.1, "semimajor_axis": 2.7, "mean_anomaly": 12.0}})"));
}

TEST(PhotometryRenderTest, EmptyAndUnsetFieldsLeftOut) {
  PhotometryMessage m = ValidMessage();
  Target& t = m.targets[0];
  t.epoch = "  ";
  t.new_discovery = false;
  t.aliases.clear();
  t.group_associations.clear();
  Photometry& p = m.photometry[1];
  p.observer = "";
  p.comments = " ";
  const Json body = Render(m);
  EXPECT_EQ(body["data"]["targets"][0],
            Json::parse(R"({"name": "SN 2026abc", "ra": "150.1234", "dec": "-20.5678"})"));
  EXPECT_EQ(body["data"]["photometry"][1],
            Json::parse(R"({"target_name": "SN 2026abc", "date_obs": 2461161.5,
                "telescope": "1m0a.doma.elp.lco", "bandpass": "r", "limiting_brightness": 20.2,
                "limiting_brightness_error": 0.1, "limiting_brightness_unit": "AB mag"})"));
}

TEST(PhotometryRenderTest, EveryPhotometryField) {
  EXPECT_EQ(Render(ValidMessage())["data"]["photometry"][0], Json::parse(R"({
      "target_name": "SN 2026abc", "date_obs": "2026-05-01T03:04:05+00:00",
      "telescope": "1m0a.doma.elp.lco", "instrument": "fa16", "bandpass": "g",
      "brightness": 18.52, "brightness_error": 0.05, "brightness_unit": "AB mag",
      "exposure_time": 300.0, "observer": "A. Observer", "comments": "Clear night.",
      "catalog": "PS1"})"));
}

TEST(PhotometryRenderTest, DateObsForms) {
  PhotometryMessage m = ValidMessage();
  m.photometry[0].date_obs_iso = "2026-05-01 03:04:05Z";
  const Json rows = Render(m)["data"]["photometry"];
  EXPECT_EQ(rows[0]["date_obs"], "2026-05-01 03:04:05Z");  // the string as given
  ASSERT_TRUE(rows[1]["date_obs"].is_number_float());
  EXPECT_EQ(rows[1]["date_obs"].get<double>(), 2461161.5);  // JD
  ASSERT_TRUE(rows[2]["date_obs"].is_number_float());
  EXPECT_EQ(rows[2]["date_obs"].get<double>(), 61161.0);    // MJD, not converted
}

TEST(PhotometryRenderTest, UnitsDefaultOnlyForValuesThatAreSet) {
  PhotometryMessage m = ValidMessage();
  Photometry& p = m.photometry[0];
  p.brightness_unit.clear();
  p.limiting_brightness_unit = "mJy";  // no limiting_brightness: the unit is not written
  Photometry& q = m.photometry[1];
  q.brightness_unit = "Vega mag";      // no brightness: not written
  q.limiting_brightness_unit.clear();
  const Json rows = Render(m)["data"]["photometry"];
  EXPECT_EQ(rows[0]["brightness_unit"], "AB mag");
  EXPECT_FALSE(rows[0].contains("limiting_brightness_unit"));
  EXPECT_FALSE(rows[0].contains("limiting_brightness"));
  EXPECT_EQ(rows[1]["limiting_brightness_unit"], "AB mag");
  EXPECT_FALSE(rows[1].contains("brightness_unit"));
  EXPECT_FALSE(rows[1].contains("brightness"));
  EXPECT_EQ(rows[2]["brightness_unit"], "Vega mag");
}

TEST(PhotometryRenderTest, ZeroBrightnessBesideALimitIsKept) {
  PhotometryMessage m = ValidMessage();
  m.photometry[0].brightness = 0.0;
  m.photometry[0].limiting_brightness = 21.0;
  ASSERT_THAT(Validate(m), IsEmpty());
  const Json row = Render(m)["data"]["photometry"][0];
  EXPECT_EQ(row["brightness"].get<double>(), 0.0);
  EXPECT_EQ(row["limiting_brightness"].get<double>(), 21.0);
}

TEST(PhotometryRenderTest, FluxUnitIsSentAsHermesSpellsIt) {
  for (const std::string& given : {kFluxUnitReference, kFluxUnitHermes}) {
    PhotometryMessage m = ValidMessage();
    m.photometry[0].brightness_unit = given;
    m.photometry[1].limiting_brightness_unit = given;
    ASSERT_THAT(Validate(m), IsEmpty());
    const std::string body = RenderHermesJson(m);
    const Json rows = Json::parse(body)["data"]["photometry"];
    EXPECT_EQ(rows[0]["brightness_unit"], kFluxUnitHermes);
    EXPECT_EQ(rows[1]["limiting_brightness_unit"], kFluxUnitHermes);
    // Raw UTF-8 in the body, not \u escapes.
    EXPECT_NE(body.find("\"brightness_unit\":\"" + kFluxUnitHermes + "\""), std::string::npos);
  }
}

TEST(PhotometryRenderTest, ExtraDataMergedIntoData) {
  PhotometryMessage m = ValidMessage();
  m.extra_data_json = R"({"event_id": "S260501a", "references": [{"source": "GCN",
      "citation": "12345"}], "custom": {"z": null, "a": [1, 2.5]}})";
  const Json data = Render(m)["data"];
  EXPECT_EQ(data["event_id"], "S260501a");
  EXPECT_EQ(data["references"], Json::parse(R"([{"source": "GCN", "citation": "12345"}])"));
  EXPECT_EQ(data["custom"], Json::parse(R"({"z": null, "a": [1, 2.5]})"));
  EXPECT_EQ(data["targets"].size(), 3u);
  EXPECT_EQ(data["photometry"].size(), 3u);
  EXPECT_EQ(data.size(), 5u);
}

TEST(PhotometryRenderTest, NonAsciiTextSurvives) {
  PhotometryMessage m = ValidMessage();
  m.title = "Photom\xC3\xA9trie de SN 2026abc \xE2\x80\x94 \"quoted\"\n\ttab";
  EXPECT_EQ(Render(m)["title"], m.title);
}

TEST(PhotometryRenderTest, DoublesRoundTrip) {
  PhotometryMessage m = ValidMessage();
  const double values[] = {0.1 + 0.2, 1e-300, 18.520000000000003, 2461161.500000001,
                           std::nextafter(20.2, 21.0)};
  m.photometry[0].brightness = values[0];
  m.photometry[0].brightness_error = values[1];
  m.photometry[0].exposure_time = values[2];
  m.photometry[1].date_obs_jd = values[3];
  m.photometry[1].limiting_brightness = values[4];
  const Json rows = Render(m)["data"]["photometry"];
  EXPECT_EQ(rows[0]["brightness"].get<double>(), values[0]);
  EXPECT_EQ(rows[0]["brightness_error"].get<double>(), values[1]);
  EXPECT_EQ(rows[0]["exposure_time"].get<double>(), values[2]);
  EXPECT_EQ(rows[1]["date_obs"].get<double>(), values[3]);
  EXPECT_EQ(rows[1]["limiting_brightness"].get<double>(), values[4]);
}

TEST(PhotometryRenderTest, Deterministic) {
  const PhotometryMessage m = ValidMessage();
  EXPECT_EQ(RenderHermesJson(m), RenderHermesJson(m));
  // Two equal messages built separately.
  EXPECT_EQ(RenderHermesJson(ValidMessage()), RenderHermesJson(ValidMessage()));
  // Embedded JSON is normalised: key order and spacing do not change the bytes.
  PhotometryMessage a = ValidMessage();
  PhotometryMessage b = ValidMessage();
  a.extra_data_json = R"({"event_id": "S1", "custom": {"x": 1, "y": [true, null]}})";
  b.extra_data_json = "{\"custom\":{\"y\":[true,null],\n\"x\":1},\"event_id\":\"S1\"}";
  a.targets[2].discovery_info_json = R"({"reporting_group": "G", "discovery_source": "S"})";
  b.targets[2].discovery_info_json = R"({ "discovery_source" : "S", "reporting_group" : "G" })";
  EXPECT_EQ(RenderHermesJson(a), RenderHermesJson(b));
}

TEST(PhotometryRenderTest, DifferentMessagesDiffer) {
  const std::string base = RenderHermesJson(ValidMessage());
  const std::vector<std::function<void(PhotometryMessage&)>> changes = {
      [](PhotometryMessage& m) { m.title += "."; },
      [](PhotometryMessage& m) { m.targets[0].ra = "150.12340"; },
      [](PhotometryMessage& m) { m.photometry[0].brightness = 18.53; },
      [](PhotometryMessage& m) { m.photometry[1].date_obs_jd = 2461161.6; },
      [](PhotometryMessage& m) { m.photometry[2].brightness_unit = "AB mag"; },
      [](PhotometryMessage& m) { std::swap(m.photometry[0], m.photometry[1]); },
      [](PhotometryMessage& m) { m.extra_data_json = R"({"event_id": "S260501b"})"; },
      [](PhotometryMessage& m) { m.targets[2].new_discovery = false; },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    PhotometryMessage m = ValidMessage();
    changes[i](m);
    EXPECT_NE(RenderHermesJson(m), base) << "change " << i;
  }
  // The outbox's own fields are not part of the Hermes body.
  PhotometryMessage m = ValidMessage();
  m.destination = "other";
  m.idempotency_key = "key-2";
  EXPECT_EQ(RenderHermesJson(m), base);
}

TEST(PhotometryRenderTest, InvalidUtf8DoesNotThrow) {
  // REQUIRES says validated input; rendering must still not throw on a slip.
  PhotometryMessage m = ValidMessage();
  m.title = "bad \xFF byte";
  std::string body;
  EXPECT_NO_THROW(body = RenderHermesJson(m));
  EXPECT_TRUE(Json::accept(body)) << body;
}

}  // namespace
}  // namespace tomstream::outbox
