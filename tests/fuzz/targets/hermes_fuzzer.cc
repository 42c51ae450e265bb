// Fuzz target: the "hermes" handler, after hop-client's format detection (ReadHop), on one
// message in the format of message_input.h (usually just a JSON payload).
//
// Beyond the handler invariants of message_input.h: what a parsed record holds is what the
// handler promises to have checked (required fields present, numbers finite, dates read,
// coordinates in range).
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/astro.h"
#include "message_input.h"

namespace tomstream::fuzz {
namespace {

void CheckRecord(const handlers::HermesRecord& rec) {
  for (const auto& t : rec.targets) {
    Require(!t.name.empty(), "a target has a name");
    Require(!t.json.empty(), "a target keeps its JSON");
    if (t.ra_deg) Require(astro::IsValidRaDeg(*t.ra_deg), "target ra in range");
    if (t.dec_deg) Require(astro::IsValidDecDeg(*t.dec_deg), "target dec in range");
    for (const auto& a : t.aliases) Require(!a.empty(), "aliases are not empty");
  }
  for (const auto& p : rec.photometry) {
    Require(!p.target_name.empty(), "a row names its target");
    Require(!p.bandpass.empty(), "a row has a bandpass");
    Require(!p.date_obs.empty(), "a row has date_obs");
    Require(std::isfinite(p.date_obs_jd), "date_obs_jd is finite");
    Require(!p.brightness_unit.empty() && !p.limiting_brightness_unit.empty(),
            "units default to AB mag");
    for (const auto* v : {&p.brightness, &p.brightness_error, &p.limiting_brightness,
                          &p.limiting_brightness_error, &p.exposure_time}) {
      if (*v) Require(std::isfinite(**v), "row numbers are finite");
    }
  }
}

}  // namespace
}  // namespace tomstream::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomstream;
  static const auto handler = handlers::MakeHandler("hermes");
  const fuzz::MessageInput in = fuzz::ReadMessageInput(data, size);
  const handlers::HopInfo hop = fuzz::ReadHopMoved(in.message);
  handlers::ParsedAlert alert;
  fuzz::ParseWithBoth(*handler, "hermes", in.message, hop, alert);
  if (alert.hermes) fuzz::CheckRecord(*alert.hermes);
  return 0;
}
