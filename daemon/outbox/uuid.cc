#include "outbox/uuid.h"

#include <cstdint>
#include <mutex>
#include <random>

#include "common/clock.h"

namespace tomstream::outbox {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string NewUuidV7() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t random_a = 0;
  uint64_t random_b = 0;
  {
    std::lock_guard lock(mu);
    random_a = rng();
    random_b = rng();
  }
  const uint64_t ms = static_cast<uint64_t>(NowMillis());
  unsigned char b[16];
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  for (int i = 6; i < 8; ++i) b[i] = static_cast<unsigned char>(random_a >> (8 * i));
  for (int i = 8; i < 16; ++i) b[i] = static_cast<unsigned char>(random_b >> (8 * (i - 8)));
  b[6] = static_cast<unsigned char>(0x70 | (b[6] & 0x0f));  // version 7
  b[8] = static_cast<unsigned char>(0x80 | (b[8] & 0x3f));  // variant 10
  return std::string(reinterpret_cast<const char*>(b), sizeof b);
}

std::string UuidToString(std::string_view bytes) {
  if (bytes.size() != 16) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    const auto c = static_cast<unsigned char>(bytes[i]);
    out += kHex[c >> 4];
    out += kHex[c & 0x0f];
  }
  return out;
}

std::optional<std::string> ParseUuid(std::string_view text) {
  std::string hex;
  if (text.size() == 36) {
    for (size_t i = 0; i < text.size(); ++i) {
      const bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash_here != (text[i] == '-')) return std::nullopt;
      if (!dash_here) hex += text[i];
    }
  } else if (text.size() == 32) {
    hex = text;
  } else {
    return std::nullopt;
  }
  std::string out(16, '\0');
  for (size_t i = 0; i < 16; ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace tomstream::outbox
