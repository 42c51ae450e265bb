// How tomctl prints: protobuf JSON for --json, short human-readable text otherwise.
#pragma once

#include <cstdint>
#include <string>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

namespace tomctl {

// The message as JSON with the proto's field names, every field present, one trailing newline.
std::string ToJson(const google::protobuf::Message& message);

// The message as compact JSON on one line (for streams of messages), with a trailing newline.
std::string ToJsonLine(const google::protobuf::Message& message);

std::string FormatDuration(const google::protobuf::Duration& d);  // "2d 3h", "5m 12s", "0.4s"
std::string FormatBytes(int64_t bytes);                           // "12.3 MiB"
std::string FormatTime(const google::protobuf::Timestamp& t);     // RFC 3339, UTC

}  // namespace tomctl
