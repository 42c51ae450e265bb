// Private to the handlers module: factories used by registry.cc and small text/JSON helpers
// shared by the handlers. Not part of the module's interface.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "common/text.h"
#include "handlers/handler.h"

namespace tomstream::handlers::internal {

std::unique_ptr<Handler> MakeHermesHandler();
std::unique_ptr<Handler> MakeGcnHandler();
std::unique_ptr<Handler> MakeRawHandler();
std::unique_ptr<Handler> MakeLogHandler();

inline bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
inline bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
inline bool IsAlpha(char c) { return IsUpper(c) || IsLower(c); }
inline char ToUpper(char c) { return IsLower(c) ? static_cast<char>(c - 'a' + 'A') : c; }
inline char ToLower(char c) { return IsUpper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string_view TrimAscii(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}
// Drops a leading UTF-8 byte-order mark and ASCII whitespace.
std::string_view SkipBomAndSpace(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Shortest text that reads back as `v` ("2461161.5", "18.52", "1e-09").
void AppendShortest(std::string& out, double v);
// `v` with at most `decimals` decimals, trailing zeros dropped ("12.3", "-45.6").
void AppendFixed(std::string& out, double v, int decimals);
// Bounded, quoted echoes and UTF-8 cuts (common/text.h).
using tomstream::AppendOneLine;
using tomstream::AppendTruncatedUtf8;
using tomstream::Quoted;

// How a JSON value reads as a message field.
enum class FieldRead {
  kAbsent,  // null, or an empty string (Hermes strips null/empty fields)
  kOk,
  kBad,     // wrong type or, for numbers, not a finite number
};

// A string field: a string's value, or a number's text (as Django's CharField accepts numbers).
// Booleans, arrays and objects are kBad.
FieldRead ReadJsonText(simdjson::dom::element v, std::string& out);
// A number field: a JSON number, or a string holding a finite decimal number (leading/trailing
// whitespace allowed). "NaN", "Infinity", booleans, arrays and objects are kBad.
FieldRead ReadJsonNumber(simdjson::dom::element v, double& out);

}  // namespace tomstream::handlers::internal
