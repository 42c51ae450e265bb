// Handlers and hop-client conventions, against the public example messages in shared/fixtures
// (see shared/fixtures/SOURCES.md) and hand-made malformed inputs.
#include "handlers/handler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/astro.h"

namespace tomstream::handlers {
namespace {

namespace fs = std::filesystem;

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

// The regular files of a fixture directory, sorted; fails when the directory is missing.
std::vector<fs::path> FixtureFiles(const std::string& dir) {
  std::vector<fs::path> files;
  const fs::path path = kFixtures / dir;
  if (!fs::is_directory(path)) {
    ADD_FAILURE() << "fixture directory missing: " << path;
    return files;
  }
  for (const auto& entry : fs::recursive_directory_iterator(path)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadPath(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A Kafka message with owned storage.
struct TestMessage {
  std::string topic = "test.topic";
  std::string payload;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;

  Message Get() {
    views_.clear();
    for (const auto& [key, value] : headers) {
      views_.push_back(Header{key, value ? std::string_view(*value) : std::string_view(),
                              !value.has_value()});
    }
    Message m;
    m.topic = topic;
    m.partition = 3;
    m.offset = 42;
    m.payload = payload;
    m.headers = views_;
    return m;
  }

 private:
  std::vector<Header> views_;
};

struct Parsed {
  Status status;
  ParsedAlert alert;
};

Parsed ParseMessage(Handler& handler, std::string payload, std::string topic = "test.topic",
           std::vector<std::pair<std::string, std::optional<std::string>>> headers = {}) {
  TestMessage tm;
  tm.topic = std::move(topic);
  tm.payload = std::move(payload);
  tm.headers = std::move(headers);
  const Message m = tm.Get();
  const HopInfo hop = ReadHop(m);
  Parsed p;
  p.status = handler.Parse(m, hop, p.alert);
  return p;
}

HopInfo Hop(TestMessage& tm) { return ReadHop(tm.Get()); }

std::optional<int64_t> Ms(const char* iso) { return astro::ParseDateTimeMs(iso); }

// ---------------------------------------------------------------------------------------------
// Fixtures are present

TEST(HandlersFixturesTest, DirectoryIsPresent) {
  ASSERT_TRUE(fs::is_directory(kFixtures))
      << kFixtures << " is missing: the tests need shared/fixtures beside the repository";
  EXPECT_EQ(FixtureFiles("gcn/json").size(), 11u);
  EXPECT_EQ(FixtureFiles("gcn/voevent").size(), 16u);
  EXPECT_EQ(FixtureFiles("gcn/text").size(), 3u);
  EXPECT_EQ(FixtureFiles("hop").size(), 10u);
  EXPECT_FALSE(Fixture("hermes/photometry_example.json").empty());
}

// ---------------------------------------------------------------------------------------------
// Registry, raw, log

TEST(HandlersTest, Registry) {
  const auto names = HandlerNames();
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[0], "hermes");
  EXPECT_EQ(names[1], "gcn");
  EXPECT_EQ(names[2], "raw");
  EXPECT_EQ(names[3], "log");
  for (const std::string_view name : names) {
    const auto h = MakeHandler(name);
    ASSERT_NE(h, nullptr) << name;
    EXPECT_EQ(h->name(), name);
    EXPECT_EQ(h->stores_alerts(), name != "log");
  }
  EXPECT_EQ(MakeHandler("nope"), nullptr);
  EXPECT_EQ(MakeHandler(""), nullptr);
  EXPECT_EQ(MakeHandler("Hermes"), nullptr);
}

TEST(HandlersTest, RawNeverFails) {
  const auto raw = MakeHandler("raw");
  auto p = ParseMessage(*raw, Fixture("hop/test_data/example_json.json"));
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.alert.summary, "raw: json 22 bytes");
  EXPECT_FALSE(p.alert.hermes || p.alert.gcn);

  p = ParseMessage(*raw, Fixture("hop/test_data/example_avro.avro"));
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(p.alert.summary, "raw: blob 836 bytes");

  p = ParseMessage(*raw, "", "t", {{"_format", "voevent"}, {"_test", "true"}});
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(p.alert.summary, "raw: voevent 0 bytes [test]");
}

TEST(HandlersTest, LogNeverFails) {
  const auto log = MakeHandler("log");
  EXPECT_FALSE(log->stores_alerts());
  auto p = ParseMessage(*log, Fixture("gcn/voevent/LVC_RETRACTION__lvc_retraction_16779.xml"),
               "gcn.classic.voevent.LVC_RETRACTION");
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(p.alert.summary, "log: blob 2735 bytes");
  p = ParseMessage(*log, std::string("\0\1\2", 3));
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(p.alert.summary, "log: blob 3 bytes");
}

// ---------------------------------------------------------------------------------------------
// ReadHop

TEST(HopTest, FormatHeaderWins) {
  TestMessage tm;
  tm.payload = R"({"format": "circular", "content": "x"})";
  tm.headers = {{"_format", "VOEvent"}, {"_format", "json"}};
  const HopInfo hop = Hop(tm);
  EXPECT_EQ(hop.format, "voevent");  // the first _format header, lower-cased
  EXPECT_EQ(hop.content, tm.payload);  // the payload, not the envelope's content
  EXPECT_EQ(hop.content.data(), tm.payload.data());
}

TEST(HopTest, IdSenderTest) {
  TestMessage tm;
  tm.payload = "{}";
  const std::string id16("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\xff", 16);
  tm.headers = {{"_id", id16}, {"_sender", "alice-1234"}, {"_test", "true"}, {"topic", "x"}};
  HopInfo hop = Hop(tm);
  ASSERT_TRUE(hop.id.has_value());
  EXPECT_EQ((*hop.id)[0], 0x00);
  EXPECT_EQ((*hop.id)[1], 0x01);
  EXPECT_EQ((*hop.id)[15], 0xff);
  EXPECT_EQ(hop.sender, "alice-1234");
  EXPECT_TRUE(hop.is_test);
  EXPECT_EQ(hop.format, "json");

  // _id must be exactly 16 bytes: a 15- or 17-byte value (or a null one) is ignored.
  tm.headers = {{"_id", id16.substr(0, 15)}};
  hop = Hop(tm);
  EXPECT_FALSE(hop.id.has_value());
  EXPECT_FALSE(hop.is_test);
  EXPECT_EQ(hop.sender, "");
  tm.headers = {{"_id", id16 + "x"}};
  EXPECT_FALSE(Hop(tm).id.has_value());
  tm.headers = {{"_id", std::nullopt}};
  EXPECT_FALSE(Hop(tm).id.has_value());
  // A 36-character textual UUID is not the 16 raw bytes hop-client sends.
  tm.headers = {{"_id", "0a1b2c3d-0000-4000-8000-000000000000"}};
  EXPECT_FALSE(Hop(tm).id.has_value());

  // _test marks a test message by its presence, whatever its value (even none).
  tm.headers = {{"_test", std::nullopt}};
  EXPECT_TRUE(Hop(tm).is_test);
  tm.headers = {{"_test", "false"}};
  EXPECT_TRUE(Hop(tm).is_test);
  tm.headers = {{"test", "true"}};
  EXPECT_FALSE(Hop(tm).is_test);
}

TEST(HopTest, LegacyEnvelopeWithStringContent) {
  TestMessage tm;
  tm.payload =
      R"({"format": "voevent", "content": "<voe:VOEvent ivorn=\"ivo://x/y#z\">\n</voe:VOEvent>"})";
  const HopInfo hop = Hop(tm);
  EXPECT_EQ(hop.format, "voevent");
  EXPECT_EQ(hop.content, "<voe:VOEvent ivorn=\"ivo://x/y#z\">\n</voe:VOEvent>");
  EXPECT_EQ(hop.content.data(), hop.content_storage.data());
}

TEST(HopTest, LegacyEnvelopeWithObjectContent) {
  TestMessage tm;
  tm.payload = Fixture("hop/skip/gcn_circular_message__S190510g.json");
  const HopInfo hop = Hop(tm);
  EXPECT_EQ(hop.format, "circular");
  EXPECT_EQ(hop.content.substr(0, 30), R"({"header":{"TITLE":"GCN CIRCUL)");
  EXPECT_TRUE(hop.content.ends_with(
      R"("body":"The LIGO Scientific Collaboration and the Virgo Collaboration report: )"
      R"(\n\ntest content"})"))
      << hop.content;

