#include "common/astro.h"

#include <charconv>
#include <cmath>
#include <system_error>

namespace tomstream::astro {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Reads exactly `n` decimal digits at s[i], advancing i.
bool ReadDigits(std::string_view s, size_t& i, int n, int& out) {
  if (i + static_cast<size_t>(n) > s.size()) return false;
  int v = 0;
  for (int k = 0; k < n; ++k) {
    const char c = s[i + static_cast<size_t>(k)];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  i += static_cast<size_t>(n);
  out = v;
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

// Parses the zone suffix (everything after the time). Sets the offset east of UTC in minutes.
bool ParseZone(std::string_view z, int& offset_minutes) {
  offset_minutes = 0;
  if (z.empty()) return true;
  if (z.front() == ' ') z.remove_prefix(1);
  if (z == "Z" || z == "z" || EqualsIgnoreCase(z, "UTC") || EqualsIgnoreCase(z, "GMT")) return true;
  if (z.empty() || (z.front() != '+' && z.front() != '-')) return false;
  const bool negative = z.front() == '-';
  size_t i = 1;
  int hours = 0;
  int minutes = 0;
  if (!ReadDigits(z, i, 2, hours)) return false;
  if (i < z.size()) {
    if (z[i] == ':') ++i;
    if (!ReadDigits(z, i, 2, minutes)) return false;
  }
  if (i != z.size() || hours > 23 || minutes > 59) return false;
  offset_minutes = (hours * 60 + minutes) * (negative ? -1 : 1);
  return true;
}

// Components of a sexagesimal angle: up to three numbers after an optional sign.
struct Sexagesimal {
  bool negative = false;
  int count = 0;
  double part[3] = {0, 0, 0};
};

bool IsUnitMark(char c) {
  switch (c) {
    case 'h': case 'H': case 'd': case 'D': case 'm': case 'M': case 's': case 'S':
    case '\'': case '"':
      return true;
    default:
      return false;
  }
}

// Splits "A<sep>B<sep>C" where each separator is ':' or whitespace, or a unit mark (h d m s ' ")
// optionally followed by whitespace. Every component except the last must be an integer.
std::optional<Sexagesimal> SplitSexagesimal(std::string_view s) {
  Sexagesimal out;
  size_t i = 0;
  const size_t n = s.size();
  if (i < n && (s[i] == '+' || s[i] == '-')) {
    out.negative = s[i] == '-';
    ++i;
  }
  bool fractional[3] = {false, false, false};
  bool dangling_colon = false;
  while (i < n) {
    if (out.count == 3) return std::nullopt;
    const size_t start = i;
    while (i < n && IsDigit(s[i])) ++i;
    bool has_digits = i > start;
    bool has_fraction = false;
    if (i < n && s[i] == '.') {
      has_fraction = true;
      ++i;
      const size_t frac_start = i;
      while (i < n && IsDigit(s[i])) ++i;
      has_digits = has_digits || i > frac_start;
    }
    if (!has_digits) return std::nullopt;
    double v = 0;
    const auto [ptr, ec] = std::from_chars(s.data() + start, s.data() + i, v);
    if (ec != std::errc() || ptr != s.data() + i) return std::nullopt;
    out.part[out.count] = v;
    fractional[out.count] = has_fraction;
    ++out.count;
    dangling_colon = false;
    if (i == n) break;
    const char c = s[i];
    if (c == ':') {
      dangling_colon = true;
      ++i;
    } else if (IsUnitMark(c)) {
      ++i;
    } else if (!IsSpace(c)) {
      return std::nullopt;
    }
    while (i < n && IsSpace(s[i])) ++i;
  }
  if (out.count == 0 || dangling_colon) return std::nullopt;
  for (int k = 0; k + 1 < out.count; ++k) {
    if (fractional[k]) return std::nullopt;
  }
  return out;
}

}  // namespace

int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day) {
  // Howard Hinnant's days_from_civil.
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool IsValidDate(int64_t year, unsigned month, unsigned day) {
  if (month < 1 || month > 12 || day < 1) return false;
  static constexpr unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  unsigned limit = kDays[month - 1];
  if (month == 2) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (leap) limit = 29;
  }
  return day <= limit;
}

std::optional<int64_t> ParseDateTimeMs(std::string_view text) {
  const std::string_view s = Trim(text);
  size_t i = 0;
  int year = 0;
  int month = 0;
  int day = 0;
  if (!ReadDigits(s, i, 4, year) || i >= s.size() || s[i++] != '-' ||
      !ReadDigits(s, i, 2, month) || i >= s.size() || s[i++] != '-' ||
      !ReadDigits(s, i, 2, day)) {
    return std::nullopt;
  }
  if (year < 1 || !IsValidDate(year, static_cast<unsigned>(month), static_cast<unsigned>(day))) {
    return std::nullopt;
  }
  const int64_t midnight =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * kMsPerDay;
  if (i == s.size()) return midnight;

  const char sep = s[i++];
  if (sep != 'T' && sep != 't' && sep != ' ') return std::nullopt;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int millis = 0;
  if (!ReadDigits(s, i, 2, hour) || i >= s.size() || s[i++] != ':' ||
      !ReadDigits(s, i, 2, minute)) {
    return std::nullopt;
  }
  if (i < s.size() && s[i] == ':') {
    ++i;
    if (!ReadDigits(s, i, 2, second)) return std::nullopt;
    if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
      ++i;
      const size_t start = i;
      while (i < s.size() && IsDigit(s[i])) {
        if (i - start < 3) millis = millis * 10 + (s[i] - '0');
        ++i;
      }
      const size_t ndigits = i - start;
      if (ndigits == 0) return std::nullopt;
      for (size_t k = ndigits; k < 3; ++k) millis *= 10;
    }
  }
  if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
  int offset_minutes = 0;
  if (!ParseZone(s.substr(i), offset_minutes)) return std::nullopt;
  return midnight + (static_cast<int64_t>(hour) * 3600 + minute * 60 + second) * 1000 + millis -
         static_cast<int64_t>(offset_minutes) * 60'000;
}

