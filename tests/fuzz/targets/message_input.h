// Shared by the handler fuzz targets: one fuzz input as a Kafka message, and the invariants
// every handler result must keep.
//
// Input format (so that a plain message file, such as the fixtures, is a useful seed as it is):
//   @@topic=NAME   sets the message's topic
//   @KEY=VALUE     a Kafka header (VALUE: the rest of the line, any bytes but '\n')
//   @KEY           a Kafka header without a value (null)
//   @@             ends the header lines (so that a payload may itself start with '@')
// Header lines come first; the first other line and everything after it is the payload, which
// is therefore always the tail of libFuzzer's buffer (ASan sees any read past its end).
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/handler.h"
#include "require.h"

namespace tomstream::fuzz {

struct MessageInput {
  std::vector<handlers::Header> headers;
  handlers::Message message;
};

inline MessageInput ReadMessageInput(const uint8_t* data, size_t size) {
  MessageInput in;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty() && rest.front() == '@') {
    const size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) break;  // an unterminated '@' line is payload
    const std::string_view line = rest.substr(1, nl - 1);
    rest.remove_prefix(nl + 1);
    if (line == "@") break;
    if (line.starts_with("@topic=")) {
      in.message.topic = line.substr(7);
      continue;
    }
    const size_t eq = line.find('=');
    handlers::Header h;
    h.key = line.substr(0, eq);
    if (eq == std::string_view::npos) {
      h.null_value = true;
    } else {
      h.value = line.substr(eq + 1);
    }
    in.headers.push_back(h);
  }
  in.message.payload = rest;
  in.message.headers = in.headers;  // the vector's buffer survives moving `in`
  in.message.partition = 3;
  in.message.offset = 42;
  in.message.timestamp_ms = 1767225600000;
  return in;
}

inline bool HasControlCharacter(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '\x7f') return true;
  }
  return false;
}

// ReadHop() on the message, as the consumer does; its result is moved to a new object and the
// old one destroyed before use, so `content` pointing into a moved-from object would be a
// use-after-free that ASan reports.
inline handlers::HopInfo ReadHopMoved(const handlers::Message& message) {
  auto first = std::make_unique<handlers::HopInfo>(handlers::ReadHop(message));
  handlers::HopInfo moved = std::move(*first);
  first.reset();
  for (const char c : moved.format) Require(!(c >= 'A' && c <= 'Z'), "hop format is lower case");
  return moved;
}

inline void AppendNumber(std::string& out, double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc() ? end : buf);
}

inline void AppendField(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += '=';
  out += value;
  out += '\x1f';
}

inline void AppendField(std::string& out, std::string_view name, const std::optional<double>& v) {
  out += name;
  out += '=';
  if (v) AppendNumber(out, *v);
  out += '\x1f';
}

// Every field of a parse result, for comparing two parses of one message.
inline std::string Describe(const Status& status, const handlers::ParsedAlert& alert) {
  std::string d;
  AppendField(d, "status", std::to_string(static_cast<int>(status.code())) + status.message());
  AppendField(d, "summary", alert.summary);
  if (const auto* h = alert.hermes.get()) {
    AppendField(d, "title", h->title);
    AppendField(d, "topic", h->topic);
    AppendField(d, "submitter", h->submitter);
    AppendField(d, "authors", h->authors);
    AppendField(d, "message_text", h->message_text);
    AppendField(d, "event_id", h->event_id);
    AppendField(d, "references", h->references_json);
    for (const auto& t : h->targets) {
      AppendField(d, "target", t.name);
      AppendField(d, "ra", t.ra_deg);
      AppendField(d, "dec", t.dec_deg);
      for (const auto& a : t.aliases) AppendField(d, "alias", a);
      AppendField(d, "json", t.json);
    }
    for (const auto& p : h->photometry) {
      AppendField(d, "row", p.target_name);
      AppendField(d, "date_obs", p.date_obs);
      AppendField(d, "jd", p.date_obs_jd);
      AppendField(d, "telescope", p.telescope);
      AppendField(d, "instrument", p.instrument);
      AppendField(d, "bandpass", p.bandpass);
      AppendField(d, "brightness", p.brightness);
      AppendField(d, "brightness_error", p.brightness_error);
      AppendField(d, "brightness_unit", p.brightness_unit);
      AppendField(d, "limit", p.limiting_brightness);
      AppendField(d, "limit_error", p.limiting_brightness_error);
      AppendField(d, "limit_unit", p.limiting_brightness_unit);
      AppendField(d, "exposure_time", p.exposure_time);
      AppendField(d, "observer", p.observer);
      AppendField(d, "comments", p.comments);
      AppendField(d, "catalog", p.catalog);
    }
  }
  if (const auto* g = alert.gcn.get()) {
    AppendField(d, "kind", g->kind);
    AppendField(d, "notice_type", g->notice_type);
    AppendField(d, "mission", g->mission);
    AppendField(d, "instrument", g->instrument);
    AppendField(d, "event_id", g->event_id);
    AppendField(d, "ivorn", g->ivorn);
    AppendField(d, "role", g->role);
    AppendField(d, "trigger_time_ms",
                g->trigger_time_ms ? std::to_string(*g->trigger_time_ms) : std::string());
    AppendField(d, "ra", g->ra_deg);
    AppendField(d, "dec", g->dec_deg);
    AppendField(d, "error_radius", g->error_radius_deg);
    AppendField(d, "title", g->title);
  }
  return d;
}

// Parses `message` with `handler`, checks what every handler promises (handler.h) and returns
// the result described by Describe().
inline std::string ParseAndCheck(handlers::Handler& handler, const handlers::Message& message,
                                 const handlers::HopInfo& hop, handlers::ParsedAlert& out) {
  const Status st = handler.Parse(message, hop, out);
  if (st.ok()) {
    Require(!out.summary.empty(), "a parsed message has a summary");
    // Summaries are listed one per line (AppendOneLine exists for that).
    Require(!HasControlCharacter(out.summary), "a summary has no control characters",
            out.summary);
    (void)out.HeapBytes();
  } else {
    Require(st.code() == StatusCode::kInvalidArgument, "a refused message is INVALID_ARGUMENT",
            st.message());
    Require(!st.message().empty(), "a refusal says why");
    // The reason is logged and shown in `tomctl quarantine ls`, one line each.
    Require(st.message().find('\n') == std::string::npos, "a refusal is one line",
            st.message());
  }
  return Describe(st, out);
}

// Parses with a handler that has seen every earlier input (as a consumer thread's handler has)
// and with a fresh one: the results must be equal, or state leaked from one message to the next.
// `out` gets the long-lived handler's result.
inline void ParseWithBoth(handlers::Handler& long_lived, std::string_view handler_name,
                          const handlers::Message& message, const handlers::HopInfo& hop,
                          handlers::ParsedAlert& out) {
  const std::string a = ParseAndCheck(long_lived, message, hop, out);
  auto fresh = handlers::MakeHandler(handler_name);
  handlers::ParsedAlert again;
  const std::string b = ParseAndCheck(*fresh, message, hop, again);
  Require(a == b, "a fresh handler parses the message as the long-lived one did",
          a + "\n  vs\n  " + b);
}

}  // namespace tomstream::fuzz
