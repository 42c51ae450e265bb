// Fuzz target: the "gcn" handler on one message in the format of message_input.h (usually just
// a JSON notice, a VOEvent or a text notice): first as it comes (hop-client's format detection
// by ReadHop, then the handler's own), then once as each hop format the handler treats
// specially, as if the message had carried that "_format" header.
//
// Beyond the handler invariants of message_input.h: a record's position is a real one and its
// trigger time within years 0000..9999.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/astro.h"
#include "message_input.h"

namespace tomstream::fuzz {
namespace {

constexpr std::array<std::string_view, 3> kForcedFormats = {"voevent", "gcntextnotice",
                                                             "circular"};

void CheckRecord(const handlers::GcnRecord& rec) {
  Require(rec.kind == "json" || rec.kind == "voevent" || rec.kind == "text" ||
              rec.kind == "circular",
          "kind is json, voevent, text or circular", rec.kind);
  Require(rec.ra_deg.has_value() == rec.dec_deg.has_value(), "ra and dec come together");
  if (rec.ra_deg) {
    Require(astro::IsValidRaDeg(*rec.ra_deg) && astro::IsValidDecDeg(*rec.dec_deg),
            "position in range");
  } else {
    Require(!rec.error_radius_deg, "no error radius without a position");
  }
  if (rec.error_radius_deg) {
    Require(std::isfinite(*rec.error_radius_deg) && *rec.error_radius_deg >= 0,
            "error radius finite and not negative");
  }
  if (rec.trigger_time_ms) {
    // Dates are read with at most 4-digit years, TJDs up to the year 10000.
    constexpr int64_t kYear0 = -62167219200000;
    constexpr int64_t kYear10000 = 253402300800000;
    Require(*rec.trigger_time_ms >= kYear0 && *rec.trigger_time_ms < kYear10000,
            "trigger time within years 0000..9999", std::to_string(*rec.trigger_time_ms));
  }
}

void ParseOne(handlers::Handler& handler, const handlers::Message& message) {
  const handlers::HopInfo hop = ReadHopMoved(message);
  handlers::ParsedAlert alert;
  ParseWithBoth(handler, "gcn", message, hop, alert);
  if (alert.gcn) CheckRecord(*alert.gcn);
  Require(!alert.hermes, "the gcn handler makes no hermes record");
}

}  // namespace
}  // namespace tomstream::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomstream;
  static const auto handler = handlers::MakeHandler("gcn");
  const fuzz::MessageInput in = fuzz::ReadMessageInput(data, size);
  fuzz::ParseOne(*handler, in.message);
  for (const std::string_view format : fuzz::kForcedFormats) {
    handlers::Message forced = in.message;
    const handlers::Header header{"_format", format, false};
    forced.headers = std::span<const handlers::Header>(&header, 1);
    fuzz::ParseOne(*handler, forced);
  }
  return 0;
}
