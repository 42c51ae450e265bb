// tomctl's photometry file reader: CSV and JSON into PhotometryMessages.
#include "photometry_file.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tomstream::tomctl {
namespace {

namespace fs = std::filesystem;
namespace pb = tomstream::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class PhotometryFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "photometry_file_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string Write(const std::string& name, const std::string& content) {
    const fs::path path = dir_ / name;
    std::ofstream out(path, std::ios::binary);
    out << content;
    EXPECT_TRUE(out.good()) << path;
    return path.string();
  }

  // Writes `content` as `name` and reads it; fails the test on an error.
  std::vector<pb::PhotometryMessage> Read(const std::string& name, const std::string& content,
                                          const PublishDefaults& defaults = {},
                                          const std::string& format = "") {
    const std::string path = Write(name, content);
    auto r = ReadPhotometryFile(path, format, defaults);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) return {};
    return std::move(r).value();
  }

  // Writes `content` as `name`, reads it and returns the error message (failing when it reads).
  std::string Error(const std::string& name, const std::string& content,
                    const std::string& format = "") {
    const std::string path = Write(name, content);
    auto r = ReadPhotometryFile(path, format, {});
    EXPECT_FALSE(r.ok()) << "read without error: " << name;
    if (r.ok()) return {};
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), StartsWith(path + ": "));
    return r.status().message();
  }

  fs::path dir_;
};

// --- CSV syntax ------------------------------------------------------------------------------

TEST_F(PhotometryFileTest, CsvQuotingBomCrlfAndEmbeddedNewlines) {
  const std::string csv =
      "\xEF\xBB\xBF"
      "target_name,date_obs,telescope,bandpass,brightness,comments\r\n"
      "\"SN 2026abc\",2026-05-01T03:04:05Z,\"1m0a, dome A\",g,18.52,"
      "\"line one\r\nline \"\"two\"\", with comma\"\r\n"
      "SN 2026abc , 2461161.5 ,1m0a,r, 18.6 ,\r\n";
  const auto msgs = Read("a.csv", csv);
  ASSERT_EQ(msgs.size(), 1u);
  const auto& m = msgs[0];
  ASSERT_EQ(m.targets_size(), 1);
  EXPECT_EQ(m.targets(0).name(), "SN 2026abc");
  ASSERT_EQ(m.photometry_size(), 2);
  const auto& p0 = m.photometry(0);
  EXPECT_EQ(p0.target_name(), "SN 2026abc");
  EXPECT_EQ(p0.date_obs_iso(), "2026-05-01T03:04:05Z");
  EXPECT_EQ(p0.telescope(), "1m0a, dome A");
  EXPECT_EQ(p0.bandpass(), "g");
  EXPECT_DOUBLE_EQ(p0.brightness(), 18.52);
  EXPECT_EQ(p0.comments(), "line one\r\nline \"two\", with comma");
  const auto& p1 = m.photometry(1);
  EXPECT_EQ(p1.target_name(), "SN 2026abc");
  EXPECT_DOUBLE_EQ(p1.date_obs_jd(), 2461161.5);
  EXPECT_TRUE(p1.date_obs_iso().empty());
  EXPECT_DOUBLE_EQ(p1.brightness(), 18.6);
  EXPECT_EQ(p1.comments(), "");
  EXPECT_FALSE(p1.has_brightness_error());
}

TEST_F(PhotometryFileTest, CsvLfBlankLinesAndNoFinalNewline) {
  const std::string csv =
      "\n"
      "target_name,date_obs,bandpass,brightness,brightness_error,telescope\n"
      "T1,61161.25,g,18.5,,lco\n"
      "\n"
      ",,,,,\n"
      "T1,61162.25,g,,0.1,lco";
  const auto msgs = Read("b.csv", csv);
  ASSERT_EQ(msgs.size(), 1u);
  ASSERT_EQ(msgs[0].photometry_size(), 2);
  EXPECT_DOUBLE_EQ(msgs[0].photometry(0).date_obs_mjd(), 61161.25);
  EXPECT_TRUE(msgs[0].photometry(0).has_brightness());
  EXPECT_FALSE(msgs[0].photometry(0).has_brightness_error());
  EXPECT_FALSE(msgs[0].photometry(1).has_brightness());
  EXPECT_DOUBLE_EQ(msgs[0].photometry(1).brightness_error(), 0.1);
}

