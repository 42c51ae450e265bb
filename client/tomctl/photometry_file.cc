#include "photometry_file.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

namespace tomstream::tomctl {
namespace {

namespace pb = tomstream::v1;
using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Columns
// ---------------------------------------------------------------------------------------------

// In the order of kColumns' canonical entries.
enum class Field {
  kTargetName,
  kDateObs,
  kTelescope,
  kInstrument,
  kBandpass,
  kBrightness,
  kBrightnessError,
  kBrightnessUnit,
  kLimitingBrightness,
  kLimitingBrightnessError,
  kLimitingBrightnessUnit,
  kExposureTime,
  kObserver,
  kComments,
  kCatalog,
  // Target columns (flat rows only).
  kRa,
  kDec,
  kAliases,
  kRedshift,
};

struct ColumnName {
  std::string_view name;
  Field field;
};

// The canonical names first (indexed by Field), then TOM Toolkit's names.
constexpr ColumnName kColumns[] = {
    {"target_name", Field::kTargetName},
    {"date_obs", Field::kDateObs},
    {"telescope", Field::kTelescope},
    {"instrument", Field::kInstrument},
    {"bandpass", Field::kBandpass},
    {"brightness", Field::kBrightness},
    {"brightness_error", Field::kBrightnessError},
    {"brightness_unit", Field::kBrightnessUnit},
    {"limiting_brightness", Field::kLimitingBrightness},
    {"limiting_brightness_error", Field::kLimitingBrightnessError},
    {"limiting_brightness_unit", Field::kLimitingBrightnessUnit},
    {"exposure_time", Field::kExposureTime},
    {"observer", Field::kObserver},
    {"comments", Field::kComments},
    {"catalog", Field::kCatalog},
    {"ra", Field::kRa},
    {"dec", Field::kDec},
    {"aliases", Field::kAliases},
    {"redshift", Field::kRedshift},
    // TOM Toolkit (tom_dataproducts' Hermes converter).
    {"magnitude", Field::kBrightness},
    {"limit", Field::kLimitingBrightness},
    {"error", Field::kBrightnessError},
    {"magnitude_error", Field::kBrightnessError},
    {"filter", Field::kBandpass},
    {"unit", Field::kBrightnessUnit},
};

std::string_view CanonicalName(Field f) { return kColumns[static_cast<size_t>(f)].name; }

bool IsTargetField(Field f) { return f >= Field::kRa; }

std::optional<Field> LookupColumn(std::string_view name) {
  for (const auto& c : kColumns) {
    if (c.name == name) return c.field;
  }
  return std::nullopt;
}

std::string KnownColumns() {
  std::string out;
  for (const auto& c : kColumns) {
    if (!out.empty()) out += ", ";
    out += c.name;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Small text helpers
// ---------------------------------------------------------------------------------------------

std::string_view Trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

// A finite decimal number, the whole (trimmed) text; an optional leading '+'.
std::optional<double> ParseNumber(std::string_view text) {
  std::string_view t = Trim(text);
  if (!t.empty() && t.front() == '+') {
    t.remove_prefix(1);
    if (!t.empty() && (t.front() == '-' || t.front() == '+')) return std::nullopt;
  }
  if (t.empty()) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// YYYY-MM-DD, optionally followed by [T ]hh:mm[:ss[.fff]] and Z or ±hh[:mm].
bool IsIsoDateTime(std::string_view s) {
  size_t i = 0;
  const auto num = [&](size_t n, int lo, int hi) {
    if (i + n > s.size()) return false;
    int v = 0;
    for (size_t k = 0; k < n; ++k) {
      const char c = s[i + k];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    i += n;
    return v >= lo && v <= hi;
  };
  const auto lit = [&](char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  if (!num(4, 0, 9999) || !lit('-') || !num(2, 1, 12) || !lit('-') || !num(2, 1, 31)) return false;
  if (i == s.size()) return true;
  if (!lit('T') && !lit('t') && !lit(' ')) return false;
  if (!num(2, 0, 23) || !lit(':') || !num(2, 0, 59)) return false;
  if (lit(':')) {
    if (!num(2, 0, 60)) return false;
    if (lit('.')) {
      const size_t start = i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
      if (i == start) return false;
    }
  }
  if (i == s.size()) return true;
  if (lit('Z') || lit('z')) return i == s.size();
  if (!lit('+') && !lit('-')) return false;
  if (!num(2, 0, 23)) return false;
  if (i == s.size()) return true;
  lit(':');
  return num(2, 0, 59) && i == s.size();
}

// The 1-based line of the first byte that is not part of well-formed UTF-8, if any.
std::optional<int> FindInvalidUtf8(std::string_view s) {
  int line = 1;
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b == '\n') ++line;
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if (b >= 0xC2 && b <= 0xDF) {
      n = 1;
      cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n = 2;
      cp = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      n = 3;
      cp = b & 0x07;
    } else {
      return line;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return line;
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return line;
      cp = (cp << 6) | (c & 0x3F);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return line;
    }
    i += n + 1;
  }
  return std::nullopt;
}

std::string_view StripBom(std::string_view s) {
  if (s.size() >= 3 && s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  return s;
}

std::string NormalizeUnit(std::string_view unit) {
  const std::string u = Lower(Trim(unit));
  if (u == "ab" || u == "abflux") return "AB mag";
  return std::string(unit);
}

// ---------------------------------------------------------------------------------------------
// Rows, whatever their source
// ---------------------------------------------------------------------------------------------

struct Cell {
  std::string column;                            // as written in the file
  std::string text;                              // the value as text (JSON numbers: their dump)
  std::optional<double> number;                  // set for a JSON number
  std::optional<std::vector<std::string>> list;  // set for a JSON array
};

struct Row {
  bool csv = true;
  std::string where;  // "line 4" (CSV) or "[3]", "[0].data.photometry[2]" (JSON)
  std::map<Field, Cell> cells;  // non-empty values only
};

std::string Loc(const Row& r, const Cell& c) {
  return r.csv ? r.where + ", column " + c.column : r.where + "." + c.column;
}

Status Invalid(const Row& r, const Cell& c, const std::string& what) {
  return Status::InvalidArgument(Loc(r, c) + ": " + what);
}

Status GetNumber(const Row& r, const Cell& c, double* out) {
  if (c.list) return Invalid(r, c, "expected a number, not a list");
  std::optional<double> v = c.number;
  if (!v) v = ParseNumber(c.text);
  if (!v || !std::isfinite(*v)) return Invalid(r, c, "not a number: " + Quoted(c.text));
  *out = *v;
  return Status::Ok();
}

Status GetText(const Row& r, const Cell& c, std::string* out) {
  if (c.list) return Invalid(r, c, "expected a string, not a list");
  *out = c.text;
  return Status::Ok();
}

Status SetDateObs(const Row& r, const Cell& c, pb::Photometry* p) {
  if (c.list) return Invalid(r, c, "expected a date-time, JD or MJD, not a list");
  std::optional<double> v = c.number;
  if (!v) v = ParseNumber(c.text);
  if (v) {
    if (*v > 2400000) {
      if (*v >= 2600000) {
        return Invalid(r, c, c.text + " is outside the JD range (2400000, 2600000)");
      }
      p->set_date_obs_jd(*v);
    } else if (*v > 1000 && *v < 150000) {
      p->set_date_obs_mjd(*v);
    } else {
      return Invalid(r, c,
                     c.text + " is neither a JD in (2400000, 2600000) nor an MJD in (1000, 150000)");
    }
    return Status::Ok();
  }
  const std::string_view t = Trim(c.text);
  if (!IsIsoDateTime(t)) {
    return Invalid(r, c,
                   "not an ISO 8601 date-time (e.g. 2026-05-01T03:04:05Z), JD or MJD: " +
                       Quoted(c.text));
  }
  p->set_date_obs_iso(std::string(t));
  return Status::Ok();
}

// The Photometry fields of `r` (target columns are left to TargetValuesFromRow).
Status PhotometryFromRow(const Row& r, pb::Photometry* p) {
  for (const auto& [field, c] : r.cells) {
    std::string s;
    double d = 0;
    switch (field) {
      case Field::kTargetName:
        TOMSTREAM_RETURN_IF_ERROR(GetText(r, c, &s));
        p->set_target_name(std::string(Trim(s)));
        break;
      case Field::kDateObs: TOMSTREAM_RETURN_IF_ERROR(SetDateObs(r, c, p)); break;
      case Field::kTelescope:
        TOMSTREAM_RETURN_IF_ERROR(GetText(r, c, &s));
        p->set_telescope(s);
        break;
      case Field::kInstrument:
        TOMSTREAM_RETURN_IF_ERROR(GetText(r, c, &s));
        p->set_instrument(s);
        break;
      case Field::kBandpass:
        TOMSTREAM_RETURN_IF_ERROR(GetText(r, c, &s));
        p->set_bandpass(s);
        break;
      case Field::kBrightness:
        TOMSTREAM_RETURN_IF_ERROR(GetNumber(r, c, &d));
        p->set_brightness(d);
        break;
      case Field::kBrightnessError:
        TOMSTREAM_RETURN_IF_ERROR(GetNumber(r, c, &d));
        p->set_brightness_error(d);
        break;
      case Field::kBrightnessUnit:
        TOMSTREAM_RETURN_IF_ERROR(GetText(r, c, &s));
        p->set_brightness_unit(NormalizeUnit(s));
        break;
      case Field::kLimitingBrightness:
        TOMSTREAM_RETURN_IF_ERROR(GetNumber(r, c, &d));
        p->set_limiting_brightness(d);
        break;
      case Field::kLimitingBrightnessError:
        TOMSTREAM_RETURN_IF_ERROR(GetNumber(r, c, &d));
        p->set_limiting_brightness_error(d);
        break;
      case Field::kLimitingBrightnessUnit:
        TOMSTREAM_RETURN_IF_ERROR(GetText(r, c, &s));
        p->set_limiting_brightness_unit(NormalizeUnit(s));
        break;
      case Field::kExposureTime:
        TOMSTREAM_RETURN_IF_ERROR(GetNumber(r, c, &d));
        p->set_exposure_time(d);
        break;
      case Field::kObserver:
        TOMSTREAM_RETURN_IF_ERROR(GetText(r, c, &s));
        p->set_observer(s);
        break;
      case Field::kComments:
        TOMSTREAM_RETURN_IF_ERROR(GetText(r, c, &s));
        p->set_comments(s);
        break;
      case Field::kCatalog:
        TOMSTREAM_RETURN_IF_ERROR(GetText(r, c, &s));
        p->set_catalog(s);
        break;
      case Field::kRa:
      case Field::kDec:
      case Field::kAliases:
      case Field::kRedshift: break;
    }
  }
  return Status::Ok();
}

std::vector<std::string> SplitAliases(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view part = Trim(text.substr(start, end - start));
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

// A target's values as given on one row; unset when the row leaves them empty.
struct TargetValues {
  std::optional<std::string> ra, dec;
  std::optional<std::vector<std::string>> aliases;
  std::optional<double> redshift;
};

Status TargetValuesFromRow(const Row& r, TargetValues* t) {
  for (const auto& [field, c] : r.cells) {
    std::string s;
    switch (field) {
      case Field::kRa:
        TOMSTREAM_RETURN_IF_ERROR(GetText(r, c, &s));
        t->ra = std::string(Trim(s));
        break;
      case Field::kDec:
        TOMSTREAM_RETURN_IF_ERROR(GetText(r, c, &s));
        t->dec = std::string(Trim(s));
        break;
      case Field::kAliases: {
        std::vector<std::string> aliases = c.list ? *c.list : SplitAliases(c.text);
        if (!aliases.empty()) t->aliases = std::move(aliases);
        break;
      }
      case Field::kRedshift: {
        double d = 0;
        TOMSTREAM_RETURN_IF_ERROR(GetNumber(r, c, &d));
        t->redshift = d;
        break;
      }
      default: break;
    }
  }
  return Status::Ok();
}

// "150.1" and "150.10" are the same coordinate; sexagesimal strings compare as text.
bool SameCoordinate(const std::string& a, const std::string& b) {
  if (a == b) return true;
  const auto x = ParseNumber(a);
  const auto y = ParseNumber(b);
  return x && y && *x == *y;
}

// One message per target_name, in order of first appearance.
struct Group {
  std::string name;
  TargetValues target;
  std::map<Field, std::string> given_at;  // where each target value was first given
  std::vector<pb::Photometry> photometry;
};

Status Merge(const Row& r, const TargetValues& v, Group* g) {
  const auto conflict = [&](Field f, const std::string& now, const std::string& before) {
    const Cell& c = r.cells.at(f);
    return Invalid(r, c,
                   Quoted(now) + " differs from " + Quoted(before) + " given earlier for target " +
                       Quoted(g->name) + " (" + g->given_at[f] + ")");
  };
  if (v.ra) {
    if (!g->target.ra) {
      g->target.ra = v.ra;
      g->given_at[Field::kRa] = r.where;
    } else if (!SameCoordinate(*v.ra, *g->target.ra)) {
      return conflict(Field::kRa, *v.ra, *g->target.ra);
    }
  }
  if (v.dec) {
    if (!g->target.dec) {
      g->target.dec = v.dec;
      g->given_at[Field::kDec] = r.where;
    } else if (!SameCoordinate(*v.dec, *g->target.dec)) {
      return conflict(Field::kDec, *v.dec, *g->target.dec);
    }
  }
  if (v.aliases) {
    if (!g->target.aliases) {
      g->target.aliases = v.aliases;
      g->given_at[Field::kAliases] = r.where;
    } else if (*v.aliases != *g->target.aliases) {
      return conflict(Field::kAliases, Join(*v.aliases, ";"), Join(*g->target.aliases, ";"));
    }
  }
  if (v.redshift) {
    if (!g->target.redshift) {
      g->target.redshift = v.redshift;
      g->given_at[Field::kRedshift] = r.where;
    } else if (*v.redshift != *g->target.redshift) {
      return conflict(Field::kRedshift, r.cells.at(Field::kRedshift).text,
                      json(*g->target.redshift).dump());
    }
  }
  return Status::Ok();
}

struct Built {
  std::vector<pb::PhotometryMessage> messages;
  // Per message: the target names, for the default title and idempotency key suffixes.
  std::vector<std::vector<std::string>> names;
};

Result<Built> GroupRows(const std::vector<Row>& rows) {
  std::vector<Group> groups;
  std::map<std::string, size_t> index;
  for (const Row& r : rows) {
    const auto it = r.cells.find(Field::kTargetName);
    if (it == r.cells.end()) {
      return Status::InvalidArgument(r.where + ": target_name is empty");
    }
    pb::Photometry p;
    TOMSTREAM_RETURN_IF_ERROR(PhotometryFromRow(r, &p));
    if (p.target_name().empty()) {
      return Status::InvalidArgument(Loc(r, it->second) + ": target_name is empty");
    }
    TargetValues v;
    TOMSTREAM_RETURN_IF_ERROR(TargetValuesFromRow(r, &v));
    auto [pos, inserted] = index.emplace(p.target_name(), groups.size());
    if (inserted) {
      groups.emplace_back();
      groups.back().name = p.target_name();
    }
    Group& g = groups[pos->second];
    TOMSTREAM_RETURN_IF_ERROR(Merge(r, v, &g));
    g.photometry.push_back(std::move(p));
  }
  Built out;
  for (Group& g : groups) {
    pb::PhotometryMessage m;
    pb::Target* t = m.add_targets();
    t->set_name(g.name);
    if (g.target.ra) t->set_ra(*g.target.ra);
    if (g.target.dec) t->set_dec(*g.target.dec);
    if (g.target.aliases) {
      for (const auto& a : *g.target.aliases) t->add_aliases(a);
    }
    if (g.target.redshift) t->set_redshift(*g.target.redshift);
    for (auto& p : g.photometry) *m.add_photometry() = std::move(p);
    out.messages.push_back(std::move(m));
    out.names.push_back({g.name});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------

struct CsvRecord {
  int line = 0;  // where the record starts
  std::vector<std::string> cells;
};

// RFC 4180 with CRLF or LF line ends. Unquoted cells are trimmed; spaces around a quoted cell
// are allowed and dropped. Records whose cells are all empty are skipped.
Status ParseCsv(std::string_view t, std::vector<CsvRecord>* out) {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  size_t i = 0;
  int line = 1;
  while (i < t.size()) {
    CsvRecord rec;
    rec.line = line;
    while (true) {
      std::string cell;
      size_t j = i;
      while (j < t.size() && blank(t[j])) ++j;
      if (j < t.size() && t[j] == '"') {
        const int quote_line = line;
        i = j + 1;
        while (true) {
          if (i >= t.size()) {
            return Status::InvalidArgument("line " + std::to_string(quote_line) +
                                           ": a quoted cell is never closed");
          }
          const char c = t[i];
          if (c == '"') {
            if (i + 1 < t.size() && t[i + 1] == '"') {
              cell += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (c == '\n') ++line;
          cell += c;
          ++i;
        }
        while (i < t.size() && blank(t[i])) ++i;
        if (i < t.size() && t[i] == '\r' && (i + 1 == t.size() || t[i + 1] == '\n')) ++i;
        if (i < t.size() && t[i] != ',' && t[i] != '\n') {
          return Status::InvalidArgument("line " + std::to_string(line) +
                                         ": unexpected text after a closing quote (a quote "
                                         "inside a quoted cell is written \"\")");
        }
      } else {
        const size_t start = i;
        while (i < t.size() && t[i] != ',' && t[i] != '\n') ++i;
        cell = std::string(Trim(t.substr(start, i - start)));
      }
      rec.cells.push_back(std::move(cell));
      if (i >= t.size()) break;
      if (t[i] == ',') {
        ++i;
        continue;
      }
      ++i;  // '\n'
      ++line;
      break;
    }
    const bool all_empty = std::all_of(rec.cells.begin(), rec.cells.end(),
                                       [](const std::string& c) { return Trim(c).empty(); });
    if (!all_empty) out->push_back(std::move(rec));
  }
  return Status::Ok();
}

Result<std::vector<Row>> RowsFromCsv(std::string_view text) {
  if (const auto bad = FindInvalidUtf8(text)) {
    return Status::InvalidArgument("line " + std::to_string(*bad) +
                                   ": not valid UTF-8 (save the file as UTF-8)");
  }
  std::vector<CsvRecord> records;
  TOMSTREAM_RETURN_IF_ERROR(ParseCsv(text, &records));
  if (records.empty()) return Status::InvalidArgument("empty file: no header row");

  const CsvRecord& header = records.front();
  const std::string header_at = "line " + std::to_string(header.line);
  std::vector<Field> fields;
  std::map<Field, std::string> seen;
  for (size_t k = 0; k < header.cells.size(); ++k) {
    const std::string name(Trim(header.cells[k]));
    if (name.empty()) {
      return Status::InvalidArgument(header_at + ": column " + std::to_string(k + 1) +
                                     " has no name");
    }
    const auto field = LookupColumn(Lower(name));
    if (!field) {
      return Status::InvalidArgument(header_at + ": unknown column " + Quoted(name) +
                                     " (known: " + KnownColumns() + ")");
    }
    if (const auto it = seen.find(*field); it != seen.end()) {
      return Status::InvalidArgument(header_at + ": columns " + Quoted(it->second) + " and " +
                                     Quoted(name) + " both give " +
                                     std::string(CanonicalName(*field)));
    }
    seen.emplace(*field, name);
    fields.push_back(*field);
  }
  if (!seen.contains(Field::kTargetName)) {
    return Status::InvalidArgument(header_at + ": no target_name column");
  }

  std::vector<Row> rows;
  for (size_t n = 1; n < records.size(); ++n) {
    const CsvRecord& rec = records[n];
    Row row;
    row.csv = true;
    row.where = "line " + std::to_string(rec.line);
    if (rec.cells.size() != fields.size()) {
      return Status::InvalidArgument(row.where + ": " + std::to_string(rec.cells.size()) +
                                     " cells, but the header has " +
                                     std::to_string(fields.size()) + " columns");
    }
    for (size_t k = 0; k < fields.size(); ++k) {
      if (Trim(rec.cells[k]).empty()) continue;
      Cell c;
      c.column = std::string(Trim(header.cells[k]));
      c.text = rec.cells[k];
      row.cells.emplace(fields[k], std::move(c));
    }
    rows.push_back(std::move(row));
  }
  if (rows.empty()) return Status::InvalidArgument("no data rows after the header");
  return rows;
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

std::string Path(const std::string& where, std::string_view key) {
  return where.empty() ? std::string(key) : where + "." + std::string(key);
}

std::string Path(const std::string& where, size_t index) {
  return where + "[" + std::to_string(index) + "]";
}

Status JsonInvalid(const std::string& path, const std::string& what) {
  return Status::InvalidArgument(path + ": " + what);
}

// A flat row or a Hermes photometry entry.
Status RowFromJson(const json& obj, const std::string& where, bool allow_target_fields,
                   Row* row) {
  if (!obj.is_object()) return JsonInvalid(where, "expected an object");
  row->csv = false;
  row->where = where;
  std::map<Field, std::string> seen;
  for (const auto& [key, value] : obj.items()) {
    const auto field = LookupColumn(key);
    if (!field || (IsTargetField(*field) && !allow_target_fields)) {
      return JsonInvalid(where, "unknown key " + Quoted(key));
    }
    if (const auto it = seen.find(*field); it != seen.end()) {
      return JsonInvalid(where, "keys " + Quoted(it->second) + " and " + Quoted(key) +
                                    " both give " + std::string(CanonicalName(*field)));
    }
    seen.emplace(*field, key);
    Cell c;
    c.column = key;
    if (value.is_null()) continue;
    if (value.is_string()) {
      c.text = value.get<std::string>();
      if (Trim(c.text).empty()) continue;
    } else if (value.is_number()) {
      c.number = value.get<double>();
      c.text = value.dump();
    } else if (value.is_array() && *field == Field::kAliases) {
      std::vector<std::string> list;
      for (size_t k = 0; k < value.size(); ++k) {
        const json& e = value[k];
        if (!e.is_string()) return JsonInvalid(Path(Path(where, key), k), "expected a string");
        const std::string_view a = Trim(e.get_ref<const std::string&>());
        if (!a.empty()) list.emplace_back(a);
      }
      if (list.empty()) continue;
      c.list = std::move(list);
    } else {
      return JsonInvalid(Path(where, key), std::string("expected a string or a number, not ") +
                                               value.type_name());
    }
    row->cells.emplace(*field, std::move(c));
  }
  return Status::Ok();
}

Status JsonString(const json& v, const std::string& path, std::string* out) {
  if (v.is_string()) {
    *out = v.get<std::string>();
  } else if (v.is_number()) {
    *out = v.dump();
  } else {
    return JsonInvalid(path, std::string("expected a string, not ") + v.type_name());
  }
  return Status::Ok();
}

Status JsonNumber(const json& v, const std::string& path, double* out) {
  std::optional<double> d;
  if (v.is_number()) {
    d = v.get<double>();
  } else if (v.is_string()) {
    d = ParseNumber(v.get_ref<const std::string&>());
  } else {
    return JsonInvalid(path, std::string("expected a number, not ") + v.type_name());
  }
  if (!d || !std::isfinite(*d)) return JsonInvalid(path, "not a number: " + v.dump());
  *out = *d;
  return Status::Ok();
}

Status JsonStringList(const json& v, const std::string& path,
                      google::protobuf::RepeatedPtrField<std::string>* out) {
  if (v.is_string()) {
    for (auto& s : SplitAliases(v.get_ref<const std::string&>())) *out->Add() = std::move(s);
    return Status::Ok();
  }
  if (!v.is_array()) return JsonInvalid(path, "expected a list of strings");
  for (size_t k = 0; k < v.size(); ++k) {
    std::string s;
    TOMSTREAM_RETURN_IF_ERROR(JsonString(v[k], Path(path, k), &s));
    *out->Add() = std::move(s);
  }
  return Status::Ok();
}

// A Hermes target object.
Status TargetFromJson(const json& obj, const std::string& where, pb::Target* t) {
  if (!obj.is_object()) return JsonInvalid(where, "expected an object");
  for (const auto& [key, v] : obj.items()) {
    if (v.is_null()) continue;
    const std::string path = Path(where, key);
    std::string s;
    double d = 0;
    const auto text = [&](void (pb::Target::*set)(const std::string&)) {
      Status st = JsonString(v, path, &s);
      if (st.ok()) (t->*set)(s);
      return st;
    };
    const auto number = [&](void (pb::Target::*set)(double)) {
      Status st = JsonNumber(v, path, &d);
      if (st.ok()) (t->*set)(d);
      return st;
    };
    const auto object = [&](void (pb::Target::*set)(const std::string&)) {
      if (!v.is_object()) return JsonInvalid(path, "expected an object");
      (t->*set)(v.dump());
      return Status::Ok();
    };
    Status st;
    if (key == "name") {
      st = text(&pb::Target::set_name);
    } else if (key == "ra") {
      st = text(&pb::Target::set_ra);
    } else if (key == "dec") {
      st = text(&pb::Target::set_dec);
    } else if (key == "ra_error") {
      st = number(&pb::Target::set_ra_error);
    } else if (key == "dec_error") {
      st = number(&pb::Target::set_dec_error);
    } else if (key == "ra_error_units") {
      st = text(&pb::Target::set_ra_error_units);
    } else if (key == "dec_error_units") {
      st = text(&pb::Target::set_dec_error_units);
    } else if (key == "pm_ra") {
      st = number(&pb::Target::set_pm_ra);
    } else if (key == "pm_dec") {
      st = number(&pb::Target::set_pm_dec);
    } else if (key == "epoch") {
      st = text(&pb::Target::set_epoch);
    } else if (key == "aliases") {
      st = JsonStringList(v, path, t->mutable_aliases());
    } else if (key == "redshift") {
      st = number(&pb::Target::set_redshift);
    } else if (key == "distance") {
      st = number(&pb::Target::set_distance);
    } else if (key == "distance_units") {
      st = text(&pb::Target::set_distance_units);
    } else if (key == "host_name") {
      st = text(&pb::Target::set_host_name);
    } else if (key == "host_redshift") {
      st = number(&pb::Target::set_host_redshift);
    } else if (key == "new_discovery") {
      if (!v.is_boolean()) return JsonInvalid(path, "expected true or false");
      t->set_new_discovery(v.get<bool>());
    } else if (key == "comments") {
      st = text(&pb::Target::set_comments);
    } else if (key == "group_associations") {
      st = JsonStringList(v, path, t->mutable_group_associations());
    } else if (key == "orbital_elements") {
      st = object(&pb::Target::set_orbital_elements_json);
    } else if (key == "discovery_info") {
      st = object(&pb::Target::set_discovery_info_json);
    } else {
      return JsonInvalid(where, "unknown key " + Quoted(key));
    }
    TOMSTREAM_RETURN_IF_ERROR(st);
  }
  return Status::Ok();
}

// A Hermes message object; `where` is "" for a lone object or "[i]" in an array.
Status MessageFromJson(const json& obj, const std::string& where, pb::PhotometryMessage* m,
                       std::vector<std::string>* names) {
  const std::string self = where.empty() ? "the message" : where;
  if (!obj.is_object()) return JsonInvalid(self, "expected an object");
  for (const auto& [key, v] : obj.items()) {
    const std::string path = Path(where, key);
    if (v.is_null()) continue;
    std::string s;
    if (key == "title" || key == "topic" || key == "submitter" || key == "authors" ||
        key == "message_text" || key == "destination" || key == "idempotency_key") {
      if (!v.is_string()) return JsonInvalid(path, "expected a string");
      s = v.get<std::string>();
      if (key == "title") m->set_title(s);
      if (key == "topic") m->set_topic(s);
      if (key == "submitter") m->set_submitter(s);
      if (key == "authors") m->set_authors(s);
      if (key == "message_text") m->set_message_text(s);
      if (key == "destination") m->set_destination(s);
      if (key == "idempotency_key") m->set_idempotency_key(s);
    } else if (key == "data") {
      if (!v.is_object()) return JsonInvalid(path, "expected an object");
      json extra = json::object();
      for (const auto& [dkey, dv] : v.items()) {
        const std::string dpath = Path(path, dkey);
        if (dkey == "targets" && !dv.is_null()) {
          if (!dv.is_array()) return JsonInvalid(dpath, "expected a list of targets");
          for (size_t k = 0; k < dv.size(); ++k) {
            TOMSTREAM_RETURN_IF_ERROR(TargetFromJson(dv[k], Path(dpath, k), m->add_targets()));
          }
        } else if (dkey == "photometry" && !dv.is_null()) {
          if (!dv.is_array()) return JsonInvalid(dpath, "expected a list of photometry");
          for (size_t k = 0; k < dv.size(); ++k) {
            Row row;
            TOMSTREAM_RETURN_IF_ERROR(RowFromJson(dv[k], Path(dpath, k), false, &row));
            TOMSTREAM_RETURN_IF_ERROR(PhotometryFromRow(row, m->add_photometry()));
          }
        } else if (dkey != "targets" && dkey != "photometry") {
          extra[dkey] = dv;
        }
      }
      if (!extra.empty()) m->set_extra_data_json(extra.dump());
    } else {
      return JsonInvalid(self, "unknown key " + Quoted(key) +
                                   " (known: title, topic, submitter, authors, message_text, "
                                   "data, destination, idempotency_key)");
    }
  }
  for (const auto& t : m->targets()) names->push_back(t.name());
  if (names->empty()) {
    for (const auto& p : m->photometry()) {
      if (std::find(names->begin(), names->end(), p.target_name()) == names->end()) {
        names->push_back(p.target_name());
      }
    }
  }
  return Status::Ok();
}

bool IsMessageObject(const json& obj) {
  for (const char* key : {"data", "title", "topic", "submitter", "authors", "message_text"}) {
    if (obj.contains(key)) return true;
  }
  return false;
}

Result<Built> MessagesFromJson(std::string_view text) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    if (const auto pos = what.find("] "); what.rfind("[json.exception", 0) == 0 &&
                                          pos != std::string::npos) {
      what = what.substr(pos + 2);
    }
    return Status::InvalidArgument("not valid JSON: " + what);
  }
  Built out;
  if (doc.is_object()) {
    out.messages.emplace_back();
    out.names.emplace_back();
    TOMSTREAM_RETURN_IF_ERROR(
        MessageFromJson(doc, "", &out.messages.back(), &out.names.back()));
    return out;
  }
  if (!doc.is_array()) {
    return Status::InvalidArgument(
        "expected a message object, a list of message objects or a list of photometry rows");
  }
  if (doc.empty()) return Status::InvalidArgument("the list is empty");
  bool messages = false;
  for (size_t k = 0; k < doc.size(); ++k) {
    if (!doc[k].is_object()) return JsonInvalid(Path("", k), "expected an object");
    const bool is_message = IsMessageObject(doc[k]);
    if (k == 0) {
      messages = is_message;
    } else if (is_message != messages) {
      return JsonInvalid(Path("", k), messages
                                          ? "a photometry row among message objects"
                                          : "a message object among photometry rows");
    }
  }
  if (messages) {
    for (size_t k = 0; k < doc.size(); ++k) {
      out.messages.emplace_back();
      out.names.emplace_back();
      TOMSTREAM_RETURN_IF_ERROR(
          MessageFromJson(doc[k], Path("", k), &out.messages.back(), &out.names.back()));
    }
    return out;
  }
  std::vector<Row> rows;
  for (size_t k = 0; k < doc.size(); ++k) {
    rows.emplace_back();
    TOMSTREAM_RETURN_IF_ERROR(RowFromJson(doc[k], Path("", k), true, &rows.back()));
  }
  return GroupRows(rows);
}

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

void ApplyDefaults(const PublishDefaults& d, Built* b) {
  // Key suffixes: the target names when they tell the messages apart, else 1-based indexes.
  std::vector<std::string> labels;
  std::set<std::string> distinct;
  for (const auto& names : b->names) {
    labels.push_back(Join(names, ","));
    distinct.insert(labels.back());
  }
  const bool by_name = distinct.size() == labels.size() && !distinct.contains("");
  const bool several = b->messages.size() > 1;
  for (size_t k = 0; k < b->messages.size(); ++k) {
    pb::PhotometryMessage& m = b->messages[k];
    if (!d.destination.empty()) m.set_destination(d.destination);
    if (!d.topic.empty()) m.set_topic(d.topic);
    if (m.submitter().empty()) m.set_submitter(d.submitter);
    if (m.authors().empty()) m.set_authors(d.authors);
    if (m.message_text().empty()) m.set_message_text(d.message_text);
    if (m.title().empty()) m.set_title(d.title);
    if (m.title().empty() && !b->names[k].empty()) {
      m.set_title("Photometry of " + Join(b->names[k], ", "));
    }
    if (m.idempotency_key().empty() && !d.idempotency_key.empty()) {
      if (!several) {
        m.set_idempotency_key(d.idempotency_key);
      } else {
        m.set_idempotency_key(d.idempotency_key + ":" +
                              (by_name ? labels[k] : std::to_string(k + 1)));
      }
    }
  }
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Status::IoError("is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return Status::IoError(std::string("cannot read: ") + std::strerror(errno));
  return s.str();
}

}  // namespace

Result<std::vector<pb::PhotometryMessage>> ReadPhotometryFile(const std::string& path,
                                                              const std::string& format,
                                                              const PublishDefaults& defaults) {
  std::string fmt = Lower(format);
  if (fmt.empty()) {
    const std::string ext = Lower(std::filesystem::path(path).extension().string());
    if (ext == ".csv") {
      fmt = "csv";
    } else if (ext == ".json") {
      fmt = "json";
    } else {
      return Status::InvalidArgument(
          path + ": cannot tell the format from the file name (" +
          (ext.empty() ? std::string("no extension") : "extension " + Quoted(ext)) +
          "); name it: csv or json");
    }
  } else if (fmt != "csv" && fmt != "json") {
    return Status::InvalidArgument(path + ": unknown format " + Quoted(format) +
                                   " (csv or json)");
  }

  Result<std::string> content = ReadWholeFile(path);
  if (!content.ok()) return content.status().WithContext(path);
  const std::string_view text = StripBom(content.value());

  Result<Built> built = Status::Internal("unset");
  if (fmt == "csv") {
    Result<std::vector<Row>> rows = RowsFromCsv(text);
    if (!rows.ok()) return rows.status().WithContext(path);
    built = GroupRows(rows.value());
  } else {
    built = MessagesFromJson(text);
  }
  if (!built.ok()) return built.status().WithContext(path);
  ApplyDefaults(defaults, &built.value());
  return std::move(built.value().messages);
}

}  // namespace tomstream::tomctl
