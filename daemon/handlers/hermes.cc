// The "hermes" handler: a Hermes message as Hermes puts it on Kafka (REFERENCE.md section 1,
// "What Hermes puts on Kafka"): the validated message JSON. Parsed into a HermesRecord; anything
// Hermes itself would not have produced (wrong types, a photometry row without its required
// fields, an unreadable date, a non-finite brightness) is refused with the field's path.
#include <simdjson.h>

#include "common/astro.h"
#include "handlers/handler.h"
#include "handlers/internal.h"

namespace tomstream::handlers {
namespace {

using internal::FieldRead;
using simdjson::dom::element;

// Builds "data.photometry[2].date_obs"-style paths, only on the error path.
std::string Path(std::string_view array, size_t index, std::string_view field) {
  std::string p = "data.";
  p += array;
  p += '[';
  p += std::to_string(index);
  p += ']';
  if (!field.empty()) {
    p += '.';
    p += field;
  }
  return p;
}

Status Invalid(std::string path, std::string_view what) {
  path += ": ";
  path += what;
  return Status::InvalidArgument(std::move(path));
}

// Reads a string field into `out`; kAbsent and kBad leave `out` unchanged.
template <typename PathFn>
Status ReadText(element v, std::string& out, PathFn&& path) {
  if (internal::ReadJsonText(v, out) != FieldRead::kBad) return Status::Ok();
  return Invalid(path(), "expected a string");
}

template <typename PathFn>
Status ReadNumber(element v, std::optional<double>& out, PathFn&& path) {
  double d = 0;
  switch (internal::ReadJsonNumber(v, d)) {
    case FieldRead::kOk: out = d; return Status::Ok();
    case FieldRead::kAbsent: out.reset(); return Status::Ok();
    case FieldRead::kBad: break;
  }
  std::string what = "not a finite number";
  std::string_view s;
  if (!v.get_string().get(s)) {
    what += ": ";
    what += internal::Quoted(s);
  }
  return Invalid(path(), what);
}

// date_obs: an ISO date-time string, or a JD/MJD as a number or numeric string.
Status ReadDateObs(element v, HermesPhotometry& row, size_t index, bool& present) {
  const auto path = [index] { return Path("photometry", index, "date_obs"); };
  present = false;
  std::string_view s;
  double number = 0;
  bool numeric = false;
  switch (v.type()) {
    case simdjson::dom::element_type::NULL_VALUE:
      return Status::Ok();
    case simdjson::dom::element_type::STRING: {
      if (v.get_string().get(s)) return Invalid(path(), "not a string");
      const std::string_view t = internal::TrimAscii(s);
      if (t.empty()) return Status::Ok();
      present = true;
      row.date_obs.assign(s);
      if (const auto d = astro::ParseFiniteDouble(t)) {
        number = *d;
        numeric = true;
      } else if (const auto ms = astro::ParseDateTimeMs(t)) {
        row.date_obs_jd = astro::UnixMsToJd(*ms);
        return Status::Ok();
      } else {
        return Invalid(path(), "not a date-time, JD or MJD: " + internal::Quoted(s));
      }
      break;
    }
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      present = true;
      (void)internal::ReadJsonText(v, row.date_obs);
      if (v.get_double().get(number)) return Invalid(path(), "not a number");
      numeric = true;
      break;
    default:
      return Invalid(path(), "expected a date-time string or a JD/MJD number");
  }
  if (numeric) {
    const auto jd = astro::DateObsToJd(number);
    if (!jd) {
      return Invalid(path(), row.date_obs +
                                 " is neither a JD in (2400000, 2600000) nor an MJD in "
                                 "(1000, 150000)");
    }
    row.date_obs_jd = *jd;
  }
  return Status::Ok();
}

Status ReadTarget(element v, size_t index, HermesTarget& target) {
  simdjson::dom::object obj;
  if (v.get_object().get(obj)) return Invalid(Path("targets", index, ""), "not an object");
  for (const auto field : obj) {
    const std::string_view key = field.key;
    if (key == "name") {
      TOMSTREAM_RETURN_IF_ERROR(
          ReadText(field.value, target.name, [&] { return Path("targets", index, "name"); }));
    } else if (key == "ra" || key == "dec") {
      const bool is_ra = key == "ra";
      std::optional<double>& out = is_ra ? target.ra_deg : target.dec_deg;
      std::string_view s;
      double d = 0;
      if (field.value.is_null()) continue;
      if (!field.value.get_string().get(s)) {
        if (internal::TrimAscii(s).empty()) continue;
        out = is_ra ? astro::ParseRaDeg(s) : astro::ParseDecDeg(s);
        if (!out) {
          return Invalid(Path("targets", index, key),
                         std::string(is_ra ? "not a right ascension (decimal degrees 0..360 or "
                                             "sexagesimal hours): "
                                           : "not a declination (decimal degrees -90..90 or "
                                             "sexagesimal degrees): ") +
                             internal::Quoted(s));
        }
      } else if (!field.value.get_double().get(d)) {
        if (is_ra ? !astro::IsValidRaDeg(d) : !astro::IsValidDecDeg(d)) {
          std::string what = "out of range: ";
          internal::AppendShortest(what, d);
          return Invalid(Path("targets", index, key), what);
        }
        out = d;
      } else {
        return Invalid(Path("targets", index, key), "expected a string or a number");
      }
    } else if (key == "aliases") {
      if (field.value.is_null()) continue;
      simdjson::dom::array aliases;
      if (field.value.get_array().get(aliases)) {
        return Invalid(Path("targets", index, "aliases"), "not an array");
      }
      size_t i = 0;
      for (const element alias : aliases) {
        std::string text;
        if (internal::ReadJsonText(alias, text) == FieldRead::kBad) {
          return Invalid(Path("targets", index, "aliases[" + std::to_string(i) + "]"),
                         "expected a string");
        }
        if (!text.empty()) target.aliases.push_back(std::move(text));
        ++i;
      }
    }
  }
  if (target.name.empty()) return Invalid(Path("targets", index, "name"), "missing");
  target.json = simdjson::to_string(v);
  return Status::Ok();
}

Status ReadPhotometry(element v, size_t index, HermesPhotometry& row) {
  simdjson::dom::object obj;
  if (v.get_object().get(obj)) return Invalid(Path("photometry", index, ""), "not an object");
  bool have_date = false;
  for (const auto field : obj) {
    const std::string_view key = field.key;
    const auto path = [index, key] { return Path("photometry", index, key); };
    std::string* text = nullptr;
    std::optional<double>* number = nullptr;
    switch (key.size() > 0 ? key.front() : '\0') {
      case 't':
        if (key == "target_name") text = &row.target_name;
        else if (key == "telescope") text = &row.telescope;
        break;
      case 'd':
        if (key == "date_obs") {
          TOMSTREAM_RETURN_IF_ERROR(ReadDateObs(field.value, row, index, have_date));
          continue;
        }
        break;
      case 'i':
        if (key == "instrument") text = &row.instrument;
        break;
      case 'b':
        if (key == "bandpass") text = &row.bandpass;
        else if (key == "brightness") number = &row.brightness;
        else if (key == "brightness_error") number = &row.brightness_error;
        else if (key == "brightness_unit") text = &row.brightness_unit;
        break;
      case 'l':
        if (key == "limiting_brightness") number = &row.limiting_brightness;
        else if (key == "limiting_brightness_error") number = &row.limiting_brightness_error;
        else if (key == "limiting_brightness_unit") text = &row.limiting_brightness_unit;
        break;
      case 'e':
        if (key == "exposure_time") number = &row.exposure_time;
        break;
      case 'o':
        if (key == "observer") text = &row.observer;
        break;
      case 'c':
        if (key == "comments") text = &row.comments;
        else if (key == "catalog") text = &row.catalog;
        break;
      default:
        break;
    }
    if (text != nullptr) {
      TOMSTREAM_RETURN_IF_ERROR(ReadText(field.value, *text, path));
    } else if (number != nullptr) {
      TOMSTREAM_RETURN_IF_ERROR(ReadNumber(field.value, *number, path));
    }
  }
  if (row.target_name.empty()) return Invalid(Path("photometry", index, "target_name"), "missing");
  if (!have_date) return Invalid(Path("photometry", index, "date_obs"), "missing");
  if (row.bandpass.empty()) return Invalid(Path("photometry", index, "bandpass"), "missing");
  if (row.brightness_unit.empty()) row.brightness_unit = "AB mag";
  if (row.limiting_brightness_unit.empty()) row.limiting_brightness_unit = "AB mag";
  return Status::Ok();
}

Status ReadData(element v, HermesRecord& rec) {
  if (v.is_null()) return Status::Ok();
  simdjson::dom::object data;
  if (v.get_object().get(data)) return Status::InvalidArgument("data: not an object");
  for (const auto field : data) {
    const std::string_view key = field.key;
    if (key == "targets" || key == "photometry") {
      if (field.value.is_null()) continue;
      simdjson::dom::array items;
      if (field.value.get_array().get(items)) {
        return Status::InvalidArgument("data." + std::string(key) + ": not an array");
      }
      size_t i = 0;
      if (key == "targets") {
        rec.targets.reserve(items.size());
        for (const element item : items) {
          TOMSTREAM_RETURN_IF_ERROR(ReadTarget(item, i++, rec.targets.emplace_back()));
        }
      } else {
        rec.photometry.reserve(items.size());
        for (const element item : items) {
          TOMSTREAM_RETURN_IF_ERROR(ReadPhotometry(item, i++, rec.photometry.emplace_back()));
        }
      }
    } else if (key == "references") {
      if (!field.value.is_null()) rec.references_json = simdjson::to_string(field.value);
    } else if (key == "event_id") {
      TOMSTREAM_RETURN_IF_ERROR(
          ReadText(field.value, rec.event_id, [] { return std::string("data.event_id"); }));
    }
    // Other keys (spectroscopy, astrometry, anything else) pass through in the payload.
  }
  return Status::Ok();
}

void AppendCount(std::string& out, size_t n, std::string_view noun) {
  out += std::to_string(n);
  out += ' ';
  out += noun;
  if (n != 1) out += 's';
}

class HermesHandler final : public Handler {
 public:
  std::string_view name() const override { return "hermes"; }