TEST_F(PhotometryFileTest, CsvLineNumbersCountLinesInsideQuotedCells) {
  // The third record starts on physical line 4 because the second spans lines 2-3.
  const std::string csv =
      "target_name,date_obs,brightness,comments\n"
      "T1,61161,18.5,\"two\nlines\"\n"
      "T1,61162,eighteen,\n";
  const std::string e = Error("c.csv", csv);
  EXPECT_THAT(e, HasSubstr("line 4, column brightness"));
  EXPECT_THAT(e, HasSubstr("not a number"));
  EXPECT_THAT(e, HasSubstr("eighteen"));
}

TEST_F(PhotometryFileTest, CsvSyntaxErrors) {
  EXPECT_THAT(Error("q.csv", "target_name,comments\nT1,\"never closed\nT2,x\n"),
              HasSubstr("line 2: a quoted cell is never closed"));
  EXPECT_THAT(Error("r.csv", "target_name,comments\nT1,\"a\"b\n"),
              HasSubstr("line 2: unexpected text after a closing quote"));
  EXPECT_THAT(Error("s.csv", "target_name,bandpass\nT1,g,extra\n"),
              HasSubstr("line 2: 3 cells, but the header has 2 columns"));
  EXPECT_THAT(Error("t.csv", "target_name,bandpass\n"), HasSubstr("no data rows"));
  EXPECT_THAT(Error("u.csv", ""), HasSubstr("no header row"));
  EXPECT_THAT(Error("v.csv", "bandpass,brightness\ng,18\n"), HasSubstr("no target_name column"));
  EXPECT_THAT(Error("w.csv", "target_name,bandpass\n,g\n"),
              HasSubstr("line 2: target_name is empty"));
  EXPECT_THAT(Error("x.csv", "target_name,comments\nT1,caf\xC3\n"),
              HasSubstr("line 2: not valid UTF-8"));
}

// --- Columns ---------------------------------------------------------------------------------

TEST_F(PhotometryFileTest, TomToolkitColumnNamesAndUnits) {
  const std::string csv =
      "Target_Name,date_obs,filter,magnitude,error,limit,unit,limiting_brightness_unit,telescope\n"
      "T1,2461161.5,g,18.5,0.05,,AB,,lco\n"
      "T1,2461162.5,r,,,20.1,ABFLUX,ABFLUX,lco\n"
      "T1,2461163.5,i,17.9,,,Vega mag,,lco\n";
  const auto msgs = Read("tom.csv", csv);
  ASSERT_EQ(msgs.size(), 1u);
  ASSERT_EQ(msgs[0].photometry_size(), 3);
  const auto& p0 = msgs[0].photometry(0);
  EXPECT_EQ(p0.bandpass(), "g");
  EXPECT_DOUBLE_EQ(p0.brightness(), 18.5);
  EXPECT_DOUBLE_EQ(p0.brightness_error(), 0.05);
  EXPECT_FALSE(p0.has_limiting_brightness());
  EXPECT_EQ(p0.brightness_unit(), "AB mag");
  const auto& p1 = msgs[0].photometry(1);
  EXPECT_FALSE(p1.has_brightness());
  EXPECT_DOUBLE_EQ(p1.limiting_brightness(), 20.1);
  EXPECT_EQ(p1.brightness_unit(), "AB mag");
  EXPECT_EQ(p1.limiting_brightness_unit(), "AB mag");
  EXPECT_EQ(msgs[0].photometry(2).brightness_unit(), "Vega mag");

  const auto msgs2 = Read("tom2.csv", "target_name,date_obs,magnitude,magnitude_error\nT,61161,18,0.2\n");
  ASSERT_EQ(msgs2.size(), 1u);
  EXPECT_DOUBLE_EQ(msgs2[0].photometry(0).brightness_error(), 0.2);
}

