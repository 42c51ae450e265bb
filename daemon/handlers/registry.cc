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

}  // namespace tomstream::handlers