  Status Parse(const Message& /*message*/, const HopInfo& hop, ParsedAlert& out) override {
    element root;
    if (const auto error = parser_.parse(hop.content.data(), hop.content.size()).get(root)) {
      return Status::InvalidArgument(std::string("not valid JSON: ") +
                                     simdjson::error_message(error));
    }
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) return Status::InvalidArgument("not a JSON object");

    HermesRecord rec;
    for (const auto field : obj) {
      const std::string_view key = field.key;
      std::string* text = nullptr;
      if (key == "title") text = &rec.title;
      else if (key == "topic") text = &rec.topic;
      else if (key == "submitter") text = &rec.submitter;
      else if (key == "authors") text = &rec.authors;
      else if (key == "message_text") text = &rec.message_text;
      if (text != nullptr) {
        TOMSTREAM_RETURN_IF_ERROR(ReadText(field.value, *text, [key] { return std::string(key); }));
      } else if (key == "data") {
        TOMSTREAM_RETURN_IF_ERROR(ReadData(field.value, rec));
      }
    }

    std::string summary = "hermes: \"";
    internal::AppendOneLine(summary, rec.title, 120);
    summary += "\" ";
    AppendCount(summary, rec.targets.size(), "target");
    summary += ", ";
    AppendCount(summary, rec.photometry.size(), "photometry row");
    out.summary = std::move(summary);
    out.hermes = std::make_unique<HermesRecord>(std::move(rec));
    return Status::Ok();
  }

 private:
  simdjson::dom::parser parser_;
};

}  // namespace

namespace internal {
std::unique_ptr<Handler> MakeHermesHandler() { return std::make_unique<HermesHandler>(); }
}  // namespace internal

}  // namespace tomstream::handlers