TEST_F(PhotometryFileTest, AllCanonicalColumns) {
  const std::string csv =
      "target_name,date_obs,telescope,instrument,bandpass,brightness,brightness_error,"
      "brightness_unit,limiting_brightness,limiting_brightness_error,limiting_brightness_unit,"
      "exposure_time,observer,comments,catalog,ra,dec,aliases,redshift\n"
      "T1,2026-05-01,tel,inst,V,15.5,0.01,mJy,21,0.2,Vega mag,300,Ann,note,gaia,10.5,-20.25,"
      "A1;A2,0.031\n";
  const auto msgs = Read("all.csv", csv);
  ASSERT_EQ(msgs.size(), 1u);
  const auto& p = msgs[0].photometry(0);
  EXPECT_EQ(p.date_obs_iso(), "2026-05-01");
  EXPECT_EQ(p.telescope(), "tel");
  EXPECT_EQ(p.instrument(), "inst");
  EXPECT_EQ(p.bandpass(), "V");
  EXPECT_DOUBLE_EQ(p.brightness(), 15.5);
  EXPECT_DOUBLE_EQ(p.brightness_error(), 0.01);
  EXPECT_EQ(p.brightness_unit(), "mJy");
  EXPECT_DOUBLE_EQ(p.limiting_brightness(), 21);
  EXPECT_DOUBLE_EQ(p.limiting_brightness_error(), 0.2);
  EXPECT_EQ(p.limiting_brightness_unit(), "Vega mag");
  EXPECT_DOUBLE_EQ(p.exposure_time(), 300);
  EXPECT_EQ(p.observer(), "Ann");
  EXPECT_EQ(p.comments(), "note");
  EXPECT_EQ(p.catalog(), "gaia");
  const auto& t = msgs[0].targets(0);
  EXPECT_EQ(t.ra(), "10.5");
  EXPECT_EQ(t.dec(), "-20.25");
  EXPECT_THAT(t.aliases(), ElementsAre("A1", "A2"));
  EXPECT_DOUBLE_EQ(t.redshift(), 0.031);
}

TEST_F(PhotometryFileTest, UnknownAndDuplicateColumns) {
  const std::string e = Error("unk.csv", "target_name,flux,bandpass\nT1,3,g\n");
  EXPECT_THAT(e, HasSubstr("line 1: unknown column \"flux\""));
  EXPECT_THAT(Error("dup.csv", "target_name,magnitude,brightness\nT1,1,2\n"),
              HasSubstr("columns \"magnitude\" and \"brightness\" both give brightness"));
  EXPECT_THAT(Error("noname.csv", "target_name,,bandpass\nT1,,g\n"),
              HasSubstr("column 2 has no name"));
}

// --- date_obs --------------------------------------------------------------------------------

TEST_F(PhotometryFileTest, DateObsIsoJdMjd) {
  const std::string csv =
      "target_name,date_obs\n"
      "T,2026-05-01T03:04:05+00:00\n"
      "T,2026-05-01 03:04:05.250\n"
      "T,2461161.5\n"
      "T,61161.0\n"
      "T,+60000\n";
  const auto msgs = Read("d.csv", csv);
  ASSERT_EQ(msgs.size(), 1u);
  ASSERT_EQ(msgs[0].photometry_size(), 5);
  const auto& p = msgs[0].photometry();
  EXPECT_EQ(p[0].date_obs_iso(), "2026-05-01T03:04:05+00:00");
  EXPECT_EQ(p[0].date_obs_jd(), 0);
  EXPECT_EQ(p[0].date_obs_mjd(), 0);
  EXPECT_EQ(p[1].date_obs_iso(), "2026-05-01 03:04:05.250");
  EXPECT_DOUBLE_EQ(p[2].date_obs_jd(), 2461161.5);
  EXPECT_EQ(p[2].date_obs_mjd(), 0);
  EXPECT_TRUE(p[2].date_obs_iso().empty());
  EXPECT_DOUBLE_EQ(p[3].date_obs_mjd(), 61161.0);
  EXPECT_EQ(p[3].date_obs_jd(), 0);
  EXPECT_DOUBLE_EQ(p[4].date_obs_mjd(), 60000);

  EXPECT_THAT(Error("d1.csv", "target_name,date_obs\nT,yesterday\n"),
              HasSubstr("line 2, column date_obs: not an ISO 8601 date-time"));
  EXPECT_THAT(Error("d2.csv", "target_name,date_obs\nT,2026-13-01T00:00:00Z\n"),
              HasSubstr("line 2, column date_obs"));
  EXPECT_THAT(Error("d3.csv", "target_name,date_obs\nT,5\n"),
              HasSubstr("line 2, column date_obs: 5 is neither a JD"));
  EXPECT_THAT(Error("d4.csv", "target_name,date_obs\nT,2700000\n"),
              HasSubstr("outside the JD range"));
}