  tm.payload = R"({"content": [1, {"a": null}], "format": "json"})";
  const HopInfo arr = Hop(tm);
  EXPECT_EQ(arr.format, "json");
  EXPECT_EQ(arr.content, R"([1,{"a":null}])");

  // "blob" was hop-client's old label for JSON.
  tm.payload = R"({"format": "blob", "content": "TITLE: GCN/LVC NOTICE"})";
  const HopInfo blob = Hop(tm);
  EXPECT_EQ(blob.format, "json");
  EXPECT_EQ(blob.content, "TITLE: GCN/LVC NOTICE");
}

TEST(HopTest, LegacyContentSurvivesMove) {
  TestMessage tm;
  tm.payload = R"({"format": "json", "content": "hi"})";  // short: would fit in SSO
  HopInfo a = Hop(tm);
  HopInfo b = std::move(a);
  std::vector<HopInfo> v;
  v.push_back(std::move(b));
  v.reserve(64);
  EXPECT_EQ(v[0].content, "hi");
  EXPECT_EQ(v[0].content.data(), v[0].content_storage.data());
}

TEST(HopTest, NotAnEnvelope) {
  TestMessage tm;
  // A third key: plain JSON.
  tm.payload = R"({"format": "voevent", "content": "x", "extra": 1})";
  HopInfo hop = Hop(tm);
  EXPECT_EQ(hop.format, "json");
  EXPECT_EQ(hop.content, tm.payload);
  // Only one of the keys.
  tm.payload = R"({"format": "voevent"})";
  EXPECT_EQ(Hop(tm).format, "json");
  // A non-string format.
  tm.payload = R"({"format": 5, "content": "x"})";
  hop = Hop(tm);
  EXPECT_EQ(hop.format, "json");
  EXPECT_EQ(hop.content, tm.payload);
  // Any valid JSON.
  for (const char* json : {"[1, 2]", "5", "\"text\"", "true", "null", " {\"foo\":\"bar\"} "}) {
    tm.payload = json;
    EXPECT_EQ(Hop(tm).format, "json") << json;
  }
  // Anything else is a blob.
  for (const std::string& blob :
       {std::string(""), std::string("{"), std::string("{\"a\": NaN}"), std::string("<xml/>"),
        std::string("TITLE: GCN"), std::string("nul"), std::string("5 6"),
        std::string("\"\xff\xfe\""), std::string("\0\0", 2)}) {
    tm.payload = blob;
    hop = Hop(tm);
    EXPECT_EQ(hop.format, "blob") << blob;
    EXPECT_EQ(hop.content, tm.payload);
  }
}

TEST(HopTest, EveryHopFixtureReads) {
  const std::map<std::string, std::string> expected = {
      {"example.gcn3", "blob"},
      {"test_data/example_gcn.gcn3", "blob"},
      {"test_data/example_gcn.txt", "blob"},
      {"test_data/example_blob.txt", "blob"},
      {"test_data/example_json.json", "json"},
      {"test_data/example_voevent.xml", "blob"},
      {"test_data/example_avro.avro", "blob"},
      {"expected_data/example_gcn_json.stdout", "json"},
      {"expected_data/example_voevent_json.stdout", "json"},
      {"skip/gcn_circular_message__S190510g.json", "circular"},
  };
  const auto files = FixtureFiles("hop");
  EXPECT_EQ(files.size(), expected.size());
  for (const fs::path& path : files) {
    const std::string rel = fs::relative(path, kFixtures / "hop").generic_string();
    const auto it = expected.find(rel);
    ASSERT_NE(it, expected.end()) << "unexpected fixture " << rel;
    TestMessage tm;
    tm.payload = ReadPath(path);
    EXPECT_EQ(Hop(tm).format, it->second) << rel;
  }
}

// ---------------------------------------------------------------------------------------------
// Hermes

TEST(HermesTest, PhotometryFixture) {
  const auto h = MakeHandler("hermes");
  // As Hermes publishes it: _format json, _id, _sender, title, topic headers.
  const auto p = ParseMessage(*h, Fixture("hermes/photometry_example.json"), "hermes.test",
                     {{"topic", "hermes.test"},
                      {"_id", std::string(16, '\x11')},
                      {"_format", "json"},
                      {"title", "Updated data for SN 2026abc from MyTOM."},
                      {"_sender", "hermes-bot"}});
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.alert.summary,
            "hermes: \"Updated data for SN 2026abc from MyTOM.\" 1 target, 2 photometry rows");
  ASSERT_TRUE(p.alert.hermes != nullptr);
  EXPECT_FALSE(p.alert.gcn != nullptr);
  const HermesRecord& r = *p.alert.hermes;
  EXPECT_EQ(r.title, "Updated data for SN 2026abc from MyTOM.");
  EXPECT_EQ(r.topic, "hermes.test");
  EXPECT_EQ(r.submitter, "MyTOM");
  EXPECT_EQ(r.authors, "A. Observer, B. Reducer");
  EXPECT_EQ(r.message_text, "Two new epochs from the 1m network.");
  EXPECT_EQ(r.event_id, "");
  EXPECT_EQ(r.references_json, "");

  ASSERT_EQ(r.targets.size(), 1u);
  const HermesTarget& t = r.targets[0];
  EXPECT_EQ(t.name, "SN 2026abc");
  EXPECT_EQ(t.ra_deg, 150.1234);
  EXPECT_EQ(t.dec_deg, -20.5678);
  EXPECT_EQ(t.aliases, std::vector<std::string>{"ZTF26aaaaaaa"});
  EXPECT_EQ(t.json,
            R"({"name":"SN 2026abc","ra":"150.1234","dec":"-20.5678","aliases":["ZTF26aaaaaaa"]})");

  ASSERT_EQ(r.photometry.size(), 2u);
  const HermesPhotometry& g = r.photometry[0];
  EXPECT_EQ(g.target_name, "SN 2026abc");
  EXPECT_EQ(g.date_obs, "2026-05-01T03:04:05+00:00");
  // 2026-05-01T00:00Z is JD 2461161.5; 03:04:05 is 11045 s later.
  EXPECT_NEAR(g.date_obs_jd, 2461161.5 + 11045.0 / 86400.0, 1e-9);
  EXPECT_EQ(astro::JdToUnixMs(g.date_obs_jd), 1777604645000);
  EXPECT_EQ(g.telescope, "1m0a.doma.elp.lco");
  EXPECT_EQ(g.instrument, "fa16");
  EXPECT_EQ(g.bandpass, "g");
  EXPECT_EQ(g.brightness, 18.52);
  EXPECT_EQ(g.brightness_error, 0.05);
  EXPECT_EQ(g.brightness_unit, "AB mag");
  EXPECT_EQ(g.limiting_brightness, std::nullopt);
  EXPECT_EQ(g.limiting_brightness_unit, "AB mag");  // default
  EXPECT_EQ(g.exposure_time, std::nullopt);

  const HermesPhotometry& rr = r.photometry[1];
  EXPECT_EQ(rr.target_name, "SN 2026abc");
  EXPECT_EQ(rr.date_obs, "2461161.5");
  EXPECT_EQ(rr.date_obs_jd, 2461161.5);  // a JD is kept exactly
  EXPECT_EQ(rr.telescope, "1m0a.doma.elp.lco");
  EXPECT_EQ(rr.instrument, "");
  EXPECT_EQ(rr.bandpass, "r");
  EXPECT_EQ(rr.brightness, std::nullopt);
  EXPECT_EQ(rr.brightness_error, std::nullopt);
  EXPECT_EQ(rr.brightness_unit, "AB mag");  // default
  EXPECT_EQ(rr.limiting_brightness, 20.2);
  EXPECT_EQ(rr.limiting_brightness_unit, "AB mag");
}

