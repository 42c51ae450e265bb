#include "common/text.h"

#include <algorithm>
#include <cstdio>

namespace tomstream {

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t extra = 0;
    unsigned min_second = 0x80;
    unsigned max_second = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      extra = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      extra = 2;
      if (lead == 0xE0) min_second = 0xA0;  // overlong
      if (lead == 0xED) max_second = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      extra = 3;
      if (lead == 0xF0) min_second = 0x90;  // overlong
      if (lead == 0xF4) max_second = 0x8F;  // past U+10FFFF
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      const unsigned lo = k == 1 ? min_second : 0x80;
      const unsigned hi = k == 1 ? max_second : 0xBF;
      if (c < lo || c > hi) return false;
    }
    i += extra + 1;
  }
  return true;
}

void AppendTruncatedUtf8(std::string& out, std::string_view s, size_t max) {
  if (s.size() <= max) {
    out.append(s);
    return;
  }
  size_t cut = max;
  // Step back over continuation bytes (10xxxxxx) so a multi-byte character is not split.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  out.append(s.substr(0, cut));
}

void AppendOneLine(std::string& out, std::string_view s, size_t max) {
  const size_t start = out.size();
  AppendTruncatedUtf8(out, s, max);
  for (size_t i = start; i < out.size(); ++i) {
    if (static_cast<unsigned char>(out[i]) < 0x20 || out[i] == '\x7f') out[i] = ' ';
  }
}

std::string Quoted(std::string_view s, size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max) + 8);
  out += '"';
  std::string cut;
  AppendTruncatedUtf8(cut, s, max);
  for (const char c : cut) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      const auto byte = static_cast<unsigned>(static_cast<unsigned char>(c));
      std::snprintf(buf, sizeof buf, "\\x%02x", byte);
      out += buf;
    } else {
      out += c;
    }
  }
  if (cut.size() < s.size()) out += "...";
  out += '"';
  return out;
}

}  // namespace tomstream