std::string FormatDateTimeMs(int64_t unix_ms) {
  int64_t days = unix_ms / kMsPerDay;
  int64_t rem = unix_ms % kMsPerDay;
  if (rem < 0) {
    rem += kMsPerDay;
    --days;
  }
  // Howard Hinnant's civil_from_days.
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
  const auto ms = static_cast<unsigned>(rem % 1000);
  const auto secs = static_cast<unsigned>(rem / 1000);
  // Hand-formatted: this runs for every message summary, and snprintf is slow.
  std::string out;
  if (y < 0 || y > 9999) {
    out = std::to_string(y);
  } else {
    out.resize(4);
    auto yy = static_cast<unsigned>(y);
    for (int i = 3; i >= 0; --i) {
      out[static_cast<size_t>(i)] = static_cast<char>('0' + yy % 10);
      yy /= 10;
    }
  }
  const auto two = [&out](char sep, unsigned v) {
    out += sep;
    out += static_cast<char>('0' + v / 10);
    out += static_cast<char>('0' + v % 10);
  };
  two('-', m);
  two('-', d);
  two('T', secs / 3600);
  two(':', secs / 60 % 60);
  two(':', secs % 60);
  out += '.';
  out += static_cast<char>('0' + ms / 100);
  out += static_cast<char>('0' + ms / 10 % 10);
  out += static_cast<char>('0' + ms % 10);
  out += 'Z';
  return out;
}

double UnixMsToJd(int64_t unix_ms) {
  // Whole days and the remainder separately, so the large offset is added only once.
  int64_t days = unix_ms / kMsPerDay;
  int64_t rem = unix_ms % kMsPerDay;
  if (rem < 0) {
    rem += kMsPerDay;
    --days;
  }
  return (kUnixEpochJd + static_cast<double>(days)) +
         static_cast<double>(rem) / static_cast<double>(kMsPerDay);
}

int64_t JdToUnixMs(double jd) {
  return std::llround((jd - kUnixEpochJd) * static_cast<double>(kMsPerDay));
}

std::optional<double> DateObsToJd(double number) {
  if (number > kHermesJdMin && number < kHermesJdMax) return number;
  if (number > kHermesMjdMin && number < kHermesMjdMax) return number + kMjdOffset;
  return std::nullopt;
}

std::optional<double> ParseFiniteDouble(std::string_view text) {
  std::string_view s = Trim(text);
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (!s.empty() && (s.front() == '+' || s.front() == '-')) return std::nullopt;
  }
  if (s.empty()) return std::nullopt;
  double v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<double> ParseRaDeg(std::string_view text) {
  const std::string_view s = Trim(text);
  if (const auto v = ParseFiniteDouble(s)) {
    if (!IsValidRaDeg(*v)) return std::nullopt;
    return *v;
  }
  const auto sx = SplitSexagesimal(s);
  if (!sx || sx->negative || sx->count < 2) return std::nullopt;
  const double h = sx->part[0];
  const double m = sx->part[1];
  const double sec = sx->count == 3 ? sx->part[2] : 0.0;
  if (h >= 24.0 || m >= 60.0 || sec >= 60.0) return std::nullopt;
  const double deg = (h + m / 60.0 + sec / 3600.0) * 15.0;
  if (!(deg < 360.0)) return std::nullopt;
  return deg;
}

std::optional<double> ParseDecDeg(std::string_view text) {
  const std::string_view s = Trim(text);
  if (const auto v = ParseFiniteDouble(s)) {
    if (!IsValidDecDeg(*v)) return std::nullopt;
    return *v;
  }
  const auto sx = SplitSexagesimal(s);
  if (!sx || sx->count < 2) return std::nullopt;
  const double d = sx->part[0];
  const double m = sx->part[1];
  const double sec = sx->count == 3 ? sx->part[2] : 0.0;
  if (d > 90.0 || m >= 60.0 || sec >= 60.0) return std::nullopt;
  const double deg = d + m / 60.0 + sec / 3600.0;
  if (deg > 90.0) return std::nullopt;
  return sx->negative ? -deg : deg;
}

}  // namespace tomstream::astro
