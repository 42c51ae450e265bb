// The "gcn" handler: NASA GCN notices and circulars in every form they travel in.
//
//   JSON        new-style notices (with "$schema"), classic-to-JSON conversions, IGWN alerts,
//               GCN circulars JSON ({subject, circularId, eventId, ...}), hop-client's
//               GCNCircular ({"header": {...}, "body": ...}) and VOEvent ({"ivorn": ..., ...}).
//   VOEvent XML the <voe:VOEvent> documents of gcn.classic.voevent.* (namespace prefixes vary, so
//               elements are matched on their local names).
//   text        classic text notices ("KEY:   value" lines) and GCN3 circular text
//               (TITLE/NUMBER/SUBJECT/DATE/FROM header, blank line, body).
//
// HopInfo.format picks the form when it says voevent, gcntextnotice or circular; otherwise the
// first character decides ('<' XML, '{' JSON, else text). Key fields that are present are
// copied into a GcnRecord; a message that is none of these forms is refused.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include <pugixml.hpp>
#include <simdjson.h>

#include "common/astro.h"
#include "handlers/handler.h"
#include "handlers/internal.h"

namespace tomstream::handlers {
namespace {

using internal::FieldRead;
using internal::TrimAscii;
using simdjson::dom::element;

// ---------------------------------------------------------------------------------------------
// Shared helpers

// The notice type a GCN Kafka topic names: gcn.classic.<form>.<TYPE> -> TYPE,
// gcn.notices.<path> -> <path>.
std::string_view TopicNoticeType(std::string_view topic) {
  constexpr std::string_view kClassic = "gcn.classic.";
  constexpr std::string_view kNotices = "gcn.notices.";
  if (topic.starts_with(kClassic)) {
    const std::string_view rest = topic.substr(kClassic.size());
    const size_t dot = rest.find('.');
    if (dot != std::string_view::npos) return rest.substr(dot + 1);
    return {};
  }
  if (topic.starts_with(kNotices)) return topic.substr(kNotices.size());
  return {};
}

void AppendUpper(std::string& out, std::string_view s) {
  for (const char c : s) out += internal::ToUpper(c);
}

bool AllLetters(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!internal::IsAlpha(c)) return false;
  }
  return true;
}

// Sets ra/dec/error when they are a real position: GCN sends 0/0 with a zero error radius as
// "no position" (GBM alerts, Konus light curves).
void SetPosition(GcnRecord& rec, std::optional<double> ra, std::optional<double> dec,
                 std::optional<double> err) {
  if (!ra || !dec || !astro::IsValidRaDeg(*ra) || !astro::IsValidDecDeg(*dec)) return;
  if (*ra == 0.0 && *dec == 0.0 && (!err || *err == 0.0)) return;
  rec.ra_deg = ra;
  rec.dec_deg = dec;
  if (err && *err >= 0.0) rec.error_radius_deg = err;
}

// Mission, notice type and instrument from a VOEvent ivorn, e.g.
//   ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_532871-729      SWIFT, SWIFT_BAT_GRB_POS, BAT
//   ivo://nasa.gsfc.gcn/Fermi#GBM_Fin_Pos2026-02-10T...   Fermi, FERMI_GBM_FIN_POS, GBM
//   ivo://gwnet/LVC#MS260402r-1-Preliminary               LVC, LVC_PRELIMINARY
//   ivo://org.svom/fsc#sb26051102_mxt-initial_qf4         SVOM, SVOM_MXT_INITIAL
// The type is the stream (or, outside GCN's own authorities, the authority's last label)
// followed by the fragment's words: '_'/'-' separated tokens made only of letters; a later
// token such as "Pos2026" (letters glued to a date) keeps its letters.
void FromIvorn(std::string_view ivorn, GcnRecord& rec, bool set_notice_type) {
  constexpr std::string_view kScheme = "ivo://";
  if (!ivorn.starts_with(kScheme)) return;
  std::string_view rest = ivorn.substr(kScheme.size());
  std::string_view fragment;
  if (const size_t hash = rest.find('#'); hash != std::string_view::npos) {
    fragment = rest.substr(hash + 1);
    rest = rest.substr(0, hash);
  }
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view stream;
  if (slash != std::string_view::npos) {
    stream = rest.substr(slash + 1);
    if (const size_t last = stream.rfind('/'); last != std::string_view::npos) {
      stream = stream.substr(last + 1);
    }
  }
  const bool gcn_authority = authority.ends_with(".gcn") || authority == "gwnet";
  std::string mission;
  if (gcn_authority && !stream.empty()) {
    mission.assign(stream);
  } else {
    const size_t dot = authority.rfind('.');
    AppendUpper(mission, dot == std::string_view::npos ? authority : authority.substr(dot + 1));
  }
  if (mission.empty()) return;

  std::string type;
  AppendUpper(type, mission);
  std::string_view first_word;
  bool first = true;
  size_t i = 0;
  while (i <= fragment.size()) {
    size_t j = i;
    while (j < fragment.size() && fragment[j] != '_' && fragment[j] != '-') ++j;
    const std::string_view token = fragment.substr(i, j - i);
    i = j + 1;
    if (token.empty()) continue;
    std::string_view word;
    if (AllLetters(token)) {
      word = token;
    } else if (!first) {
      size_t letters = 0;
      while (letters < token.size() && internal::IsAlpha(token[letters])) ++letters;
      size_t digits = 0;
      while (letters + digits < token.size() && internal::IsDigit(token[letters + digits])) {
        ++digits;
      }
      if (letters > 0 && digits >= 4) word = token.substr(0, letters);
    }
    if (!word.empty()) {
      if (first) first_word = word;
      type += '_';
      AppendUpper(type, word);
    }
    first = false;
  }
  if (rec.mission.empty()) rec.mission = std::move(mission);
  if (set_notice_type && rec.notice_type.empty()) rec.notice_type = std::move(type);
  // GCN's own streams name the instrument first: BAT, XRT, GBM, LAT.
  if (rec.instrument.empty() && authority.ends_with(".gcn") && first_word.size() >= 2 &&
      std::all_of(first_word.begin(), first_word.end(), internal::IsUpper)) {
    rec.instrument.assign(first_word);
  }
}