// --- Grouping --------------------------------------------------------------------------------

TEST_F(PhotometryFileTest, SeveralTargetsInOrderOfFirstAppearance) {
  const std::string csv =
      "target_name,ra,dec,aliases,redshift,date_obs,bandpass,brightness\n"
      "SN B,150.10,-20.5,ZTF1; ATLAS2,0.05,61161,g,18\n"
      "SN A,10:00:00,+05:00:00,,,61161,g,19\n"
      "SN B,,,,,61162,r,18.1\n"
      "SN C,1,2,,,61161,g,20\n"
      "SN B,150.1,-20.5,ZTF1;ATLAS2,0.05,61163,i,18.2\n";
  const auto msgs = Read("g.csv", csv);
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[0].targets(0).name(), "SN B");
  EXPECT_EQ(msgs[1].targets(0).name(), "SN A");
  EXPECT_EQ(msgs[2].targets(0).name(), "SN C");
  EXPECT_EQ(msgs[0].photometry_size(), 3);
  EXPECT_EQ(msgs[1].photometry_size(), 1);
  EXPECT_EQ(msgs[2].photometry_size(), 1);
  for (const auto& m : msgs) {
    ASSERT_EQ(m.targets_size(), 1);
    for (const auto& p : m.photometry()) EXPECT_EQ(p.target_name(), m.targets(0).name());
  }
  const auto& b = msgs[0].targets(0);
  EXPECT_EQ(b.ra(), "150.10");
  EXPECT_EQ(b.dec(), "-20.5");
  EXPECT_THAT(b.aliases(), ElementsAre("ZTF1", "ATLAS2"));
  EXPECT_TRUE(b.has_redshift());
  EXPECT_DOUBLE_EQ(b.redshift(), 0.05);
  EXPECT_EQ(msgs[1].targets(0).ra(), "10:00:00");
  EXPECT_EQ(msgs[1].targets(0).dec(), "+05:00:00");
  EXPECT_FALSE(msgs[1].targets(0).has_redshift());
  EXPECT_EQ(msgs[1].targets(0).aliases_size(), 0);
  EXPECT_DOUBLE_EQ(msgs[0].photometry(1).brightness(), 18.1);
  EXPECT_EQ(msgs[0].title(), "Photometry of SN B");
  EXPECT_EQ(msgs[1].title(), "Photometry of SN A");
  EXPECT_EQ(msgs[0].extra_data_json(), "");
}

TEST_F(PhotometryFileTest, ConflictingTargetValuesNameTheLine) {
  const std::string csv =
      "target_name,ra,dec,date_obs\n"
      "T1,150.1,-20,61161\n"
      "T2,1,2,61161\n"
      "T1,,,61162\n"
      "T1,151.0,-20,61163\n";
  const std::string e = Error("conflict.csv", csv);
  EXPECT_THAT(e, HasSubstr("line 5, column ra"));
  EXPECT_THAT(e, HasSubstr("\"151.0\" differs from \"150.1\""));
  EXPECT_THAT(e, HasSubstr("target \"T1\" (line 2)"));
  EXPECT_THAT(Error("conflict2.csv",
                    "target_name,redshift,date_obs\nT1,0.1,61161\nT1,0.2,61162\n"),
              HasSubstr("line 3, column redshift"));
  EXPECT_THAT(Error("conflict3.csv",
                    "target_name,aliases,date_obs\nT1,a;b,61161\nT1,a,61162\n"),
              HasSubstr("line 3, column aliases"));
}

// --- Defaults and idempotency keys -----------------------------------------------------------

