#include "common/astro.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace tomstream::astro {
namespace {

// 2026-05-01T00:00:00Z and 03:04:05 later, as Unix milliseconds (python datetime).
constexpr int64_t kMay1 = 1777593600000;
constexpr int64_t kMay1At030405 = 1777604645000;

TEST(AstroTest, DateTimeForms) {
  EXPECT_EQ(ParseDateTimeMs("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T03:04:05+00:00"), kMay1At030405);
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T03:04:05Z"), kMay1At030405);
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T03:04:05z"), kMay1At030405);
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T03:04:05"), kMay1At030405);  // no offset: UTC
  EXPECT_EQ(ParseDateTimeMs("2026-05-01 03:04:05"), kMay1At030405);  // space for T
  EXPECT_EQ(ParseDateTimeMs("2026-05-01t03:04:05"), kMay1At030405);
  EXPECT_EQ(ParseDateTimeMs("2026-05-01 03:04:05 UTC"), kMay1At030405);
  EXPECT_EQ(ParseDateTimeMs("  2026-05-01T03:04:05Z\n"), kMay1At030405);
  EXPECT_EQ(ParseDateTimeMs("2026-05-01"), kMay1);  // date only: midnight UTC
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T03:04"), kMay1At030405 - 5000);
  EXPECT_EQ(ParseDateTimeMs("2015-09-15T21:18:24.86"), 1442351904860);
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T03:04:05.1Z"), kMay1At030405 + 100);
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T03:04:05,25Z"), kMay1At030405 + 250);
  // Digits beyond milliseconds are truncated, not rounded.
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T03:04:05.123999Z"), kMay1At030405 + 123);
  EXPECT_EQ(ParseDateTimeMs("0001-01-01T00:00:00Z"), -62135596800000);
  EXPECT_EQ(ParseDateTimeMs("9999-12-31T23:59:59.999Z"), 253402300799999);
  EXPECT_EQ(ParseDateTimeMs("1969-12-31T23:59:59.999Z"), -1);
}

TEST(AstroTest, DateTimeOffsets) {
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T05:04:05+02:00"), kMay1At030405);
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T05:04:05+0200"), kMay1At030405);
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T05:04:05+02"), kMay1At030405);
  EXPECT_EQ(ParseDateTimeMs("2026-04-30T23:34:05-03:30"), kMay1At030405);
  EXPECT_EQ(ParseDateTimeMs("2026-04-30T23:34:05-0330"), kMay1At030405);
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T03:04:05.500-00:00"), kMay1At030405 + 500);
  // An offset that crosses midnight and the year.
  EXPECT_EQ(ParseDateTimeMs("2026-01-01T01:00:00+02:00"), ParseDateTimeMs("2025-12-31T23:00:00Z"));
  EXPECT_EQ(ParseDateTimeMs("2026-05-01T03:04:05 +00:00"), kMay1At030405);
}

TEST(AstroTest, LeapDays) {
  EXPECT_EQ(ParseDateTimeMs("2024-02-29T00:00:00Z"), 1709164800000);
  EXPECT_EQ(ParseDateTimeMs("2000-02-29T12:00:00Z"), 951825600000);  // divisible by 400
  EXPECT_EQ(ParseDateTimeMs("2023-02-29"), std::nullopt);
  EXPECT_EQ(ParseDateTimeMs("1900-02-29"), std::nullopt);  // divisible by 100, not 400
  EXPECT_EQ(ParseDateTimeMs("2100-02-29T00:00:00Z"), std::nullopt);
  EXPECT_TRUE(IsValidDate(2024, 2, 29));
  EXPECT_FALSE(IsValidDate(2025, 2, 29));
  EXPECT_FALSE(IsValidDate(2025, 4, 31));
  EXPECT_TRUE(IsValidDate(2025, 12, 31));
}

TEST(AstroTest, DateTimeRejects) {
  for (const char* bad : {
           "", "   ", "not a date", "2026", "2026-05", "2026-5-1", "26-05-01", "2026/05/01",
           "2026-13-01", "2026-00-10", "2026-02-30", "2026-04-31", "2026-05-00", "2026-05-32",
           "2026-05-01T25:00:00", "2026-05-01T24:00:00", "2026-05-01T12:60:00",
           "2026-05-01T12:00:60", "2026-05-01T", "2026-05-01T12", "2026-05-01T12:00:00.",
           "2026-05-01X12:00:00", "2026-05-01T12:00:00Zjunk", "2026-05-01T12:00:00+24:00",
           "2026-05-01T12:00:00+02:60", "2026-05-01T12:00:00+2", "2026-05-01T12:00:00 PST",
           "0000-01-01", "2026-05-01T1:02:03", "2026-05-01  12:00:00", "+2026-05-01",
       }) {
    EXPECT_EQ(ParseDateTimeMs(bad), std::nullopt) << bad;
  }
}

TEST(AstroTest, FormatDateTime) {
  EXPECT_EQ(FormatDateTimeMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatDateTimeMs(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatDateTimeMs(kMay1At030405 + 7), "2026-05-01T03:04:05.007Z");
  EXPECT_EQ(FormatDateTimeMs(1709164800000), "2024-02-29T00:00:00.000Z");
  for (const int64_t ms : {int64_t{-62135596800000}, int64_t{951825600000}, kMay1,
                           int64_t{253402300799999}}) {
    EXPECT_EQ(ParseDateTimeMs(FormatDateTimeMs(ms)), ms);
  }
}

TEST(AstroTest, JulianDates) {
  EXPECT_DOUBLE_EQ(UnixMsToJd(0), 2440587.5);
  EXPECT_EQ(JdToUnixMs(2440587.5), 0);
  // 2026-05-01T00:00:00Z is JD 2461161.5 exactly.
  EXPECT_EQ(UnixMsToJd(kMay1), 2461161.5);
  EXPECT_EQ(JdToUnixMs(2461161.5), kMay1);
  // 03:04:05 is 11045 s into the day.
  EXPECT_NEAR(UnixMsToJd(kMay1At030405), 2461161.5 + 11045.0 / 86400.0, 1e-9);
  EXPECT_NEAR(UnixMsToJd(kMay1At030405), 2461161.627835648, 1e-9);
  // Millisecond round trips (a double at JD ~2.46e6 resolves ~40 microseconds).
  for (const int64_t ms : {int64_t{0}, int64_t{1}, int64_t{-1}, kMay1At030405 + 123,
                           int64_t{1442351904860}, int64_t{-62135596800000}}) {
    EXPECT_EQ(JdToUnixMs(UnixMsToJd(ms)), ms) << ms;
  }
  // MJD 0 is 1858-11-17T00:00:00Z.
  EXPECT_EQ(JdToUnixMs(kMjdOffset), ParseDateTimeMs("1858-11-17"));
}

TEST(AstroTest, DateObsJdAndMjdRanges) {
  EXPECT_EQ(DateObsToJd(2461161.5), 2461161.5);
  EXPECT_EQ(DateObsToJd(60000), 2460000.5);  // MJD
  EXPECT_EQ(DateObsToJd(60000.25), 2460000.75);
  // JD range (2400000, 2600000), exclusive.
  EXPECT_EQ(DateObsToJd(kHermesJdMin), std::nullopt);
  EXPECT_EQ(DateObsToJd(2400000.0001), 2400000.0001);
  EXPECT_EQ(DateObsToJd(2599999.9999), 2599999.9999);
  EXPECT_EQ(DateObsToJd(kHermesJdMax), std::nullopt);
  EXPECT_EQ(DateObsToJd(2600000.5), std::nullopt);
  // MJD range (1000, 150000), exclusive.
  EXPECT_EQ(DateObsToJd(kHermesMjdMin), std::nullopt);
  EXPECT_EQ(DateObsToJd(1000.5), 1000.5 + 2400000.5);
  EXPECT_EQ(DateObsToJd(149999.5), 149999.5 + 2400000.5);
  EXPECT_EQ(DateObsToJd(kHermesMjdMax), std::nullopt);
  // Between the ranges, below, negative, non-finite.
  EXPECT_EQ(DateObsToJd(200000), std::nullopt);
  EXPECT_EQ(DateObsToJd(999), std::nullopt);
  EXPECT_EQ(DateObsToJd(0), std::nullopt);
  EXPECT_EQ(DateObsToJd(-60000), std::nullopt);
  EXPECT_EQ(DateObsToJd(std::numeric_limits<double>::quiet_NaN()), std::nullopt);
  EXPECT_EQ(DateObsToJd(std::numeric_limits<double>::infinity()), std::nullopt);
}

TEST(AstroTest, FiniteDouble) {
  EXPECT_EQ(ParseFiniteDouble("18.52"), 18.52);
  EXPECT_EQ(ParseFiniteDouble("  18.52\t"), 18.52);
  EXPECT_EQ(ParseFiniteDouble("+1"), 1.0);
  EXPECT_EQ(ParseFiniteDouble("-2.5e3"), -2500.0);
  EXPECT_EQ(ParseFiniteDouble(".5"), 0.5);
  EXPECT_EQ(ParseFiniteDouble("0"), 0.0);
  for (const char* bad : {"", " ", "NaN", "nan", "-nan", "inf", "-inf", "Infinity", "1e400",
                          "abc", "1.2.3", "0x10", "+-1", "--1", "1,5", "18.52 mag", "++1"}) {
    EXPECT_EQ(ParseFiniteDouble(bad), std::nullopt) << bad;
  }
}

TEST(AstroTest, RightAscension) {
  EXPECT_EQ(ParseRaDeg("150.1234"), 150.1234);
  EXPECT_EQ(ParseRaDeg(" 0 "), 0.0);
  EXPECT_EQ(ParseRaDeg("360"), 360.0);
  EXPECT_EQ(ParseRaDeg("359.9999"), 359.9999);
  EXPECT_EQ(ParseRaDeg("12:00:00"), 180.0);
  EXPECT_EQ(ParseRaDeg("12 30 00"), 187.5);
  EXPECT_EQ(ParseRaDeg("12:30"), 187.5);
  EXPECT_EQ(ParseRaDeg("00:00:00"), 0.0);
  EXPECT_NEAR(*ParseRaDeg("06h55m09s"), (6 + 55 / 60.0 + 9 / 3600.0) * 15, 1e-12);
  EXPECT_NEAR(*ParseRaDeg("+06h 55m 09s"), (6 + 55 / 60.0 + 9 / 3600.0) * 15, 1e-12);
  EXPECT_NEAR(*ParseRaDeg("10:00:36.5"), 150.15208333333334, 1e-9);
  EXPECT_NEAR(*ParseRaDeg("23:59:59.999"), 359.9999958, 1e-6);
  for (const char* bad : {"", "abc", "NaN", "nan", "inf", "Infinity", "-1", "-0.5", "360.0001",
                          "400", "24:00:00", "24 00 00", "25:00:00", "12:60:00", "12:00:60",
                          "-01:00:00", "12.5:30:00", "12:30.5:00", "12:", "12::00", "1:2:3:4",
                          "12:00:00 junk", "12h"}) {
    EXPECT_EQ(ParseRaDeg(bad), std::nullopt) << bad;
  }
}

TEST(AstroTest, Declination) {
  EXPECT_EQ(ParseDecDeg("-20.5678"), -20.5678);
  EXPECT_EQ(ParseDecDeg("90"), 90.0);
  EXPECT_EQ(ParseDecDeg("-90"), -90.0);
  EXPECT_EQ(ParseDecDeg("+45.5"), 45.5);
  // The sign belongs to the whole angle, also when the degrees are zero.
  EXPECT_EQ(ParseDecDeg("-00:30:00"), -0.5);
  EXPECT_EQ(ParseDecDeg("-00 30 00"), -0.5);
  EXPECT_EQ(ParseDecDeg("+00:30:00"), 0.5);
  EXPECT_EQ(ParseDecDeg("00:30:00"), 0.5);
  EXPECT_NEAR(*ParseDecDeg("-20:34:04.08"), -(20 + 34 / 60.0 + 4.08 / 3600.0), 1e-12);
  EXPECT_NEAR(*ParseDecDeg("+05d 52' 18\""), 5 + 52 / 60.0 + 18 / 3600.0, 1e-12);
  EXPECT_EQ(ParseDecDeg("90:00:00"), 90.0);
  EXPECT_EQ(ParseDecDeg("-90:00:00"), -90.0);
  EXPECT_NEAR(*ParseDecDeg("-89:59:59.9"), -89.99997222, 1e-8);
  for (const char* bad : {"", "abc", "NaN", "-inf", "Infinity", "90.0001", "-90.5", "91",
                          "90:00:01", "-90:00:00.1", "91:00:00", "12:60:00", "12:00:60",
                          "12.5:30:00", "--1:00:00", "+-1:00:00", "45:"}) {
    EXPECT_EQ(ParseDecDeg(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace tomstream::astro