// The key fields of a VOEvent, from XML or from hop-client's JSON rendering of one.
struct VoFields {
  std::string ivorn;
  std::string role;
  std::string iso_time;
  std::optional<double> c1, c2, error_radius;
  bool position_in_degrees = true;
  std::string trig_id, grace_id, burst_id, run_id, event_id, instrument;
};

void NoteParam(VoFields& f, std::string_view name, std::string_view value) {
  value = TrimAscii(value);
  if (value.empty()) return;
  std::string* slot = nullptr;
  if (name == "TrigID") slot = &f.trig_id;
  else if (name == "GraceID") slot = &f.grace_id;
  else if (name == "Burst_Id") slot = &f.burst_id;
  else if (name == "run_id") slot = &f.run_id;
  else if (name == "event_id") slot = &f.event_id;
  else if (name == "Instrument" || name == "Instruments") slot = &f.instrument;
  if (slot != nullptr && slot->empty()) slot->assign(value);
}

Status FinishVoevent(VoFields& f, std::string_view topic, GcnRecord& rec) {
  rec.kind = "voevent";
  rec.ivorn = std::move(f.ivorn);
  rec.role = std::move(f.role);
  rec.instrument = std::move(f.instrument);
  FromIvorn(rec.ivorn, rec, /*set_notice_type=*/true);
  if (rec.notice_type.empty()) rec.notice_type.assign(TopicNoticeType(topic));
  if (!f.trig_id.empty()) {
    rec.event_id = std::move(f.trig_id);
  } else if (!f.grace_id.empty()) {
    rec.event_id = std::move(f.grace_id);
  } else if (!f.burst_id.empty()) {
    rec.event_id = std::move(f.burst_id);
  } else if (!f.run_id.empty() && !f.event_id.empty()) {
    rec.event_id = f.run_id + "_" + f.event_id;
  } else {
    rec.event_id = std::move(f.event_id);
  }
  if (!f.iso_time.empty()) rec.trigger_time_ms = astro::ParseDateTimeMs(f.iso_time);
  if (f.position_in_degrees) SetPosition(rec, f.c1, f.c2, f.error_radius);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// VOEvent XML

std::string_view LocalName(const char* name) {
  const std::string_view n(name);
  const size_t colon = n.rfind(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

pugi::xml_node Child(pugi::xml_node parent, std::string_view local) {
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && LocalName(c.name()) == local) return c;
  }
  return {};
}

std::optional<double> XmlNumber(pugi::xml_node n) {
  if (!n) return std::nullopt;
  return astro::ParseFiniteDouble(n.child_value());
}

void CollectXmlParams(pugi::xml_node parent, VoFields& f, int depth) {
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    const std::string_view name = LocalName(c.name());
    if (name == "Param") {
      NoteParam(f, c.attribute("name").value(), c.attribute("value").value());
    } else if (name == "Group" && depth < 4) {
      CollectXmlParams(c, f, depth + 1);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// JSON

// "a,b,c" from a string, a number, or an array of them.
void JoinJsonText(element v, std::string& out) {
  simdjson::dom::array items;
  if (v.get_array().get(items)) {
    (void)internal::ReadJsonText(v, out);
    return;
  }
  std::string text;
  for (const element item : items) {
    text.clear();
    if (internal::ReadJsonText(item, text) != FieldRead::kOk) continue;
    if (!out.empty()) out += ',';
    out += text;
  }
}

std::optional<double> JsonNumber(element v) {
  double d = 0;
  if (internal::ReadJsonNumber(v, d) == FieldRead::kOk) return d;
  return std::nullopt;
}

std::string_view JsonString(element v) {
  std::string_view s;
  if (v.get_string().get(s)) return {};
  return s;
}

std::string_view MemberString(element obj, std::string_view key) {
  element v;
  if (obj[key].get(v)) return {};
  return JsonString(v);
}

std::optional<element> AtPointer(element v, std::string_view pointer) {
  element out;
  if (v.at_pointer(pointer).get(out)) return std::nullopt;
  return out;
}

// hop-client renders a VOEvent's Param/Group lists as a list, or as an object when single.
void CollectJsonParams(element parent, VoFields& f, int depth) {
  simdjson::dom::object obj;
  if (parent.get_object().get(obj)) return;
  for (const auto field : obj) {
    if (field.key != "Param" && field.key != "Group") continue;
    const bool is_param = field.key == "Param";
    if (!is_param && depth >= 4) continue;
    simdjson::dom::array items;
    const auto visit = [&](element item) {
      if (is_param) {
        NoteParam(f, MemberString(item, "name"), MemberString(item, "value"));
      } else {
        CollectJsonParams(item, f, depth + 1);
      }
    };
    if (!field.value.get_array().get(items)) {
      for (const element item : items) {
        if (item.is_object()) visit(item);
      }
    } else if (field.value.is_object()) {
      visit(field.value);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Classic text notices and GCN3 circular text

constexpr std::string_view kPositionPrefix[] = {"GRB", "SRC", "CNTRPART"};
constexpr std::string_view kTimePrefix[] = {"TRIGGER", "GRB", "DISCOVERY", "EVENT"};
constexpr size_t kNumPosition = std::size(kPositionPrefix);
constexpr size_t kNumTime = std::size(kTimePrefix);

struct TextFields {
  // Header (before the first blank line).
  std::string_view title, number, subject;
  // Notice fields: the first line of each key's value.
  std::string_view notice_type, trigger_num, event_trig_num, run_num, event_num;
  std::string_view ra[kNumPosition], dec[kNumPosition], error[kNumPosition];
  std::string_view date[kNumTime], time[kNumTime];
};

void Keep(std::string_view& slot, std::string_view value) {
  if (slot.empty()) slot = value;
}

template <size_t N>
int PrefixIndex(const std::string_view (&prefixes)[N], std::string_view prefix) {
  for (size_t i = 0; i < N; ++i) {
    if (prefixes[i] == prefix) return static_cast<int>(i);
  }
  return -1;
}

// Reads "KEY:   value" lines; lines starting with whitespace continue the previous key and are
// skipped. Returns false when the first non-blank line is not such a line.
bool ScanText(std::string_view text, TextFields& f) {
  size_t pos = 0;
  bool seen_key = false;
  bool in_header = true;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || internal::IsSpace(line.front())) {
      // A blank line ends a circular's header; an indented one continues the previous key.
      if (TrimAscii(line).empty() && seen_key) in_header = false;
      continue;
    }
    size_t k = 0;
    while (k < line.size() &&
           (internal::IsAlpha(line[k]) || internal::IsDigit(line[k]) || line[k] == '_')) {
      ++k;
    }
    if (k == 0 || k >= line.size() || line[k] != ':') {
      if (!seen_key) return false;
      continue;
    }
    seen_key = true;
    const std::string_view key = line.substr(0, k);
    const std::string_view value = TrimAscii(line.substr(k + 1));
    std::string_view* slot = nullptr;
    switch (key.size()) {
      case 5:
        if (key == "TITLE" && in_header) slot = &f.title;
        break;
      case 6:
        if (key == "NUMBER" && in_header) slot = &f.number;
        break;
      case 7:
        if (key == "SUBJECT" && in_header) slot = &f.subject;
        else if (key == "RUN_NUM") slot = &f.run_num;
        break;
      case 9:
        if (key == "EVENT_NUM") slot = &f.event_num;
        break;
      case 11:
        if (key == "NOTICE_TYPE") slot = &f.notice_type;
        else if (key == "TRIGGER_NUM") slot = &f.trigger_num;
        break;
      case 14:
        if (key == "EVENT_TRIG_NUM") slot = &f.event_trig_num;
        break;
      default:
        break;
    }
    if (slot != nullptr) {
      Keep(*slot, value);
      continue;
    }
    const size_t us = key.rfind('_');
    if (us == std::string_view::npos) continue;
    const std::string_view prefix = key.substr(0, us);
    const std::string_view suffix = key.substr(us + 1);
    if (suffix == "RA" || suffix == "DEC" || suffix == "ERROR") {
      const int i = PrefixIndex(kPositionPrefix, prefix);
      if (i >= 0) {
        std::string_view* slots = suffix == "RA" ? f.ra : suffix == "DEC" ? f.dec : f.error;
        Keep(slots[i], value);
      }
    } else if (suffix == "DATE" || suffix == "TIME") {
      const int i = PrefixIndex(kTimePrefix, prefix);
      if (i >= 0) Keep(suffix == "DATE" ? f.date[i] : f.time[i], value);
    }
  }
  return seen_key;
}

// A number at the start of `s` ("+5.8716d {...}" -> 5.8716); `rest` gets what follows.
std::optional<double> LeadingNumber(std::string_view s, std::string_view* rest = nullptr) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  const size_t digits_start = i;
  while (i < s.size() && (internal::IsDigit(s[i]) || s[i] == '.')) ++i;
  if (i == digits_start) return std::nullopt;
  const auto v = astro::ParseFiniteDouble(s.substr(0, i));
  if (rest != nullptr) *rest = s.substr(i);
  return v;
}

// "12.34d {...}" as used by *_RA and *_DEC values.
std::optional<double> NoticeAngle(std::string_view s) {
  std::string_view rest;
  const auto v = LeadingNumber(s, &rest);
  if (!v || (!rest.empty() && rest.front() != 'd' && !internal::IsSpace(rest.front()))) {
    return std::nullopt;
  }
  return v;
}

// "69.22 [arcmin radius, ...]", "7.6 [arcsec, radius]", "10.27 [deg radius, ...]" in degrees.
std::optional<double> NoticeErrorRadius(std::string_view s) {
  std::string_view rest;
  const auto v = LeadingNumber(s, &rest);
  if (!v) return std::nullopt;
  rest = TrimAscii(rest);
  if (rest.empty() || rest.front() != '[') return std::nullopt;
  rest.remove_prefix(1);
  size_t n = 0;
  while (n < rest.size() && internal::IsAlpha(rest[n])) ++n;
  const std::string_view unit = rest.substr(0, n);
  if (unit == "deg") return *v;
  if (unit == "arcmin") return *v / 60.0;
  if (unit == "arcsec") return *v / 3600.0;
  return std::nullopt;
}

// "HH:MM:SS[.fff]" -> milliseconds of the day.
std::optional<int64_t> ParseClock(std::string_view s) {
  int parts[3] = {0, 0, 0};
  size_t i = 0;
  for (int p = 0; p < 3; ++p) {
    const size_t start = i;
    while (i < s.size() && internal::IsDigit(s[i]) && i - start < 2) {
      parts[p] = parts[p] * 10 + (s[i] - '0');
      ++i;
    }
    if (i == start) return std::nullopt;
    if (p < 2) {
      if (i >= s.size() || s[i] != ':') return std::nullopt;
      ++i;
    }
  }
  int millis = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const size_t start = i;
    while (i < s.size() && internal::IsDigit(s[i])) {
      if (i - start < 3) millis = millis * 10 + (s[i] - '0');
      ++i;
    }
    for (size_t k = i - start; k < 3; ++k) millis *= 10;
  }
  if (i != s.size() || parts[0] > 23 || parts[1] > 59 || parts[2] > 59) return std::nullopt;
  return (static_cast<int64_t>(parts[0]) * 3600 + parts[1] * 60 + parts[2]) * 1000 + millis;
}

// "18924 TJD;    76 DOY;   2020/03/16 (yyyy/mm/dd)" -> days since 1970-01-01.
// The Truncated Julian Day (JD - 2440000.5) is unambiguous, so it wins; the y/m/d field (whose
// year has 2 or 4 digits whatever its label says) is the fallback.
std::optional<int64_t> NoticeDate(std::string_view s) {
  // TJD of 10000-01-01: later ones are garbage, and would overflow the conversions below.
  constexpr double kTjdYear10000 = 2'933'484;
  std::string_view rest;
  if (const auto tjd = LeadingNumber(s, &rest)) {
    rest = TrimAscii(rest);
    if (rest.starts_with("TJD") && *tjd >= 1 && *tjd < kTjdYear10000 &&
        *tjd == std::floor(*tjd)) {
      return static_cast<int64_t>(*tjd) - 587;  // 2440587.5 - 2440000.5
    }
  }
  // Find a token "a/b/c".
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && !internal::IsDigit(s[i])) ++i;
    const size_t start = i;
    while (i < s.size() && (internal::IsDigit(s[i]) || s[i] == '/')) ++i;
    const std::string_view token = s.substr(start, i - start);
    const size_t s1 = token.find('/');
    const size_t s2 = s1 == std::string_view::npos ? s1 : token.find('/', s1 + 1);
    if (s2 == std::string_view::npos || token.find('/', s2 + 1) != std::string_view::npos) {
      continue;
    }
    const std::string_view ys = token.substr(0, s1);
    const std::string_view ms = token.substr(s1 + 1, s2 - s1 - 1);
    const std::string_view ds = token.substr(s2 + 1);
    int y = 0;
    unsigned m = 0;
    unsigned d = 0;
    if ((ys.size() != 2 && ys.size() != 4) || ms.empty() || ms.size() > 2 || ds.empty() ||
        ds.size() > 2) {
      continue;
    }
    std::from_chars(ys.data(), ys.data() + ys.size(), y);
    std::from_chars(ms.data(), ms.data() + ms.size(), m);
    std::from_chars(ds.data(), ds.data() + ds.size(), d);
    if (ys.size() == 2) y += y < 70 ? 2000 : 1900;
    if (!astro::IsValidDate(y, m, d)) continue;
    return astro::DaysFromCivil(y, m, d);
  }
  return std::nullopt;
}

