// The ids of outbox entries: RFC 9562 UUIDs, version 7 (a millisecond timestamp, then random
// bits). Sent as the hop `_id` header (16 raw bytes) and shown in their text form. Being
// time-ordered, new ids land at the end of the store's uuid index instead of at random pages.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tomstream::outbox {

// A new version 7 UUID as 16 raw bytes. Thread-safe.
std::string NewUuidV7();

// "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" for 16 raw bytes; "" for any other size.
std::string UuidToString(std::string_view bytes);

// The 16 raw bytes of a UUID in its text form (hex digits, either case, with or without the
// four dashes); nullopt when `text` is not one.
std::optional<std::string> ParseUuid(std::string_view text);

}  // namespace tomstream::outbox