TEST(HermesTest, TextOnlyMessage) {
  const auto h = MakeHandler("hermes");
  const auto p = ParseMessage(*h, R"({"title": "Hello", "topic": "hermes.test", "submitter": "me",
                             "authors": "", "message_text": "Just words."})");
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.alert.summary, "hermes: \"Hello\" 0 targets, 0 photometry rows");
  EXPECT_EQ(p.alert.hermes->message_text, "Just words.");
  EXPECT_TRUE(p.alert.hermes->targets.empty());
  // data: {} and data: null are fine too.
  EXPECT_TRUE(ParseMessage(*h, R"({"title": "x", "data": {}})").status.ok());
  EXPECT_TRUE(ParseMessage(*h, R"({"title": "x", "data": null})").status.ok());
}

TEST(HermesTest, LenientForms) {
  const auto h = MakeHandler("hermes");
  const auto p = ParseMessage(*h, R"({
    "title": "T", "topic": "hermes.test", "submitter": "s", "extra_top_level": [1, 2],
    "data": {
      "event_id": "S240422ed",
      "references": [{"source": "GCN", "citation": "36236"}],
      "spectroscopy": [{"anything": "goes"}],
      "unknown_key": {"x": 1},
      "targets": [
        {"name": "A", "ra": "10:00:36.5", "dec": "-00:30:00", "new_discovery": true},
        {"name": "B", "ra": 150.5, "dec": -20, "aliases": []},
        {"name": 12345, "orbital_elements": {"epoch_of_elements": "57660.0"}}
      ],
      "photometry": [
        {"target_name": "A", "date_obs": 60000.5, "telescope": "T", "bandpass": "V",
         "brightness": "18.5", "brightness_error": " 0.1 ", "exposure_time": 30,
         "brightness_unit": "Vega mag", "observer": "O", "comments": "C", "catalog": "PS1",
         "new_field": "passes"},
        {"target_name": "B", "date_obs": "2461161.5", "instrument": "I", "bandpass": "R",
         "limiting_brightness": 21, "brightness": null, "brightness_error": ""},
        {"target_name": "B", "date_obs": "2026-05-01 03:04:05", "telescope": "T",
         "bandpass": 1, "brightness": 17}
      ]
    }})");
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  const HermesRecord& r = *p.alert.hermes;
  EXPECT_EQ(r.event_id, "S240422ed");
  EXPECT_EQ(r.references_json, R"([{"source":"GCN","citation":"36236"}])");
  ASSERT_EQ(r.targets.size(), 3u);
  EXPECT_NEAR(*r.targets[0].ra_deg, 150.15208333333334, 1e-9);
  EXPECT_EQ(r.targets[0].dec_deg, -0.5);
  EXPECT_EQ(r.targets[1].ra_deg, 150.5);
  EXPECT_EQ(r.targets[1].dec_deg, -20.0);
  EXPECT_EQ(r.targets[2].name, "12345");
  EXPECT_EQ(r.targets[2].ra_deg, std::nullopt);
  EXPECT_EQ(r.targets[2].json,
            R"({"name":12345,"orbital_elements":{"epoch_of_elements":"57660.0"}})");
  ASSERT_EQ(r.photometry.size(), 3u);
  EXPECT_EQ(r.photometry[0].date_obs, "60000.5");
  EXPECT_EQ(r.photometry[0].date_obs_jd, 2460001.0);  // MJD + 2400000.5
  EXPECT_EQ(r.photometry[0].brightness, 18.5);
  EXPECT_EQ(r.photometry[0].brightness_error, 0.1);
  EXPECT_EQ(r.photometry[0].exposure_time, 30.0);
  EXPECT_EQ(r.photometry[0].brightness_unit, "Vega mag");
  EXPECT_EQ(r.photometry[0].observer, "O");
  EXPECT_EQ(r.photometry[0].comments, "C");
  EXPECT_EQ(r.photometry[0].catalog, "PS1");
  EXPECT_EQ(r.photometry[1].date_obs, "2461161.5");
  EXPECT_EQ(r.photometry[1].date_obs_jd, 2461161.5);
  EXPECT_EQ(r.photometry[1].brightness, std::nullopt);
  EXPECT_EQ(r.photometry[1].brightness_error, std::nullopt);
  EXPECT_EQ(r.photometry[1].limiting_brightness, 21.0);
  EXPECT_NEAR(r.photometry[2].date_obs_jd, 2461161.5 + 11045.0 / 86400.0, 1e-9);
  EXPECT_EQ(r.photometry[2].bandpass, "1");
  EXPECT_EQ(p.alert.summary, "hermes: \"T\" 3 targets, 3 photometry rows");
}

TEST(HermesTest, LegacyEnvelope) {
  const auto h = MakeHandler("hermes");
  const std::string inner = Fixture("hermes/photometry_example.json");
  const auto p = ParseMessage(*h, R"({"format": "json", "content": )" + inner + "}");
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.alert.hermes->photometry.size(), 2u);
}