TEST_F(PhotometryFileTest, DefaultsAreCopiedIntoEveryMessage) {
  PublishDefaults d;
  d.destination = "hermes";
  d.topic = "hermes.test";
  d.title = "My photometry";
  d.submitter = "MyTOM";
  d.authors = "A. Observer";
  d.message_text = "Hello";
  const auto msgs = Read("def.csv", "target_name,date_obs\nT1,61161\nT2,61161\n", d);
  ASSERT_EQ(msgs.size(), 2u);
  for (const auto& m : msgs) {
    EXPECT_EQ(m.destination(), "hermes");
    EXPECT_EQ(m.topic(), "hermes.test");
    EXPECT_EQ(m.title(), "My photometry");
    EXPECT_EQ(m.submitter(), "MyTOM");
    EXPECT_EQ(m.authors(), "A. Observer");
    EXPECT_EQ(m.message_text(), "Hello");
    EXPECT_EQ(m.idempotency_key(), "");
  }
}

TEST_F(PhotometryFileTest, IdempotencyKeyIsSuffixedOnlyForSeveralMessages) {
  PublishDefaults d;
  d.idempotency_key = "run-7";
  const auto one = Read("one.csv", "target_name,date_obs\nT1,61161\nT1,61162\n", d);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].idempotency_key(), "run-7");
  const auto two = Read("two.csv", "target_name,date_obs\nSN B,61161\nSN A,61162\n", d);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].idempotency_key(), "run-7:SN B");
  EXPECT_EQ(two[1].idempotency_key(), "run-7:SN A");
}

// --- JSON ------------------------------------------------------------------------------------

const char* const kHermesMessage = R"({
  "title": "Updated data for SN 2026abc from MyTOM.",
  "topic": "hermes.test",
  "submitter": "MyTOM",
  "authors": "A. Observer, B. Reducer",
  "message_text": "",
  "data": {
    "event_id": "S230518h",
    "references": [{"source": "TNS", "citation": "2026abc"}],
    "targets": [
      {"name": "SN 2026abc", "ra": "150.1234", "dec": "-20.5678", "aliases": ["ZTF26aaaaaaa"],
       "redshift": 0.02, "new_discovery": true, "discovery_info": {"reporting_group": "X"}}
    ],
    "photometry": [
      {"target_name": "SN 2026abc", "date_obs": "2026-05-01T03:04:05+00:00",
       "telescope": "1m0a.doma.elp.lco", "instrument": "fa16", "bandpass": "g",
       "brightness": 18.52, "brightness_error": 0.05, "brightness_unit": "AB mag"},
      {"target_name": "SN 2026abc", "date_obs": 2461161.5, "telescope": "1m0a.doma.elp.lco",
       "bandpass": "r", "limiting_brightness": 20.2, "limiting_brightness_unit": "AB mag"},
      {"target_name": "SN 2026abc", "date_obs": "61161.5", "telescope": "t",
       "bandpass": "i", "brightness": "18.7", "observer": null}
    ]
  }
})";

TEST_F(PhotometryFileTest, JsonFullMessage) {
  PublishDefaults d;
  d.topic = "hermes.other";  // wins over the file
  d.destination = "hermes";
  d.authors = "ignored: the file has authors";
  d.message_text = "from the command line";  // fills the empty message_text
  const auto msgs = Read("m.json", kHermesMessage, d);
  ASSERT_EQ(msgs.size(), 1u);
  const auto& m = msgs[0];
  EXPECT_EQ(m.title(), "Updated data for SN 2026abc from MyTOM.");
  EXPECT_EQ(m.topic(), "hermes.other");
  EXPECT_EQ(m.destination(), "hermes");
  EXPECT_EQ(m.submitter(), "MyTOM");
  EXPECT_EQ(m.authors(), "A. Observer, B. Reducer");
  EXPECT_EQ(m.message_text(), "from the command line");
  EXPECT_EQ(m.extra_data_json(),
            R"({"event_id":"S230518h","references":[{"citation":"2026abc","source":"TNS"}]})");
  ASSERT_EQ(m.targets_size(), 1);
  const auto& t = m.targets(0);
  EXPECT_EQ(t.name(), "SN 2026abc");
  EXPECT_EQ(t.ra(), "150.1234");
  EXPECT_EQ(t.dec(), "-20.5678");
  EXPECT_THAT(t.aliases(), ElementsAre("ZTF26aaaaaaa"));
  EXPECT_DOUBLE_EQ(t.redshift(), 0.02);
  EXPECT_TRUE(t.new_discovery());
  EXPECT_EQ(t.discovery_info_json(), R"({"reporting_group":"X"})");
  ASSERT_EQ(m.photometry_size(), 3);
  EXPECT_EQ(m.photometry(0).date_obs_iso(), "2026-05-01T03:04:05+00:00");
  EXPECT_EQ(m.photometry(0).instrument(), "fa16");
  EXPECT_DOUBLE_EQ(m.photometry(0).brightness(), 18.52);
  EXPECT_DOUBLE_EQ(m.photometry(0).brightness_error(), 0.05);
  EXPECT_EQ(m.photometry(0).brightness_unit(), "AB mag");
  EXPECT_DOUBLE_EQ(m.photometry(1).date_obs_jd(), 2461161.5);
  EXPECT_FALSE(m.photometry(1).has_brightness());
  EXPECT_DOUBLE_EQ(m.photometry(1).limiting_brightness(), 20.2);
  EXPECT_DOUBLE_EQ(m.photometry(2).date_obs_mjd(), 61161.5);
  EXPECT_DOUBLE_EQ(m.photometry(2).brightness(), 18.7);
  EXPECT_EQ(m.photometry(2).observer(), "");

  // Without defaults the file's topic stays.
  const auto plain = Read("m2.json", kHermesMessage);
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0].topic(), "hermes.test");
  EXPECT_EQ(plain[0].destination(), "");
}

