// Regression tests for bugs the fuzz targets (tests/fuzz/) found, or showed the way to, each with
// the input that triggered it. They run in the normal g++ build, where UBSan is off, so each
// checks the result, not just the absence of a crash.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/astro.h"
#include "config/config.h"
#include "handlers/handler.h"
#include "outbox/photometry.h"

namespace tomstream {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

config::SecretResolver NoSecrets() {
  config::SecretResolver r;
  r.getenv = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  r.read_file = [](const std::string& path) -> Result<std::string> {
    return Status::IoError("cannot read " + path);
  };
  return r;
}

std::string ConfigError(std::string_view text) {
  const Result<config::Config> cfg = config::ParseConfig(text, "fuzz.toml", NoSecrets());
  if (cfg.ok()) {
    ADD_FAILURE() << "accepted:\n" << text;
    return "";
  }
  return cfg.status().message();
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t nl = s.find('\n', start);
    lines.push_back(s.substr(start, nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return lines;
}

std::string Stream(std::string_view route_line) {
  return "[[stream]]\nname = \"s\"\nurl = \"kafka://broker/\"\n"
         "[[stream.route]]\nhandler = \"raw\"\n" +
         std::string(route_line) + "\n";
}

// config_fuzzer: toml++ quotes the rest of the line in its description ("saw 'tru\n'"), so one
// error took two lines, against "one per line" (config.h).
TEST(FuzzRegressionConfig, TomlSyntaxErrorIsOneLine) {
  const std::string m = ConfigError("[store]\nextra = tru\n");
  EXPECT_THAT(m, Not(HasSubstr("\n")));
  EXPECT_THAT(m, HasSubstr("fuzz.toml:2:"));
}

// config_fuzzer: keys and values are echoed in errors; a "\n" in a TOML string broke the line,
// and could pass for another error.
TEST(FuzzRegressionConfig, ValuesAndKeysInErrorsAreEscaped) {
  const std::string m =
      ConfigError("[daemon]\nlog_level = \"info\\nfuzz.toml:1: fake\"\n\"a\\u0001b\" = 1\n");
  EXPECT_THAT(Lines(m),
              ElementsAre(AllOf(StartsWith("fuzz.toml:2: daemon.log_level: "),
                                EndsWith("; not \"info\\nfuzz.toml:1: fake\"")),
                          "fuzz.toml:3: daemon.a\\x01b: unknown key"));
}

// Found while checking how far the config fuzzer can reach: std::regex compiles recursively, so
// a long regex overflowed the stack in --check-config (and a long pattern when the stream
// started: only the regex was compiled while checking). Both are now refused by length.
TEST(FuzzRegressionConfig, LongRegexIsRefusedNotCompiled) {
  const std::string nested = std::string(50000, '(') + "a" + std::string(50000, ')');
  EXPECT_THAT(ConfigError(Stream("regex = \"" + nested + "\"")),
              HasSubstr("stream[0].route[0].regex: is longer than 1024 characters"));
  EXPECT_THAT(ConfigError(Stream("pattern = \"" + std::string(100000, 'a') + "\"")),
              HasSubstr("stream[0].route[0].pattern: is longer than 1024 characters"));
}

TEST(FuzzRegressionConfig, RegexUpToTheLimitIsAccepted) {
  const std::string re = "gcn\\\\.notices\\\\." + std::string(1024 - 14, 'x');
  const Result<config::Config> cfg =
      config::ParseConfig(Stream("regex = \"" + re + "\""), "fuzz.toml", NoSecrets());
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->streams.at(0).routes.at(0).topic.size(), 1024u);
}

std::optional<int64_t> TextNoticeTriggerTime(std::string_view date_line) {
  const std::string payload = "TITLE:           GCN/SWIFT NOTICE\n"
                              "TRIGGER_NUM:     1227767,   Seg_Num: 0\n" +
                              std::string(date_line) +
                              "\nGRB_TIME:        45296.78 SOD {12:34:56.78} UT\n";
  handlers::Message message;
  message.payload = payload;
  const auto handler = handlers::MakeHandler("gcn");
  handlers::ParsedAlert alert;
  const Status st = handler->Parse(message, handlers::ReadHop(message), alert);
  EXPECT_TRUE(st.ok()) << st.message();
  if (!st.ok() || !alert.gcn) return std::nullopt;
  return alert.gcn->trigger_time_ms;
}

// gcn_fuzzer's UBSan on a text notice with a huge TJD (written by hand: random fuzzing had not
// reached it): the TJD was cast to int64 (1e23: out of range) or multiplied into milliseconds
// past INT64_MAX, giving garbage trigger times. Such a TJD is now ignored and the y/m/d field
// read instead.
TEST(FuzzRegressionGcn, HugeTjdFallsBackToCalendarDate) {
  const auto expected = astro::ParseDateTimeMs("2024-04-10T12:34:56.780Z");
  ASSERT_TRUE(expected.has_value());
  EXPECT_EQ(TextNoticeTriggerTime("GRB_DATE:        99999999999999999999999 TJD;   101 DOY;   "
                                  "24/04/10"),
            expected);
  EXPECT_EQ(TextNoticeTriggerTime("GRB_DATE:        999999999999999 TJD;   101 DOY;   24/04/10"),
            expected);
  // The largest TJD still read as one: 9999-12-31.
  EXPECT_EQ(TextNoticeTriggerTime("GRB_DATE:        2933483 TJD;"),
            astro::ParseDateTimeMs("9999-12-31T12:34:56.780Z"));
}

outbox::PhotometryMessage ValidMessage(std::string extra_data_json) {
  outbox::PhotometryMessage m;
  m.title = "SN 2026abc";
  m.topic = "hermes.test";
  m.submitter = "MyTOM";
  outbox::Target& target = m.targets.emplace_back();
  target.name = "SN 2026abc";
  target.ra = "150.1234";
  target.dec = "-20.5678";
  outbox::Photometry& row = m.photometry.emplace_back();
  row.target_name = "SN 2026abc";
  row.date_obs_jd = 2461161.5;
  row.telescope = "1m0";
  row.bandpass = "g";
  row.brightness = 18.5;
  m.extra_data_json = std::move(extra_data_json);
  return m;
}

// What the hermes handler makes of the body the outbox renders for `m`, as it arrives from the
// topic the outbox's Kafka sink publishes it to.
Status ReadBack(const outbox::PhotometryMessage& m) {
  const std::string body = outbox::RenderHermesJson(m);
  handlers::Message message;
  message.payload = body;
  const auto handler = handlers::MakeHandler("hermes");
  handlers::ParsedAlert alert;
  return handler->Parse(message, handlers::ReadHop(message), alert);
}

// photometry_fuzzer (read-back invariant): extra_data_json {"event_id":[]} passed validation, so
// the outbox would send Hermes a body it refuses (event_id is a CharField there), and the
// daemon's own hermes route quarantined it ("data.event_id: expected a string").
TEST(FuzzRegressionPhotometry, EventIdMustBeTextAsHermesReadsIt) {
  for (const char* bad : {R"({"event_id":[]})", R"({"event_id": {"a": 1}})",
                          R"({"event_id": true})", R"({"event_id": "  "})"}) {
    const auto errors = outbox::ValidatePhotometryMessage(ValidMessage(bad));
    ASSERT_EQ(errors.size(), 1u) << bad;
    EXPECT_EQ(errors[0].path, "extra_data_json") << bad;
    EXPECT_THAT(errors[0].message, HasSubstr("event_id must")) << bad;
  }
  for (const char* good : {R"({"event_id": "S260501a"})", R"({"event_id": 42})",
                           R"({"event_id": null})", R"({"custom": {"event_id": {}}})"}) {
    const outbox::PhotometryMessage m = ValidMessage(good);
    EXPECT_THAT(outbox::ValidatePhotometryMessage(m), ::testing::IsEmpty()) << good;
    const Status st = ReadBack(m);
    EXPECT_TRUE(st.ok()) << good << ": " << st.message();
  }
}

}  // namespace
}  // namespace tomstream
