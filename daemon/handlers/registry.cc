#include <array>

#include "handlers/handler.h"
#include "handlers/internal.h"

namespace tomstream::handlers {
namespace {

constexpr std::array<std::string_view, 4> kNames = {"hermes", "gcn", "raw", "log"};

}  // namespace

std::unique_ptr<Handler> MakeHandler(std::string_view name) {
  if (name == "hermes") return internal::MakeHermesHandler();
  if (name == "gcn") return internal::MakeGcnHandler();
  if (name == "raw") return internal::MakeRawHandler();
  if (name == "log") return internal::MakeLogHandler();
  return nullptr;
}

std::span<const std::string_view> HandlerNames() { return kNames; }

namespace {

// What a string holds outside its own object (nothing while it fits the small-string buffer).
size_t StringHeap(const std::string& s) {
  return s.capacity() > 15 ? s.capacity() + 1 : 0;
}

}  // namespace

size_t ParsedAlert::HeapBytes() const {
  size_t n = StringHeap(summary);
  if (hermes) {
    const HermesRecord& h = *hermes;
    n += sizeof h + StringHeap(h.title) + StringHeap(h.topic) + StringHeap(h.submitter) +
         StringHeap(h.authors) + StringHeap(h.message_text) + StringHeap(h.event_id) +
         StringHeap(h.references_json);
    n += h.targets.capacity() * sizeof(HermesTarget) +
         h.photometry.capacity() * sizeof(HermesPhotometry);
    for (const HermesTarget& t : h.targets) {
      n += StringHeap(t.name) + StringHeap(t.json) + t.aliases.capacity() * sizeof(std::string);
      for (const std::string& a : t.aliases) n += StringHeap(a);
    }
    for (const HermesPhotometry& p : h.photometry) {
      n += StringHeap(p.target_name) + StringHeap(p.date_obs) + StringHeap(p.telescope) +
           StringHeap(p.instrument) + StringHeap(p.bandpass) + StringHeap(p.brightness_unit) +
           StringHeap(p.limiting_brightness_unit) + StringHeap(p.observer) +
           StringHeap(p.comments) + StringHeap(p.catalog);
    }
  }
  if (gcn) {
    const GcnRecord& g = *gcn;
    n += sizeof g + StringHeap(g.kind) + StringHeap(g.notice_type) + StringHeap(g.mission) +
         StringHeap(g.instrument) + StringHeap(g.event_id) + StringHeap(g.ivorn) +
         StringHeap(g.role) + StringHeap(g.title);
  }
  return n;
}

}  // namespace tomstream::handlers