// Replaces the first occurrence of `from` in the Hermes fixture.
std::string FixtureWith(std::string_view from, std::string_view to) {
  std::string s = Fixture("hermes/photometry_example.json");
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

void ExpectRejected(const std::string& payload, std::string_view expected_message) {
  const auto h = MakeHandler("hermes");
  const auto p = ParseMessage(*h, payload);
  EXPECT_EQ(p.status.code(), StatusCode::kInvalidArgument) << payload;
  EXPECT_NE(p.status.message().find(expected_message), std::string::npos)
      << "got: " << p.status.message() << "\nwanted: " << expected_message;
  EXPECT_FALSE(p.alert.hermes != nullptr);
  EXPECT_TRUE(p.alert.summary.empty());
}

TEST(HermesTest, Rejects) {
  const std::string fixture = Fixture("hermes/photometry_example.json");
  ExpectRejected(fixture.substr(0, fixture.size() / 2), "not valid JSON");
  ExpectRejected("", "not valid JSON");
  ExpectRejected("[1, 2]", "not a JSON object");
  ExpectRejected("\"a string\"", "not a JSON object");
  ExpectRejected(R"({"title": "x", "data": [1]})", "data: not an object");
  ExpectRejected(R"({"title": "x", "data": "text"})", "data: not an object");
  ExpectRejected(R"({"title": {"nested": 1}})", "title: expected a string");
  ExpectRejected(R"({"data": {"photometry": {"target_name": "x"}}})",
                 "data.photometry: not an array");
  ExpectRejected(R"({"data": {"targets": "SN 2026abc"}})", "data.targets: not an array");
  ExpectRejected(R"({"data": {"targets": [{"ra": "1", "dec": "2"}]}})",
                 "data.targets[0].name: missing");
  ExpectRejected(R"({"data": {"targets": [{"name": "a"}, 5]}})", "data.targets[1]: not an object");
  ExpectRejected(R"({"data": {"photometry": [[]]}})", "data.photometry[0]: not an object");

  ExpectRejected(FixtureWith(R"("bandpass": "r",)", ""), "data.photometry[1].bandpass: missing");
  ExpectRejected(FixtureWith(R"("bandpass": "g",)", R"("bandpass": "",)"),
                 "data.photometry[0].bandpass: missing");
  ExpectRejected(FixtureWith(R"("date_obs": 2461161.5,)", ""),
                 "data.photometry[1].date_obs: missing");
  ExpectRejected(FixtureWith(R"("target_name": "SN 2026abc",)", ""),
                 "data.photometry[0].target_name: missing");
  // A third row without a bandpass: the path names index 2.
  ExpectRejected(FixtureWith(R"("limiting_brightness_unit": "AB mag"
      })",
                             R"("limiting_brightness_unit": "AB mag"
      }, {"target_name": "SN 2026abc", "date_obs": "2026-05-02", "telescope": "x",
          "brightness": 19})"),
                 "data.photometry[2].bandpass: missing");

  ExpectRejected(FixtureWith("2026-05-01T03:04:05+00:00", "2026-02-30T03:04:05+00:00"),
                 "data.photometry[0].date_obs: not a date-time, JD or MJD: "
                 "\"2026-02-30T03:04:05+00:00\"");
  ExpectRejected(FixtureWith("2026-05-01T03:04:05+00:00", "yesterday"),
                 "data.photometry[0].date_obs: not a date-time, JD or MJD: \"yesterday\"");
  ExpectRejected(FixtureWith("2026-05-01T03:04:05+00:00", "2026-05-01T25:04:05"),
                 "data.photometry[0].date_obs: not a date-time");
  ExpectRejected(FixtureWith("2461161.5", "500"),
                 "data.photometry[1].date_obs: 500 is neither a JD in (2400000, 2600000) "
                 "nor an MJD");
  ExpectRejected(FixtureWith("2461161.5", "2600000"),
                 "data.photometry[1].date_obs: 2600000 is neither");
  ExpectRejected(FixtureWith("2461161.5", "\"2400000\""),
                 "data.photometry[1].date_obs: 2400000 is neither");
  ExpectRejected(FixtureWith("2461161.5", "true"), "data.photometry[1].date_obs: expected");

  ExpectRejected(FixtureWith("18.52", "\"NaN\""),
                 "data.photometry[0].brightness: not a finite number: \"NaN\"");
  ExpectRejected(FixtureWith("18.52", "\"Infinity\""),
                 "data.photometry[0].brightness: not a finite number");
  ExpectRejected(FixtureWith("18.52", "\"-inf\""),
                 "data.photometry[0].brightness: not a finite number");
  ExpectRejected(FixtureWith("18.52", "\"bright\""),
                 "data.photometry[0].brightness: not a finite number: \"bright\"");
  ExpectRejected(FixtureWith("18.52", "true"),
                 "data.photometry[0].brightness: not a finite number");
  ExpectRejected(FixtureWith("18.52", "[18.52]"),
                 "data.photometry[0].brightness: not a finite number");
  ExpectRejected(FixtureWith("0.05", "\"nan\""),
                 "data.photometry[0].brightness_error: not a finite number");
  ExpectRejected(FixtureWith("20.2", "\"NaN\""),
                 "data.photometry[1].limiting_brightness: not a finite number");
  // JSON itself has no NaN literal: that is a parse error.
  ExpectRejected(FixtureWith("18.52", "NaN"), "not valid JSON");

  ExpectRejected(FixtureWith(R"("ra": "150.1234")", R"("ra": "25:00:00")"),
                 "data.targets[0].ra: not a right ascension");
  ExpectRejected(FixtureWith(R"("ra": "150.1234")", R"("ra": "24:00:00")"),
                 "data.targets[0].ra: not a right ascension");
  ExpectRejected(FixtureWith(R"("dec": "-20.5678")", R"("dec": "-91")"),
                 "data.targets[0].dec: not a declination");
  ExpectRejected(FixtureWith(R"("dec": "-20.5678")", R"("dec": "NaN")"),
                 "data.targets[0].dec: not a declination");
  ExpectRejected(FixtureWith(R"("ra": "150.1234")", R"("ra": 400)"),
                 "data.targets[0].ra: out of range: 400");
  ExpectRejected(FixtureWith(R"("ra": "150.1234")", R"("ra": {})"),
                 "data.targets[0].ra: expected a string or a number");
  ExpectRejected(FixtureWith(R"("aliases": [)", R"("aliases": "ZTF26aaaaaaa", "unused": [)"),
                 "data.targets[0].aliases: not an array");
  ExpectRejected(FixtureWith(R"("ZTF26aaaaaaa")", R"("a", {})"),
                 "data.targets[0].aliases[1]: expected a string");
}

// ---------------------------------------------------------------------------------------------
// GCN

struct GcnParsed {
  Status status;
  ParsedAlert alert;
  const GcnRecord& rec() const { return *alert.gcn; }
};

GcnParsed RunGcn(const std::string& payload, std::string topic = "",
                 std::vector<std::pair<std::string, std::optional<std::string>>> headers = {}) {
  static const auto handler = MakeHandler("gcn");
  auto p = ParseMessage(*handler, payload, std::move(topic), std::move(headers));
  GcnParsed g{p.status, std::move(p.alert)};
  if (g.status.ok() && !g.alert.gcn) ADD_FAILURE() << "ok but no GcnRecord";
  return g;
}

void ExpectGcnFixturesParse(const std::string& dir, const char* kind) {
  const auto files = FixtureFiles(dir);
  EXPECT_FALSE(files.empty());
  for (const fs::path& path : files) {
    const auto g = RunGcn(ReadPath(path));
    ASSERT_TRUE(g.status.ok()) << path << ": " << g.status.ToString();
    EXPECT_EQ(g.rec().kind, kind) << path;
    EXPECT_TRUE(g.alert.summary.starts_with("gcn: ")) << g.alert.summary;
    EXPECT_EQ(g.alert.summary.find('\n'), std::string::npos);
    std::printf("  %-62s %s\n", path.filename().c_str(), g.alert.summary.c_str());
  }
}