// "79076.157221 SOD {21:57:56.157221} UT" -> milliseconds of the day (the braces when present).
std::optional<int64_t> NoticeTimeOfDay(std::string_view s) {
  if (const size_t open = s.find('{'); open != std::string_view::npos) {
    const size_t close = s.find('}', open);
    if (close != std::string_view::npos) {
      if (auto ms = ParseClock(TrimAscii(s.substr(open + 1, close - open - 1)))) return ms;
    }
  }
  std::string_view rest;
  const auto sod = LeadingNumber(s, &rest);
  if (!sod || !TrimAscii(rest).starts_with("SOD") || *sod < 0 || *sod >= 86400) {
    return std::nullopt;
  }
  return std::llround(*sod * 1000.0);
}

// ---------------------------------------------------------------------------------------------
// Summary

std::string Summary(const GcnRecord& r) {
  std::string s = "gcn: ";
  if (r.kind == "circular") {
    s += "circular";
    if (!r.event_id.empty()) {
      s += ' ';
      internal::AppendOneLine(s, r.event_id, 40);
    }
    if (!r.title.empty()) {
      s += " \"";
      internal::AppendOneLine(s, r.title, 160);
      s += '"';
    }
    return s;
  }
  if (!r.notice_type.empty()) {
    internal::AppendOneLine(s, r.notice_type, 80);
  } else if (!r.mission.empty() || !r.instrument.empty()) {
    internal::AppendOneLine(s, r.mission, 40);
    if (!r.mission.empty() && !r.instrument.empty()) s += ' ';
    internal::AppendOneLine(s, r.instrument, 40);
  } else {
    s += r.kind;
  }
  if (!r.event_id.empty()) {
    s += " trigger ";
    internal::AppendOneLine(s, r.event_id, 60);
  }
  if (r.trigger_time_ms) {
    s += " at ";
    s += astro::FormatDateTimeMs(*r.trigger_time_ms);
  }
  if (r.ra_deg && r.dec_deg) {
    s += " (ra ";
    internal::AppendFixed(s, *r.ra_deg, 4);
    s += ", dec ";
    internal::AppendFixed(s, *r.dec_deg, 4);
    if (r.error_radius_deg) {
      s += ", err ";
      internal::AppendFixed(s, *r.error_radius_deg, 4);
    }
    s += ')';
  }
  if (!r.role.empty() && r.role != "observation") {
    s += " [";
    internal::AppendOneLine(s, r.role, 20);
    s += ']';
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// The handler

enum class Expect { kAny, kVoevent, kCircular, kNotice };

class GcnHandler final : public Handler {
 public:
  std::string_view name() const override { return "gcn"; }

  Status Parse(const Message& message, const HopInfo& hop, ParsedAlert& out) override {
    const std::string_view body = internal::SkipBomAndSpace(hop.content);
    if (body.empty()) return Status::InvalidArgument("empty message");
    GcnRecord rec;
    const std::string& format = hop.format;
    const char first = body.front();
    Status st;
    if (format == "voevent") {
      st = first == '{' ? ParseJson(body, message.topic, Expect::kVoevent, rec)
                        : ParseXml(body, message.topic, rec);
    } else if (format == "gcntextnotice") {
      st = ParseText(body, message.topic, Expect::kNotice, rec);
    } else if (format == "circular") {
      st = first == '{' ? ParseJson(body, message.topic, Expect::kCircular, rec)
                        : ParseText(body, message.topic, Expect::kCircular, rec);
    } else if (first == '<') {
      st = ParseXml(body, message.topic, rec);
    } else if (first == '{') {
      st = ParseJson(body, message.topic, Expect::kAny, rec);
    } else {
      st = ParseText(body, message.topic, Expect::kAny, rec);
    }
    if (!st.ok()) return st;
    out.summary = Summary(rec);
    out.gcn = std::make_unique<GcnRecord>(std::move(rec));
    return Status::Ok();
  }

 private:
  Status ParseXml(std::string_view body, std::string_view topic, GcnRecord& rec) {
    // Parse in place from a reused buffer (pugixml would otherwise copy the input each time).
    xml_buffer_.assign(body.begin(), body.end());
    const pugi::xml_parse_result result = xml_.load_buffer_inplace(
        xml_buffer_.data(), xml_buffer_.size(), pugi::parse_cdata | pugi::parse_escapes,
        pugi::encoding_utf8);
    if (!result) {
      return Status::InvalidArgument(std::string("VOEvent XML: not well-formed: ") +
                                     result.description() + " at byte " +
                                     std::to_string(result.offset));
    }
    const pugi::xml_node root = xml_.document_element();
    if (LocalName(root.name()) != "VOEvent") {
      std::string m = "XML: root element is <";
      internal::AppendOneLine(m, root.name(), 64);
      m += ">, not a VOEvent";
      return Status::InvalidArgument(std::move(m));
    }
    VoFields f;
    f.ivorn = TrimAscii(root.attribute("ivorn").value());
    f.role = TrimAscii(root.attribute("role").value());
    if (const pugi::xml_node what = Child(root, "What")) CollectXmlParams(what, f, 0);
    const pugi::xml_node coords = Child(
        Child(Child(Child(root, "WhereWhen"), "ObsDataLocation"), "ObservationLocation"),
        "AstroCoords");
    if (coords) {
      const pugi::xml_node iso = Child(Child(Child(coords, "Time"), "TimeInstant"), "ISOTime");
      f.iso_time = TrimAscii(iso.child_value());
      if (const pugi::xml_node pos = Child(coords, "Position2D")) {
        const std::string_view unit = TrimAscii(pos.attribute("unit").value());
        f.position_in_degrees = unit.empty() || unit == "deg";
        const pugi::xml_node value2 = Child(pos, "Value2");
        f.c1 = XmlNumber(Child(value2, "C1"));
        f.c2 = XmlNumber(Child(value2, "C2"));
        f.error_radius = XmlNumber(Child(pos, "Error2Radius"));
      }
    }
    return FinishVoevent(f, topic, rec);
  }

  Status ParseJson(std::string_view body, std::string_view topic, Expect expect,
                   GcnRecord& rec) {
    element root;
    if (const auto error = json_.parse(body.data(), body.size()).get(root)) {
      return Status::InvalidArgument(std::string("JSON: not valid: ") +
                                     simdjson::error_message(error));
    }
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) return Status::InvalidArgument("JSON: not an object");

    std::optional<element> schema, mission, instrument, id, trigger_time, ra, dec, ra_dec_error,
        subject, circular_id, header, body_field, ivorn, role, what, where_when, superevent_id,
        event, alert_type;
    for (const auto field : obj) {
      const std::string_view k = field.key;
      std::optional<element>* slot = nullptr;
      // Dispatch on the length first: notices have dozens of keys and few are wanted.
      switch (k.size()) {
        case 2:
          if (k == "id") slot = &id;
          else if (k == "ra") slot = &ra;
          break;
        case 3:
          if (k == "dec") slot = &dec;
          break;
        case 4:
          if (k == "body") slot = &body_field;
          else if (k == "role") slot = &role;
          else if (k == "What") slot = &what;
          break;
        case 5:
          if (k == "ivorn") slot = &ivorn;
          else if (k == "event") slot = &event;
          break;
        case 6:
          if (k == "header") slot = &header;
          break;
        case 7:
          if (k == "$schema") slot = &schema;
          else if (k == "mission") slot = &mission;
          else if (k == "subject") slot = &subject;
          break;
        case 9:
          if (k == "WhereWhen") slot = &where_when;
          break;
        case 10:
          if (k == "instrument") slot = &instrument;
          else if (k == "circularId") slot = &circular_id;
          else if (k == "alert_type") slot = &alert_type;
          break;
        case 12:
          if (k == "trigger_time") slot = &trigger_time;
          else if (k == "ra_dec_error") slot = &ra_dec_error;
          break;
        case 13:
          if (k == "superevent_id") slot = &superevent_id;
          break;
        default:
          break;
      }
      if (slot != nullptr) *slot = field.value;
    }
    const std::string_view schema_url = schema ? JsonString(*schema) : std::string_view();

    // hop-client's VOEvent model.
    if (ivorn && ivorn->is_string()) {
      VoFields f;
      f.ivorn = TrimAscii(JsonString(*ivorn));
      if (role) f.role = TrimAscii(JsonString(*role));
      if (what) CollectJsonParams(*what, f, 0);
      if (where_when) {
        if (const auto coords =
                AtPointer(*where_when, "/ObsDataLocation/ObservationLocation/AstroCoords")) {
          if (const auto iso = AtPointer(*coords, "/Time/TimeInstant/ISOTime")) {
            f.iso_time = TrimAscii(JsonString(*iso));
          }
          if (const auto pos = AtPointer(*coords, "/Position2D")) {
            if (const auto unit = AtPointer(*pos, "/unit")) {
              const std::string_view u = TrimAscii(JsonString(*unit));
              f.position_in_degrees = u.empty() || u == "deg";
            }
            if (const auto c1 = AtPointer(*pos, "/Value2/C1")) f.c1 = JsonNumber(*c1);
            if (const auto c2 = AtPointer(*pos, "/Value2/C2")) f.c2 = JsonNumber(*c2);
            if (const auto e = AtPointer(*pos, "/Error2Radius")) f.error_radius = JsonNumber(*e);
          }
        }
      }
      return FinishVoevent(f, topic, rec);
    }
    if (expect == Expect::kVoevent) {
      return Status::InvalidArgument("JSON: not a VOEvent (no \"ivorn\")");
    }

    // hop-client's GCNCircular model: {"header": {"title", "number", "subject", ...}, "body"}.
    if (header && header->is_object() && body_field) {
      rec.kind = "circular";
      simdjson::dom::object h;
      if (header->get_object().get(h)) return Status::InvalidArgument("JSON: bad header");
      for (const auto field : h) {
        if (EqualsIgnoreCaseKey(field.key, "subject") && rec.title.empty()) {
          (void)internal::ReadJsonText(field.value, rec.title);
        } else if (EqualsIgnoreCaseKey(field.key, "number") && rec.event_id.empty()) {
          (void)internal::ReadJsonText(field.value, rec.event_id);
        }
      }
      return Status::Ok();
    }
    // GCN Circulars JSON: {subject, circularId, eventId, submitter, createdOn, body, ...}.
    if (circular_id || schema_url.find("/circulars") != std::string_view::npos) {
      rec.kind = "circular";
      if (subject) (void)internal::ReadJsonText(*subject, rec.title);
      if (circular_id) (void)internal::ReadJsonText(*circular_id, rec.event_id);
      return Status::Ok();
    }
    if (expect == Expect::kCircular) {
      return Status::InvalidArgument(
          "JSON: not a GCN circular (no \"header\"/\"body\" and no \"circularId\")");
    }

    // A notice.
    rec.kind = "json";
    if (constexpr std::string_view kNotices = "/notices/";
        schema_url.find(kNotices) != std::string_view::npos) {
      std::string_view path = schema_url.substr(schema_url.find(kNotices) + kNotices.size());
      constexpr std::string_view kSuffix = ".schema.json";
      if (path.ends_with(kSuffix)) path.remove_suffix(kSuffix.size());
      rec.notice_type.assign(path);
      std::replace(rec.notice_type.begin(), rec.notice_type.end(), '/', '.');
      if (!mission) rec.mission.assign(path.substr(0, path.find('/')));
    }
    if (rec.notice_type.empty()) rec.notice_type.assign(TopicNoticeType(topic));
    if (mission) (void)internal::ReadJsonText(*mission, rec.mission);
    if (instrument) JoinJsonText(*instrument, rec.instrument);
    if (id) JoinJsonText(*id, rec.event_id);
    if (rec.event_id.empty() && superevent_id) {
      (void)internal::ReadJsonText(*superevent_id, rec.event_id);
      // IGWN gwalert: {superevent_id, alert_type, event: {time, instruments, ...}}.
      if (rec.notice_type.empty() && alert_type) {
        (void)internal::ReadJsonText(*alert_type, rec.notice_type);
      }
    }
    std::string_view time_text;
    if (trigger_time) time_text = JsonString(*trigger_time);
    if (time_text.empty() && event && event->is_object()) {
      if (const auto t = AtPointer(*event, "/time")) time_text = JsonString(*t);
      if (rec.instrument.empty()) {
        if (const auto inst = AtPointer(*event, "/instruments")) {
          JoinJsonText(*inst, rec.instrument);
        }
      }
    }
    if (!time_text.empty()) rec.trigger_time_ms = astro::ParseDateTimeMs(time_text);
    SetPosition(rec, ra ? JsonNumber(*ra) : std::nullopt, dec ? JsonNumber(*dec) : std::nullopt,
                ra_dec_error ? JsonNumber(*ra_dec_error) : std::nullopt);
    return Status::Ok();
  }

  static bool EqualsIgnoreCaseKey(std::string_view key, std::string_view lower) {
    return internal::EqualsIgnoreCase(key, lower);
  }

  Status ParseText(std::string_view body, std::string_view topic, Expect expect,
                   GcnRecord& rec) {
    if (std::memchr(body.data(), '\0', body.size()) != nullptr) {
      return Status::InvalidArgument("binary content: not a GCN notice or circular");
    }
    TextFields f;
    if (!ScanText(body, f)) {
      return Status::InvalidArgument(
          "text: does not start with a \"KEY: value\" line (not a GCN notice or circular)");
    }
    const bool circular = expect == Expect::kCircular ||
                          (expect == Expect::kAny && !f.number.empty() && !f.subject.empty());
    if (circular) {
      if (f.number.empty() && f.subject.empty()) {
        return Status::InvalidArgument("circular text: no NUMBER or SUBJECT header line");
      }
      rec.kind = "circular";
      rec.title.assign(f.subject);
      rec.event_id.assign(f.number);
      return Status::Ok();
    }
    if (f.title.empty() && f.notice_type.empty()) {
      return Status::InvalidArgument("text: no TITLE or NOTICE_TYPE line (not a GCN notice)");
    }
    rec.kind = "text";
    rec.notice_type.assign(TopicNoticeType(topic));
    if (rec.notice_type.empty()) rec.notice_type.assign(f.notice_type);
    // "GCN/SWIFT NOTICE", "GCN/LVC COUNTERPART NOTICE" -> SWIFT, LVC.
    if (f.title.starts_with("GCN/")) {
      const std::string_view t = f.title.substr(4);
      rec.mission.assign(t.substr(0, std::min(t.find(' '), t.size())));
    }
    if (!f.trigger_num.empty()) {
      // "1227767,   Seg_Num: 0" -> 1227767
      size_t n = 0;
      while (n < f.trigger_num.size() && f.trigger_num[n] != ',' &&
             !internal::IsSpace(f.trigger_num[n])) {
        ++n;
      }
      rec.event_id.assign(f.trigger_num.substr(0, n));
    } else if (!f.event_trig_num.empty()) {
      rec.event_id.assign(f.event_trig_num);
    } else if (!f.run_num.empty() && !f.event_num.empty()) {
      rec.event_id.assign(f.run_num);
      rec.event_id += '_';
      rec.event_id.append(f.event_num);
    } else {
      rec.event_id.assign(f.event_num);
    }
    for (size_t i = 0; i < kNumTime; ++i) {
      if (f.date[i].empty() || f.time[i].empty()) continue;
      const auto days = NoticeDate(f.date[i]);
      const auto tod = NoticeTimeOfDay(f.time[i]);
      if (days && tod) {
        rec.trigger_time_ms = *days * astro::kMsPerDay + *tod;
        break;
      }
    }
    for (size_t i = 0; i < kNumPosition; ++i) {
      if (f.ra[i].empty() || f.dec[i].empty()) continue;
      const auto ra = NoticeAngle(f.ra[i]);
      const auto dec = NoticeAngle(f.dec[i]);
      if (ra && dec) {
        SetPosition(rec, ra, dec,
                    f.error[i].empty() ? std::nullopt : NoticeErrorRadius(f.error[i]));
        break;
      }
    }
    return Status::Ok();
  }

  simdjson::dom::parser json_;
  pugi::xml_document xml_;
  std::string xml_buffer_;
};

}  // namespace

namespace internal {
std::unique_ptr<Handler> MakeGcnHandler() { return std::make_unique<GcnHandler>(); }
}  // namespace internal

}  // namespace tomstream::handlers
