// Time and sky-coordinate parsing shared by the message handlers and the Hermes outbox validator.
//
// All functions are pure, allocation-free (except FormatDateTimeMs) and never throw. Times are
// Unix epoch milliseconds (UTC, no leap seconds), angles are decimal degrees.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tomstream::astro {

// Julian date of the Unix epoch, 1970-01-01T00:00:00Z.
inline constexpr double kUnixEpochJd = 2440587.5;
// MJD = JD - kMjdOffset.
inline constexpr double kMjdOffset = 2400000.5;
inline constexpr int64_t kMsPerDay = 86'400'000;

// Hermes accepts a numeric date_obs as a JD when kHermesJdMin < x < kHermesJdMax, or as an MJD
// when kHermesMjdMin < x < kHermesMjdMax (both bounds exclusive).
inline constexpr double kHermesJdMin = 2400000;
inline constexpr double kHermesJdMax = 2600000;
inline constexpr double kHermesMjdMin = 1000;
inline constexpr double kHermesMjdMax = 150000;

// Parses an ISO 8601 / RFC 3339 date-time the way Hermes (python-dateutil) accepts them in
// practice:
//   YYYY-MM-DD                                  midnight UTC
//   YYYY-MM-DD[T|t| ]HH:MM[:SS[(.|,)frac]][zone]
// where zone is Z, z, UTC, GMT (optionally after a space), or ±HH:MM, ±HHMM, ±HH. No zone means
// UTC. Fractions beyond milliseconds are truncated. Surrounding ASCII whitespace is ignored.
// Returns nullopt for anything else, including invalid calendar values (month 13, Feb 30,
// hour 24, second 60) and years outside 0001..9999.
std::optional<int64_t> ParseDateTimeMs(std::string_view text);

// "YYYY-MM-DDTHH:MM:SS.sssZ" for a Unix epoch millisecond count.
std::string FormatDateTimeMs(int64_t unix_ms);

// Days since 1970-01-01 of a proleptic Gregorian date (no validation).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);

// True when year/month/day is a real Gregorian calendar date.
bool IsValidDate(int64_t year, unsigned month, unsigned day);

double UnixMsToJd(int64_t unix_ms);
int64_t JdToUnixMs(double jd);

// Hermes's rule for a numeric date_obs: a JD in (2400000, 2600000) is returned as is, an MJD in
// (1000, 150000) is returned as MJD + 2400000.5; anything else (including NaN/Inf) is nullopt.
std::optional<double> DateObsToJd(double number);

// Parses a finite decimal number: optional surrounding ASCII whitespace, optional sign ('+' or
// '-'), digits with optional fraction and exponent. Rejects NaN, Inf, hex and trailing garbage.
std::optional<double> ParseFiniteDouble(std::string_view text);

// Right ascension in decimal degrees from either
//   decimal degrees "150.1234" (0 <= ra <= 360), or
//   sexagesimal hours "HH:MM:SS.s", "HH MM SS.s", "HHhMMmSS.Ss" (also HH:MM[.m]),
//   read as hours x 15 with 0 <= HH < 24, MM < 60, SS < 60.
// Rejects negative values, NaN/Inf and anything out of range.
std::optional<double> ParseRaDeg(std::string_view text);

// Declination in decimal degrees from either decimal degrees "-20.5678" (-90..90) or
// sexagesimal "±DD:MM:SS.s", "±DD MM SS.s", "±DDdMMmSSs" (the sign applies to the whole angle,
// so "-00:30:00" is -0.5). Rejects NaN/Inf and |dec| > 90.
std::optional<double> ParseDecDeg(std::string_view text);

// Range checks for angles that arrive as numbers.
inline bool IsValidRaDeg(double ra) { return ra >= 0.0 && ra <= 360.0; }
inline bool IsValidDecDeg(double dec) { return dec >= -90.0 && dec <= 90.0; }

}  // namespace tomstream::astro