TEST(GcnTest, EveryJsonFixtureParses) { ExpectGcnFixturesParse("gcn/json", "json"); }
TEST(GcnTest, EveryVoeventFixtureParses) { ExpectGcnFixturesParse("gcn/voevent", "voevent"); }
TEST(GcnTest, EveryTextFixtureParses) { ExpectGcnFixturesParse("gcn/text", "text"); }

TEST(GcnTest, JsonSwiftBatClassic) {
  const auto g = RunGcn(Fixture("gcn/json/classic.SWIFT_BAT_GRB_POS_ACK.example.json"));
  ASSERT_TRUE(g.status.ok()) << g.status.ToString();
  const GcnRecord& r = g.rec();
  EXPECT_EQ(r.kind, "json");
  EXPECT_EQ(r.notice_type, "");  // no $schema, no GCN topic
  EXPECT_EQ(r.mission, "SWIFT");
  EXPECT_EQ(r.instrument, "BAT");
  EXPECT_EQ(r.event_id, "1227767");
  EXPECT_EQ(r.trigger_time_ms, Ms("2024-05-11T18:06:53.220Z"));
  EXPECT_EQ(r.trigger_time_ms, 1715450813220);
  EXPECT_EQ(r.ra_deg, 336.66450000000003);
  EXPECT_EQ(r.dec_deg, 8.5135);
  EXPECT_EQ(r.error_radius_deg, 0.05);
  EXPECT_EQ(r.ivorn, "");
  EXPECT_EQ(g.alert.summary,
            "gcn: SWIFT BAT trigger 1227767 at 2024-05-11T18:06:53.220Z "
            "(ra 336.6645, dec 8.5135, err 0.05)");
}

TEST(GcnTest, JsonEinsteinProbeNewStyle) {
  const auto g = RunGcn(Fixture("gcn/json/einstein_probe.wxt.alert__alert_247.json"),
                        "gcn.notices.einstein_probe.wxt.alert");
  ASSERT_TRUE(g.status.ok()) << g.status.ToString();
  const GcnRecord& r = g.rec();
  EXPECT_EQ(r.notice_type, "einstein_probe.wxt.alert");  // from $schema
  EXPECT_EQ(r.mission, "einstein_probe");                // no "mission" key: $schema's
  EXPECT_EQ(r.instrument, "WXT");
  EXPECT_EQ(r.event_id, "01709259773");
  EXPECT_EQ(r.trigger_time_ms, 1775735111949);
  EXPECT_EQ(r.ra_deg, 184.664);
  EXPECT_EQ(r.dec_deg, -6.146);
  EXPECT_EQ(r.error_radius_deg, 0.05174976);
  EXPECT_EQ(g.alert.summary,
            "gcn: einstein_probe.wxt.alert trigger 01709259773 at 2026-04-09T11:45:11.949Z "
            "(ra 184.664, dec -6.146, err 0.0517)");
}

TEST(GcnTest, JsonOtherClassics) {
  auto g = RunGcn(Fixture("gcn/json/classic.LVC_PRELIMINARY.example.json"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().mission, "LVC");
  EXPECT_EQ(g.rec().event_id, "MS240510f");
  EXPECT_EQ(g.rec().trigger_time_ms, Ms("2024-05-10T05:47:17.764Z"));
  EXPECT_FALSE(g.rec().ra_deg.has_value());

  // No trigger_time (observation_start is not a trigger time), no mission.
  g = RunGcn(Fixture("gcn/json/classic.SWIFT_XRT_POSITION.example.json"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().mission, "");
  EXPECT_EQ(g.rec().event_id, "1227767");
  EXPECT_FALSE(g.rec().trigger_time_ms.has_value());
  EXPECT_EQ(g.rec().ra_deg, 336.6725);
  EXPECT_EQ(g.rec().dec_deg, 8.511800000000001);
  EXPECT_EQ(g.rec().error_radius_deg, 0.0013611111111111111);

  g = RunGcn(Fixture("gcn/json/classic.INTEGRAL_SPIACS.example.json"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().event_id, "0");
  EXPECT_EQ(g.rec().trigger_time_ms, Ms("2024-05-23T12:03:23.680Z"));
  EXPECT_EQ(g.alert.summary, "gcn: json trigger 0 at 2024-05-23T12:03:23.680Z");

  g = RunGcn(Fixture("gcn/json/classic.SK_SN.example.json"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().mission, "Super-Kamiokande");
  EXPECT_EQ(g.rec().event_id, "10063");
  EXPECT_EQ(g.rec().ra_deg, 270.8199);
  EXPECT_EQ(g.rec().dec_deg, 31.46);
}

TEST(GcnTest, JsonNoticeTypeFromTopicAndIgwn) {
  auto g = RunGcn(
      R"({"mission": "SWIFT", "id": [1, 2], "trigger_time": "2024-05-11T18:06:53.22Z"})",
                  "gcn.classic.json.SWIFT_BAT_GRB_POS_ACK");
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().notice_type, "SWIFT_BAT_GRB_POS_ACK");
  EXPECT_EQ(g.rec().event_id, "1,2");

  g = RunGcn(R"({"superevent_id": "S240422ed", "alert_type": "PRELIMINARY",
                 "time_created": "2024-04-22T21:37:05Z",
                 "event": {"time": "2024-04-22T21:35:13.417Z", "instruments": ["H1", "L1"]}})",
             "igwn.gwalert");
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().event_id, "S240422ed");
  EXPECT_EQ(g.rec().notice_type, "PRELIMINARY");
  EXPECT_EQ(g.rec().instrument, "H1,L1");
  EXPECT_EQ(g.rec().trigger_time_ms, Ms("2024-04-22T21:35:13.417Z"));

  // Unknown shapes are still JSON notices; odd values are skipped, not fatal.
  g = RunGcn(R"({"ra": "north", "dec": 95, "trigger_time": "soon"})", "gcn.notices.x.y");
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().notice_type, "x.y");
  EXPECT_FALSE(g.rec().ra_deg.has_value());
  EXPECT_FALSE(g.rec().trigger_time_ms.has_value());
}

TEST(GcnTest, CircularJson) {
  const auto g = RunGcn(
      R"({"$schema": "https://gcn.nasa.gov/schema/v4.1.0/gcn/circulars.schema.json",
      "subject": "GRB 240511A: Swift detection", "circularId": 36236, "eventId": "GRB 240511A",
      "submitter": "A Person at Somewhere", "createdOn": 1715450813220, "body": "text"})",
                        "gcn.circulars");
  ASSERT_TRUE(g.status.ok()) << g.status.ToString();
  EXPECT_EQ(g.rec().kind, "circular");
  EXPECT_EQ(g.rec().title, "GRB 240511A: Swift detection");
  EXPECT_EQ(g.rec().event_id, "36236");
  EXPECT_EQ(g.alert.summary, "gcn: circular 36236 \"GRB 240511A: Swift detection\"");
}

