// Conversions between control.proto's outbox messages and the outbox module's types.
#pragma once

#include "common/status.h"
#include "outbox/outbox.h"
#include "outbox/photometry.h"
#include "store/outbox.h"
#include "tomstream/v1/control.pb.h"

namespace tomstream::control {

outbox::PhotometryMessage FromProto(const v1::PhotometryMessage& m);

v1::OutboxState ToProto(store::OutboxState state);
// UNSPECIFIED maps to nullopt (any state); a number no state has is INVALID_ARGUMENT naming
// `field`.
Result<std::optional<store::OutboxState>> FromProto(v1::OutboxState state, const char* field);

void ToProto(const store::OutboxEntry& e, v1::OutboxEntry* out);
void ToProto(const outbox::OutboxStatus& s, int64_t now_ms, v1::OutboxStatus* out);

}  // namespace tomstream::control