TEST_F(PhotometryFileTest, JsonArrayOfMessages) {
  const std::string doc = R"([
    {"title": "", "data": {"targets": [{"name": "A", "ra": 10.5, "dec": "1"}],
                           "photometry": [{"target_name": "A", "date_obs": 61161,
                                           "filter": "g", "magnitude": 18, "unit": "ABFLUX"}]}},
    {"title": "Second", "topic": "t2", "idempotency_key": "own-key",
     "data": {"targets": [{"name": "B", "ra": "1", "dec": "2"}], "photometry": []}},
    {"data": {"targets": [{"name": "C", "ra": "1", "dec": "2"}], "photometry": []}}
  ])";
  PublishDefaults d;
  d.idempotency_key = "k";
  d.submitter = "cli";
  const auto msgs = Read("arr.json", doc, d);
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[0].title(), "Photometry of A");
  EXPECT_EQ(msgs[0].targets(0).ra(), "10.5");
  EXPECT_EQ(msgs[0].submitter(), "cli");
  ASSERT_EQ(msgs[0].photometry_size(), 1);
  EXPECT_EQ(msgs[0].photometry(0).bandpass(), "g");
  EXPECT_DOUBLE_EQ(msgs[0].photometry(0).brightness(), 18);
  EXPECT_EQ(msgs[0].photometry(0).brightness_unit(), "AB mag");
  EXPECT_DOUBLE_EQ(msgs[0].photometry(0).date_obs_mjd(), 61161);
  EXPECT_EQ(msgs[0].idempotency_key(), "k:A");
  EXPECT_EQ(msgs[1].title(), "Second");
  EXPECT_EQ(msgs[1].topic(), "t2");
  EXPECT_EQ(msgs[1].idempotency_key(), "own-key");
  EXPECT_EQ(msgs[2].idempotency_key(), "k:C");
  EXPECT_EQ(msgs[2].extra_data_json(), "");
}

TEST_F(PhotometryFileTest, JsonArrayOfFlatRows) {
  const std::string doc = R"([
    {"target_name": "B", "ra": 150.5, "dec": "-2", "aliases": ["x", "y"], "date_obs": 61161,
     "bandpass": "g", "brightness": 18.1},
    {"target_name": "A", "date_obs": "2026-05-01T00:00:00Z", "filter": "r", "limit": "20.5",
     "ra": null, "aliases": "p;q"},
    {"target_name": "B", "ra": "150.50", "date_obs": 2461161.5, "bandpass": "g",
     "brightness": 18.2}
  ])";
  PublishDefaults d;
  d.idempotency_key = "k";
  const auto msgs = Read("rows.json", doc, d);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].targets(0).name(), "B");
  EXPECT_EQ(msgs[0].targets(0).ra(), "150.5");
  EXPECT_EQ(msgs[0].targets(0).dec(), "-2");
  EXPECT_THAT(msgs[0].targets(0).aliases(), ElementsAre("x", "y"));
  ASSERT_EQ(msgs[0].photometry_size(), 2);
  EXPECT_DOUBLE_EQ(msgs[0].photometry(0).date_obs_mjd(), 61161);
  EXPECT_DOUBLE_EQ(msgs[0].photometry(1).date_obs_jd(), 2461161.5);
  EXPECT_EQ(msgs[1].targets(0).name(), "A");
  EXPECT_THAT(msgs[1].targets(0).aliases(), ElementsAre("p", "q"));
  EXPECT_DOUBLE_EQ(msgs[1].photometry(0).limiting_brightness(), 20.5);
  EXPECT_EQ(msgs[1].photometry(0).bandpass(), "r");
  EXPECT_EQ(msgs[0].idempotency_key(), "k:B");
  EXPECT_EQ(msgs[1].idempotency_key(), "k:A");
  EXPECT_EQ(msgs[1].title(), "Photometry of A");
}