TEST(GcnTest, VoeventSwiftBat) {
  const auto g =
      RunGcn(Fixture("gcn/voevent/SWIFT_BAT_GRB_POS__SWIFT_bat_position_v2.0_example.xml"));
  ASSERT_TRUE(g.status.ok()) << g.status.ToString();
  const GcnRecord& r = g.rec();
  EXPECT_EQ(r.kind, "voevent");
  EXPECT_EQ(r.ivorn, "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_532871-729");
  EXPECT_EQ(r.role, "observation");
  EXPECT_EQ(r.notice_type, "SWIFT_BAT_GRB_POS");
  EXPECT_EQ(r.mission, "SWIFT");
  EXPECT_EQ(r.instrument, "BAT");
  EXPECT_EQ(r.event_id, "532871");
  EXPECT_EQ(r.trigger_time_ms, 1346977463080);  // 2012-09-07T00:24:23.08
  EXPECT_EQ(r.ra_deg, 74.7412);
  EXPECT_EQ(r.dec_deg, -9.3137);
  EXPECT_EQ(r.error_radius_deg, 0.05);
  EXPECT_EQ(g.alert.summary,
            "gcn: SWIFT_BAT_GRB_POS trigger 532871 at 2012-09-07T00:24:23.080Z "
            "(ra 74.7412, dec -9.3137, err 0.05)");
}

