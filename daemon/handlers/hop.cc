// ReadHop: hop-client's message conventions (REFERENCE.md section 2; scimma/hop-client
// hop/io.py Deserializer.deserialize and Consumer.is_test).
#include <simdjson.h>

#include "handlers/handler.h"
#include "handlers/internal.h"

namespace tomstream::handlers {
namespace {

// Larger than any std::string small-buffer capacity (15 in libstdc++, 22 in libc++).
constexpr size_t kMinHeapCapacity = 32;

// Could `s` (after leading whitespace) be a JSON text? Saves a parse for XML and plain text.
bool MayBeJson(std::string_view s) {
  while (!s.empty() && internal::IsSpace(s.front())) s.remove_prefix(1);
  if (s.empty()) return false;
  const char c = s.front();
  return c == '{' || c == '[' || c == '"' || c == '-' || internal::IsDigit(c) || c == 't' ||
         c == 'f' || c == 'n';
}

void SetFormat(HopInfo& hop, std::string_view format) {
  // hop-client matches format names case-insensitively; keep ours lower case.
  hop.format.resize(format.size());
  for (size_t i = 0; i < format.size(); ++i) hop.format[i] = internal::ToLower(format[i]);
}

}  // namespace

HopInfo ReadHop(const Message& message) {
  HopInfo hop;
  bool have_format = false;
  bool have_id = false;
  bool have_sender = false;
  for (const Header& h : message.headers) {
    if (h.key.empty() || h.key.front() != '_') continue;
    if (h.key == "_format") {
      // hop-client uses the first _format header.
      if (!have_format && !h.null_value) {
        SetFormat(hop, h.value);
        have_format = true;
      }
    } else if (h.key == "_id") {
      if (!have_id) {
        have_id = true;
        if (!h.null_value && h.value.size() == 16) {
          MessageId id;
          for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(h.value[i]);
          hop.id = id;
        }
      }
    } else if (h.key == "_sender") {
      if (!have_sender && !h.null_value) {
        hop.sender.assign(h.value);
        have_sender = true;
      }
    } else if (h.key == "_test") {
      hop.is_test = true;  // presence, whatever the value
    }
  }

  hop.content = message.payload;
  if (have_format) return hop;

  if (!MayBeJson(message.payload)) {
    hop.format = "blob";
    return hop;
  }
  // One parser per thread: ReadHop is a free function called on every consumer thread.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(message.payload.data(), message.payload.size()).get(root)) {
    hop.format = "blob";
    return hop;
  }
  simdjson::dom::object obj;
  if (!root.get_object().get(obj) && obj.size() == 2) {
    simdjson::dom::element format;
    simdjson::dom::element content;
    bool has_format = false;
    bool has_content = false;
    for (const auto field : obj) {
      if (field.key == "format") {
        format = field.value;
        has_format = true;
      } else if (field.key == "content") {
        content = field.value;
        has_content = true;
      }
    }
    std::string_view format_name;
    if (has_format && has_content && !format.get_string().get(format_name)) {
      // The legacy envelope. "blob" was hop-client's old label for JSON content.
      if (format_name == "blob") {
        hop.format = "json";
      } else {
        SetFormat(hop, format_name);
      }
      std::string_view text;
      if (!content.get_string().get(text)) {
        hop.content_storage.assign(text);
      } else {
        hop.content_storage = simdjson::to_string(content);
      }
      // Keep the characters on the heap, never in std::string's in-object (SSO) buffer, so that
      // `content` stays valid when the HopInfo is moved. (A copy still points into the source.)
      if (hop.content_storage.capacity() < kMinHeapCapacity) {
        hop.content_storage.reserve(kMinHeapCapacity);
      }
      hop.content = hop.content_storage;
      return hop;
    }
  }
  hop.format = "json";
  return hop;
}

}  // namespace tomstream::handlers
