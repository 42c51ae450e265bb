// Message handlers: turn one Kafka message into what the store keeps.
//
// Handlers are pure: no Kafka, no SQLite, no I/O. The stream module hands each message to the
// handler its route names; the handler either fills a ParsedAlert or returns an error, and an
// error sends the message to quarantine (with the error text) while consumption continues.
//
// Thread-safety: a Handler instance keeps parser state and is used by one thread at a time; each
// consumer thread makes its own with MakeHandler().
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tomstream::handlers {

// A Kafka message header. `value` is empty and `null_value` true for a header without a value.
struct Header {
  std::string_view key;
  std::string_view value;
  bool null_value = false;
};

// One Kafka message; views valid only during the call that receives it.
struct Message {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = -1;  // -1: none
  std::string_view payload;
  std::span<const Header> headers;
};

using MessageId = std::array<uint8_t, 16>;

// hop-client's conventions, read from a message (REFERENCE.md section 2).
struct HopInfo {
  // From the "_format" header; else the legacy envelope {"format", "content"}; else "json" for
  // any valid JSON; else "blob".
  std::string format;
  // The message body: the payload, or for a legacy envelope its "content" (a string's value, or
  // an object re-serialised as JSON). Points into `payload` or into `content_storage`.
  std::string_view content;
  std::string content_storage;
  std::optional<MessageId> id;  // "_id" header of exactly 16 bytes
  std::string sender;           // "_sender" header
  bool is_test = false;         // a "_test" header is present
};

// REQUIRES: the message outlives the returned HopInfo's `content` when it points into payload.
HopInfo ReadHop(const Message& message);

// A Hermes target (hermes serializers' field names).
struct HermesTarget {
  std::string name;
  std::optional<double> ra_deg;   // decimal degrees, from "ra" (decimal or sexagesimal hours)
  std::optional<double> dec_deg;  // decimal degrees, from "dec" (decimal or sexagesimal)
  std::vector<std::string> aliases;
  std::string json;  // the whole target object as received
};

// A Hermes photometry row.
struct HermesPhotometry {
  std::string target_name;
  std::string date_obs;  // as given (ISO string or the JD/MJD number as text)
  double date_obs_jd = 0;  // the same instant as a Julian date
  std::string telescope;
  std::string instrument;
  std::string bandpass;
  std::optional<double> brightness;
  std::optional<double> brightness_error;
  std::string brightness_unit;  // default "AB mag"
  std::optional<double> limiting_brightness;
  std::optional<double> limiting_brightness_error;
  std::string limiting_brightness_unit;  // default "AB mag"
  std::optional<double> exposure_time;
  std::string observer;
  std::string comments;
  std::string catalog;
};

struct HermesRecord {
  std::string title;
  std::string topic;
  std::string submitter;
  std::string authors;
  std::string message_text;
  std::string event_id;
  std::vector<HermesTarget> targets;
  std::vector<HermesPhotometry> photometry;
  std::string references_json;  // data.references as JSON ("" when absent)
};

// Key fields of a GCN notice or circular; the whole message is kept as the alert's payload.
struct GcnRecord {
  std::string kind;         // "json", "voevent", "text" or "circular"
  std::string notice_type;  // e.g. "SWIFT_BAT_GRB_POS_ACK", the VOEvent ivorn's stream part, ...
  std::string mission;
  std::string instrument;
  std::string event_id;     // trigger number, superevent id, circular number, ...
  std::string ivorn;        // VOEvent only
  std::string role;         // VOEvent role: observation, test, utility
  std::optional<int64_t> trigger_time_ms;  // Unix epoch milliseconds
  std::optional<double> ra_deg;
  std::optional<double> dec_deg;
  std::optional<double> error_radius_deg;
  std::string title;        // circulars: subject
};

// What a handler extracts from one message. The records are on the heap so that a batch of
// thousands of raw messages does not carry their (empty) space.
struct ParsedAlert {
  std::string summary;  // one line for listings, e.g. "hermes: 2 targets, 5 photometry rows"
  std::unique_ptr<HermesRecord> hermes;
  std::unique_ptr<GcnRecord> gcn;

  // Heap bytes held by the records and the summary, approximately (for memory bounds).
  size_t HeapBytes() const;
};

class Handler {
 public:
  virtual ~Handler() = default;
  virtual std::string_view name() const = 0;
  // False for handlers that only log: the message's offset advances, nothing else is stored.
  virtual bool stores_alerts() const { return true; }
  // Parses `message` (whose hop conventions are in `hop`) into `out`.
  // On failure returns INVALID_ARGUMENT with a message saying what is wrong (and where, e.g.
  // "data.photometry[2].date_obs: not a date"); the message is then quarantined.
  virtual Status Parse(const Message& message, const HopInfo& hop, ParsedAlert& out) = 0;
};

// "hermes", "gcn", "raw" or "log"; nullptr for any other name.
std::unique_ptr<Handler> MakeHandler(std::string_view name);

// The names MakeHandler() accepts.
std::span<const std::string_view> HandlerNames();

}  // namespace tomstream::handlers
