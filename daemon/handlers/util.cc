#include <charconv>
#include <cmath>

#include "common/astro.h"
#include "handlers/internal.h"

namespace tomstream::handlers::internal {

std::string_view SkipBomAndSpace(std::string_view s) {
  if (s.size() >= 3 && s[0] == '\xEF' && s[1] == '\xBB' && s[2] == '\xBF') s.remove_prefix(3);
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToUpper(a[i]) != ToUpper(b[i])) return false;
  }
  return true;
}

void AppendShortest(std::string& out, double v) {
  char buf[32];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec == std::errc()) out.append(buf, ptr);
}

void AppendFixed(std::string& out, double v, int decimals) {
  char buf[64];
  const auto [ptr, ec] =
      std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  if (ec != std::errc()) {
    AppendShortest(out, v);
    return;
  }
  std::string_view text(buf, static_cast<size_t>(ptr - buf));
  if (text.find('.') != std::string_view::npos) {
    while (text.back() == '0') text.remove_suffix(1);
    if (text.back() == '.') text.remove_suffix(1);
  }
  if (text == "-0") text = "0";
  out.append(text);
}

FieldRead ReadJsonText(simdjson::dom::element v, std::string& out) {
  switch (v.type()) {
    case simdjson::dom::element_type::STRING: {
      std::string_view s;
      if (v.get_string().get(s)) return FieldRead::kBad;
      if (s.empty()) return FieldRead::kAbsent;
      out.assign(s);
      return FieldRead::kOk;
    }
    case simdjson::dom::element_type::INT64: {
      int64_t i = 0;
      if (v.get_int64().get(i)) return FieldRead::kBad;
      out = std::to_string(i);
      return FieldRead::kOk;
    }
    case simdjson::dom::element_type::UINT64: {
      uint64_t u = 0;
      if (v.get_uint64().get(u)) return FieldRead::kBad;
      out = std::to_string(u);
      return FieldRead::kOk;
    }
    case simdjson::dom::element_type::DOUBLE: {
      double d = 0;
      if (v.get_double().get(d)) return FieldRead::kBad;
      out.clear();
      AppendShortest(out, d);
      return FieldRead::kOk;
    }
    case simdjson::dom::element_type::NULL_VALUE:
      return FieldRead::kAbsent;
    default:
      return FieldRead::kBad;
  }
}

FieldRead ReadJsonNumber(simdjson::dom::element v, double& out) {
  switch (v.type()) {
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE: {
      double d = 0;
      if (v.get_double().get(d) || !std::isfinite(d)) return FieldRead::kBad;
      out = d;
      return FieldRead::kOk;
    }
    case simdjson::dom::element_type::STRING: {
      std::string_view s;
      if (v.get_string().get(s)) return FieldRead::kBad;
      if (TrimAscii(s).empty()) return FieldRead::kAbsent;
      const auto d = astro::ParseFiniteDouble(s);
      if (!d) return FieldRead::kBad;
      out = *d;
      return FieldRead::kOk;
    }
    case simdjson::dom::element_type::NULL_VALUE:
      return FieldRead::kAbsent;
    default:
      return FieldRead::kBad;
  }
}

}  // namespace tomstream::handlers::internal
