// Text helpers for error messages and untrusted input: UTF-8 checks and bounded, quoted echoes of
// what a client or a message sent.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tomstream {

// Well-formed UTF-8: no stray continuation bytes, overlong forms, surrogates or code points past
// U+10FFFF (what protobuf requires of proto3 strings and JSON of its text).
bool IsValidUtf8(std::string_view s);

// Appends at most `max` bytes of `s`, cut at a UTF-8 character boundary.
void AppendTruncatedUtf8(std::string& out, std::string_view s, size_t max);

// Like AppendTruncatedUtf8, with control characters (newlines, tabs, ...) turned into spaces so
// that summaries stay on one line.
void AppendOneLine(std::string& out, std::string_view s, size_t max);

// For error messages: `s` in double quotes, control characters escaped, cut to about `max`
// bytes (at a UTF-8 character boundary) with "..." appended when cut. Whatever a client sends,
// the message that echoes it stays short.
std::string Quoted(std::string_view s, size_t max = 64);

}  // namespace tomstream