TEST_F(PhotometryFileTest, JsonErrorsNameTheElementAndField) {
  EXPECT_THAT(Error("e1.json", R"([{"target_name": "A", "brightness": "bright"}])"),
              HasSubstr("[0].brightness: not a number: \"bright\""));
  EXPECT_THAT(Error("e2.json", R"([{"target_name": "A", "flux": 1}])"),
              HasSubstr("[0]: unknown key \"flux\""));
  EXPECT_THAT(Error("e3.json", R"({"title": "x", "data": {"photometry": [{"target_name": "A"},
                                   {"target_name": "A", "date_obs": "soon"}]}})"),
              HasSubstr("data.photometry[1].date_obs: not an ISO 8601 date-time"));
  EXPECT_THAT(Error("e4.json", R"({"title": "x", "data": {"photometry": [{"ra": "1"}]}})"),
              HasSubstr("data.photometry[0]: unknown key \"ra\""));
  EXPECT_THAT(Error("e5.json", R"({"title": "x", "uuid": "abc"})"),
              HasSubstr("unknown key \"uuid\""));
  EXPECT_THAT(Error("e6.json", R"([{"target_name": "A", "ra": "1"}, {"target_name": "A",
                                   "ra": "2"}])"),
              HasSubstr("[1].ra: \"2\" differs from \"1\" given earlier for target \"A\" ([0])"));
  EXPECT_THAT(Error("e7.json", R"([{"target_name": "A"}, {"title": "m"}])"),
              HasSubstr("[1]: a message object among photometry rows"));
  EXPECT_THAT(Error("e8.json", "{\"title\": \"x\",\n \"data\": }"), HasSubstr("not valid JSON"));
  EXPECT_THAT(Error("e9.json", "[]"), HasSubstr("the list is empty"));
  EXPECT_THAT(Error("e10.json", R"({"data": {"targets": [{"name": "A", "ra_error": true}]}})"),
              HasSubstr("data.targets[0].ra_error: expected a number"));
}

// --- Formats and files -----------------------------------------------------------------------

TEST_F(PhotometryFileTest, FormatFromExtensionOrArgument) {
  EXPECT_THAT(Error("data.txt", "target_name,date_obs\nT,61161\n"),
              HasSubstr("cannot tell the format from the file name (extension \".txt\")"));
  EXPECT_THAT(Error("data", "target_name,date_obs\nT,61161\n"), HasSubstr("no extension"));
  EXPECT_THAT(Error("data2.txt", "x", "xml"), HasSubstr("unknown format \"xml\""));
  EXPECT_EQ(Read("data3.txt", "target_name,date_obs\nT,61161\n", {}, "csv").size(), 1u);
  EXPECT_EQ(Read("DATA.CSV", "target_name,date_obs\nT,61161\n").size(), 1u);
  EXPECT_EQ(Read("rows.dat", R"([{"target_name": "T"}])", {}, "json").size(), 1u);
  // A CSV file read as JSON fails as JSON.
  EXPECT_THAT(Error("data4.csv", "target_name\nT\n", "json"), HasSubstr("not valid JSON"));
}

TEST_F(PhotometryFileTest, MissingFileIsAnIoError) {
  const std::string path = (dir_ / "absent.csv").string();
  auto r = ReadPhotometryFile(path, "", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
  EXPECT_THAT(r.status().message(), StartsWith(path + ": cannot open"));
}

}  // namespace
}  // namespace tomstream::tomctl