TEST(GcnTest, VoeventOthers) {
  auto g = RunGcn(Fixture("gcn/voevent/LVC_PRELIMINARY__lvc_preliminary_75550.xml"),
                  "gcn.classic.voevent.LVC_PRELIMINARY");
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().ivorn, "ivo://gwnet/LVC#MS260402r-1-Preliminary");
  EXPECT_EQ(g.rec().role, "test");
  EXPECT_EQ(g.rec().notice_type, "LVC_PRELIMINARY");
  EXPECT_EQ(g.rec().mission, "LVC");
  EXPECT_EQ(g.rec().instrument, "H1,L1,V1");
  EXPECT_EQ(g.rec().event_id, "MS260402r");
  EXPECT_EQ(g.rec().trigger_time_ms, Ms("2026-04-02T17:56:14.437Z"));
  EXPECT_FALSE(g.rec().ra_deg.has_value());
  EXPECT_EQ(g.alert.summary,
            "gcn: LVC_PRELIMINARY trigger MS260402r at 2026-04-02T17:56:14.437Z [test]");

  g = RunGcn(Fixture("gcn/voevent/LVC_RETRACTION__lvc_retraction_16779.xml"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().notice_type, "LVC_RETRACTION");
  EXPECT_EQ(g.rec().event_id, "MS260408e");

  // The Fin_Pos ivorn has no '_' before its date.
  g = RunGcn(Fixture("gcn/voevent/FERMI_GBM_FIN_POS__fermi_gbm_fin_pos_990.xml"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().notice_type, "FERMI_GBM_FIN_POS");
  EXPECT_EQ(g.rec().mission, "Fermi");
  EXPECT_EQ(g.rec().instrument, "GBM");
  EXPECT_EQ(g.rec().event_id, "792440051");
  EXPECT_EQ(g.rec().trigger_time_ms, Ms("2026-02-10T18:14:06.13"));
  EXPECT_EQ(g.rec().ra_deg, 5.99);
  EXPECT_EQ(g.rec().dec_deg, -48.31);
  EXPECT_EQ(g.rec().error_radius_deg, 10.27);

  // GBM alerts carry 0/0 with a zero radius: no position.
  g = RunGcn(Fixture("gcn/voevent/FERMI_GBM_ALERT__fermi_gbm_alert_4018.xml"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().notice_type, "FERMI_GBM_ALERT");
  EXPECT_EQ(g.rec().event_id, "799614413");
  EXPECT_FALSE(g.rec().ra_deg.has_value());
  EXPECT_FALSE(g.rec().error_radius_deg.has_value());

  // The LAT ivorn's bad date does not matter: the time comes from ISOTime.
  g = RunGcn(Fixture("gcn/voevent/FERMI_LAT_POS_INI__fermi_lat_pos_ini_0.xml"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().notice_type, "FERMI_LAT_INITIAL_POS");
  EXPECT_EQ(g.rec().instrument, "LAT");
  EXPECT_EQ(g.rec().trigger_time_ms, Ms("2026-02-26T10:38:00Z"));
  EXPECT_EQ(g.rec().ra_deg, 42.2333);
  EXPECT_EQ(g.rec().dec_deg, 8.0);
  EXPECT_EQ(g.rec().error_radius_deg, 0.5);

  g = RunGcn(Fixture("gcn/voevent/SWIFT_BAT_GRB_POS_TEST__swift_bat_grb_pos_test_9737.xml"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().role, "test");
  EXPECT_EQ(g.rec().notice_type, "SWIFT_BAT_GRB_TEST_POS");
  EXPECT_EQ(g.rec().event_id, "99999");

  // VOEvent 1.1 namespace, xlink attributes.
  g = RunGcn(Fixture("gcn/voevent/SWIFT_XRT_POSITION__SWIFT_xrt_position_v1.1_example.xml"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().notice_type, "SWIFT_XRT_POS");
  EXPECT_EQ(g.rec().instrument, "XRT");
  EXPECT_EQ(g.rec().event_id, "644259");
  EXPECT_EQ(g.rec().trigger_time_ms, Ms("2015-06-16T23:05:40Z"));
  EXPECT_EQ(g.rec().ra_deg, 314.7162);
  EXPECT_EQ(g.rec().dec_deg, -53.393);
  EXPECT_EQ(g.rec().error_radius_deg, 0.0009);

  // C1/C2 with a pos_unit attribute.
  g = RunGcn(Fixture("gcn/voevent/FERMI_GBM_FLT_POS__pygcn_gbm_flt_pos.xml"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().ra_deg, 193.0);
  EXPECT_EQ(g.rec().dec_deg, -31.75);
  EXPECT_EQ(g.rec().error_radius_deg, 17.4333);

  g = RunGcn(Fixture("gcn/voevent/KONUS_LC__Konus_Lightcurve_2015-07-10T00_28_01.68.xml"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().notice_type, "KONUS_LIGHTCURVE");
  EXPECT_EQ(g.rec().event_id, "1721301681");
  EXPECT_EQ(g.rec().trigger_time_ms, Ms("2015-07-10T00:28:01.68"));
  EXPECT_FALSE(g.rec().ra_deg.has_value());

  // SVOM: its own authority, Burst_Id, Instrument param.
  g = RunGcn(Fixture("gcn/voevent/svom.voevent.mxt__mxt_53.xml"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().ivorn, "ivo://org.svom/fsc#sb26051102_mxt-initial_qf4");
  EXPECT_EQ(g.rec().mission, "SVOM");
  EXPECT_EQ(g.rec().notice_type, "SVOM_MXT_INITIAL");
  EXPECT_EQ(g.rec().instrument, "MXT");
  EXPECT_EQ(g.rec().event_id, "sb26051102");
  EXPECT_EQ(g.rec().trigger_time_ms, Ms("2026-05-11T11:03:32.512Z"));
  EXPECT_EQ(g.rec().ra_deg, 192.5735);
  EXPECT_EQ(g.rec().dec_deg, 4.0405);
  EXPECT_EQ(g.rec().error_radius_deg, 0.0089);

  g = RunGcn(Fixture("gcn/voevent/svom.voevent.grm__grm_354.xml"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().notice_type, "SVOM_GRM_TRIGGER");
  EXPECT_EQ(g.rec().instrument, "GRM");
  EXPECT_FALSE(g.rec().ra_deg.has_value());
  EXPECT_EQ(g.rec().trigger_time_ms, Ms("2026-05-11T11:00:31.700Z"));
}

TEST(GcnTest, TextNotices) {
  auto g = RunGcn(Fixture("gcn/text/AMON_ICECUBE_ASTROTRACK_BRONZE__example_gcn.txt"));
  ASSERT_TRUE(g.status.ok()) << g.status.ToString();
  EXPECT_EQ(g.rec().kind, "text");
  EXPECT_EQ(g.rec().notice_type, "ICECUBE Astrotrack Bronze");
  EXPECT_EQ(g.rec().mission, "AMON");
  EXPECT_EQ(g.rec().event_id, "139279_10803235");
  // DISCOVERY_DATE 20412 TJD = 2024-04-12; DISCOVERY_TIME {05:33:46.89}.
  EXPECT_EQ(g.rec().trigger_time_ms, 1712900026890);
  EXPECT_EQ(g.rec().ra_deg, 103.7861);  // the J2000 line, not (current) or (1950)
  EXPECT_EQ(g.rec().dec_deg, 5.8716);
  EXPECT_NEAR(*g.rec().error_radius_deg, 69.22 / 60.0, 1e-12);  // arcmin

  // The topic names the type when it is a GCN topic.
  g = RunGcn(Fixture("gcn/text/AMON_ICECUBE_ASTROTRACK_BRONZE__example_gcn.txt"),
             "gcn.classic.text.ICECUBE_ASTROTRACK_BRONZE");
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().notice_type, "ICECUBE_ASTROTRACK_BRONZE");

  // TRIGGER_DATE says (yyyy/mm/dd); 79076.157221 SOD {21:57:56.157221}.
  g = RunGcn(Fixture("gcn/text/LVC_PRELIMINARY__S200316bj__skip.txt"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().mission, "LVC");
  EXPECT_EQ(g.rec().notice_type, "LVC Preliminary");
  EXPECT_EQ(g.rec().event_id, "S200316bj");
  EXPECT_EQ(g.rec().trigger_time_ms, 1584395876157);
  EXPECT_FALSE(g.rec().ra_deg.has_value());

  // EVENT_DATE "2019/04/26 (yy/mm/dd)" (a 4-digit year despite the label); the counterpart's
  // position; an arcsec error; OBS_DATE/OBS_TIME are not the trigger.
  g = RunGcn(Fixture("gcn/text/LVC_COUNTERPART__S190426__skip.txt"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().mission, "LVC");
  EXPECT_EQ(g.rec().event_id, "S190426");
  EXPECT_EQ(g.rec().trigger_time_ms, 1556292115000);
  EXPECT_EQ(g.rec().ra_deg, 299.8851);
  EXPECT_EQ(g.rec().dec_deg, 40.731);
  EXPECT_NEAR(*g.rec().error_radius_deg, 7.6 / 3600.0, 1e-12);
  EXPECT_EQ(g.alert.summary,
            "gcn: Other trigger S190426 at 2019-04-26T15:21:55.000Z "
            "(ra 299.8851, dec 40.731, err 0.0021)");
}

TEST(GcnTest, TextNoticeDateFallbacks) {
  // A Swift-style notice: TRIGGER_NUM with a segment, GRB_DATE/GRB_TIME, arcmin error; the
  // date without TJD falls back to yy/mm/dd.
  const std::string notice =
      "TITLE:           GCN/SWIFT NOTICE\n"
      "NOTICE_DATE:     Sat 11 May 24 18:07:13 UT\n"
      "NOTICE_TYPE:     Swift-BAT GRB Position \n"
      "TRIGGER_NUM:     1227767,   Seg_Num: 0\n"
      "GRB_RA:          336.6645d {+22h 26m 39s} (J2000),\n"
      "                 336.9446d {+22h 27m 47s} (current),\n"
      "GRB_DEC:          +8.5135d {+08d 30' 48\"} (J2000),\n"
      "GRB_ERROR:        3.00 [arcmin radius, statistical only]\n"
      "GRB_DATE:        132 DOY;   24/05/11\n"
      "GRB_TIME:        65213.22 SOD UT\n";
  const auto g = RunGcn(notice, "gcn.classic.text.SWIFT_BAT_GRB_POS_ACK");
  ASSERT_TRUE(g.status.ok()) << g.status.ToString();
  EXPECT_EQ(g.rec().notice_type, "SWIFT_BAT_GRB_POS_ACK");
  EXPECT_EQ(g.rec().mission, "SWIFT");
  EXPECT_EQ(g.rec().event_id, "1227767");
  EXPECT_EQ(g.rec().trigger_time_ms, 1715450813220);
  EXPECT_EQ(g.rec().ra_deg, 336.6645);
  EXPECT_EQ(g.rec().dec_deg, 8.5135);
  EXPECT_EQ(g.rec().error_radius_deg, 0.05);
  EXPECT_EQ(g.alert.summary,
            "gcn: SWIFT_BAT_GRB_POS_ACK trigger 1227767 at 2024-05-11T18:06:53.220Z "
            "(ra 336.6645, dec 8.5135, err 0.05)");
  // As a hop gcntextnotice with CRLF line ends.
  std::string crlf;
  for (const char c : notice) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  const auto g2 = RunGcn(crlf, "", {{"_format", "gcntextnotice"}});
  ASSERT_TRUE(g2.status.ok());
  EXPECT_EQ(g2.rec().trigger_time_ms, 1715450813220);
}

TEST(GcnTest, HopFixtures) {
  // GCN3 circular text (a hop 'blob' from hop-client's own test data).
  auto g = RunGcn(Fixture("hop/example.gcn3"));
  ASSERT_TRUE(g.status.ok()) << g.status.ToString();
  EXPECT_EQ(g.rec().kind, "circular");
  EXPECT_EQ(g.rec().event_id, "26936");
  EXPECT_EQ(g.rec().title, "LIGO/Virgo S200129m: Not observable by Fermi-GBM");
  EXPECT_EQ(g.alert.summary,
            "gcn: circular 26936 \"LIGO/Virgo S200129m: Not observable by Fermi-GBM\"");

  g = RunGcn(Fixture("hop/test_data/example_gcn.gcn3"), "", {{"_format", "circular"}});
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().kind, "circular");
  EXPECT_EQ(g.rec().event_id, "40");
  EXPECT_EQ(g.rec().title, "GRB980329 VLA observations");

  // hop-client's GCNCircular JSON (lower-case header keys).
  g = RunGcn(Fixture("hop/expected_data/example_gcn_json.stdout"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().kind, "circular");
  EXPECT_EQ(g.rec().event_id, "40");
  EXPECT_EQ(g.rec().title, "GRB980329 VLA observations");

  // The legacy envelope {"format": "circular", "content": {"header": {UPPER CASE}, "body"}}.
  g = RunGcn(Fixture("hop/skip/gcn_circular_message__S190510g.json"));
  ASSERT_TRUE(g.status.ok()) << g.status.ToString();
  EXPECT_EQ(g.rec().kind, "circular");
  EXPECT_EQ(g.rec().event_id, "24442");
  EXPECT_EQ(g.rec().title,
            "LIGO/Virgo S190510g: Identification of a GW compact binary merger candidate");

  g = RunGcn(Fixture("hop/test_data/example_gcn.txt"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().kind, "text");
  EXPECT_EQ(g.rec().event_id, "139279_10803235");

  // A real LVC VOEvent as XML, and hop-client's JSON rendering of the same event (with the
  // _format header hop-client sets, and without).
  g = RunGcn(Fixture("hop/test_data/example_voevent.xml"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().kind, "voevent");
  EXPECT_EQ(g.rec().ivorn, "ivo://gwnet/LVC#S200302c-1-Preliminary");
  EXPECT_EQ(g.rec().role, "observation");
  EXPECT_EQ(g.rec().notice_type, "LVC_PRELIMINARY");
  EXPECT_EQ(g.rec().event_id, "S200302c");
  EXPECT_EQ(g.rec().instrument, "H1,V1");
  EXPECT_EQ(g.rec().trigger_time_ms, Ms("2020-03-02T01:58:11.519Z"));
  const GcnRecord from_xml = g.rec();
  for (const bool with_header : {true, false}) {
    std::vector<std::pair<std::string, std::optional<std::string>>> headers;
    if (with_header) headers.emplace_back("_format", "voevent");
    g = RunGcn(Fixture("hop/expected_data/example_voevent_json.stdout"), "", headers);
    ASSERT_TRUE(g.status.ok()) << g.status.ToString();
    EXPECT_EQ(g.rec().kind, "voevent");
    EXPECT_EQ(g.rec().ivorn, from_xml.ivorn);
    EXPECT_EQ(g.rec().role, from_xml.role);
    EXPECT_EQ(g.rec().notice_type, from_xml.notice_type);
    EXPECT_EQ(g.rec().event_id, from_xml.event_id);
    EXPECT_EQ(g.rec().instrument, from_xml.instrument);
    EXPECT_EQ(g.rec().trigger_time_ms, from_xml.trigger_time_ms);
  }

  // Any JSON object is accepted as a JSON notice (nothing to extract from this one).
  g = RunGcn(Fixture("hop/test_data/example_json.json"));
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(g.rec().kind, "json");
  EXPECT_EQ(g.alert.summary, "gcn: json");

  // Not GCN at all.
  EXPECT_EQ(RunGcn(Fixture("hop/test_data/example_blob.txt")).status.code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RunGcn(Fixture("hop/test_data/example_avro.avro")).status.code(),
            StatusCode::kInvalidArgument);
}

void ExpectGcnRejected(const std::string& payload, std::string_view expected_message,
                       std::vector<std::pair<std::string, std::optional<std::string>>> headers =
                           {}) {
  const auto g = RunGcn(payload, "gcn.classic.voevent.X", std::move(headers));
  EXPECT_EQ(g.status.code(), StatusCode::kInvalidArgument) << payload.substr(0, 80);
  EXPECT_NE(g.status.message().find(expected_message), std::string::npos)
      << "got: " << g.status.message() << "\nwanted: " << expected_message;
  EXPECT_FALSE(g.alert.gcn != nullptr);
}

TEST(GcnTest, Rejects) {
  const std::string xml =
      Fixture("gcn/voevent/SWIFT_BAT_GRB_POS__SWIFT_bat_position_v2.0_example.xml");
  ExpectGcnRejected(xml.substr(0, xml.size() / 2), "VOEvent XML: not well-formed");
  ExpectGcnRejected("<foo><bar/></foo>", "root element is <foo>, not a VOEvent");
  ExpectGcnRejected("<voe:VOEvent", "not well-formed");
  const std::string json = Fixture("gcn/json/classic.SWIFT_BAT_GRB_POS_ACK.example.json");
  ExpectGcnRejected(json.substr(0, json.size() / 2), "JSON: not valid");
  ExpectGcnRejected("", "empty message");
  ExpectGcnRejected("   \n  ", "empty message");
  ExpectGcnRejected("[1, 2, 3]", "not a GCN notice or circular");
  ExpectGcnRejected("This is a sample blob message.", "not a GCN notice or circular");
  ExpectGcnRejected("FOO: bar\nBAZ: 1\n", "no TITLE or NOTICE_TYPE");
  ExpectGcnRejected(std::string("TITLE: x\0y", 10), "binary content");
  ExpectGcnRejected(R"({"ivorn_missing": true})", "not a VOEvent", {{"_format", "voevent"}});
  ExpectGcnRejected(R"({"mission": "SWIFT"})", "not a GCN circular", {{"_format", "circular"}});
  ExpectGcnRejected("Just some words\nand more", "not a GCN notice or circular",
                    {{"_format", "circular"}});
  ExpectGcnRejected("DATE: 1\nFROM: x\n", "no NUMBER or SUBJECT", {{"_format", "circular"}});
}

// ---------------------------------------------------------------------------------------------
// Rough per-message cost (printed, not asserted).

// Runs `fn` up to `n` times, stopping early after about a second (sanitizer and debug builds
// are many times slower; ctest's timeout is 60 s). Returns nanoseconds per call.
template <typename Fn>
double NanosPerCall(int n, int& done, Fn&& fn) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto budget = std::chrono::seconds(1);
  done = 0;
  while (done < n) {
    for (int i = 0; i < 100 && done < n; ++i, ++done) fn();
    if (Clock::now() - start > budget) break;
  }
  const auto elapsed = Clock::now() - start;
  return std::chrono::duration<double, std::nano>(elapsed).count() / done;
}

TEST(HandlersTest, ParseCostReport) {
  struct Case {
    const char* label;
    const char* handler;
    std::string file;
    std::vector<std::pair<std::string, std::optional<std::string>>> headers;
    int n;
  };
  const std::vector<Case> cases = {
      {"hermes photometry (_format json)", "hermes", "hermes/photometry_example.json",
       {{"_format", "json"}, {"_id", std::string(16, 'x')}, {"_sender", "hermes"}}, 100000},
      {"gcn classic JSON (no headers)", "gcn",
       "gcn/json/classic.SWIFT_BAT_GRB_POS_ACK.example.json",
       {}, 100000},
      {"gcn new JSON (no headers)", "gcn", "gcn/json/einstein_probe.wxt.alert__alert_247.json",
       {}, 100000},
      {"gcn VOEvent XML 9 KB", "gcn",
       "gcn/voevent/SWIFT_BAT_GRB_POS__SWIFT_bat_position_v2.0_example.xml", {}, 20000},
      {"gcn text notice", "gcn", "gcn/text/AMON_ICECUBE_ASTROTRACK_BRONZE__example_gcn.txt", {},
       100000},
      {"raw", "raw", "gcn/json/classic.SWIFT_BAT_GRB_POS_ACK.example.json", {}, 100000},
  };
  for (const Case& c : cases) {
    TestMessage tm;
    tm.topic = "bench";
    tm.payload = Fixture(c.file);
    tm.headers = c.headers;
    const Message m = tm.Get();
    const auto handler = MakeHandler(c.handler);
    size_t sink = 0;
    int done = 0;
    const double ns = NanosPerCall(c.n, done, [&] {
      const HopInfo hop = ReadHop(m);
      ParsedAlert out;
      const Status st = handler->Parse(m, hop, out);
      sink += st.ok() ? out.summary.size() : 0;
    });
    EXPECT_GT(sink, 0u);
    std::printf("  parse cost %-36s %6zu bytes %8.0f ns/msg (%.0f msg/s on one thread, %d runs)\n",
                c.label, tm.payload.size(), ns, 1e9 / ns, done);
  }
}

}  // namespace
}  // namespace tomstream::handlers
