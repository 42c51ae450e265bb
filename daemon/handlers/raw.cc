// The "raw" handler (store the payload and headers as they are) and the "log" handler (log one
// line per message, store nothing). Neither ever refuses a message.
#include <spdlog/spdlog.h>

#include "handlers/handler.h"
#include "handlers/internal.h"

namespace tomstream::handlers {
namespace {

// "<handler>: <format> <n> bytes"
std::string SizeSummary(std::string_view handler, const Message& message, const HopInfo& hop) {
  std::string s(handler);
  s += ": ";
  internal::AppendOneLine(s, hop.format.empty() ? std::string_view("blob") : hop.format, 32);
  s += ' ';
  s += std::to_string(message.payload.size());
  s += message.payload.size() == 1 ? " byte" : " bytes";
  if (hop.is_test) s += " [test]";
  return s;
}

class RawHandler final : public Handler {
 public:
  std::string_view name() const override { return "raw"; }
  Status Parse(const Message& message, const HopInfo& hop, ParsedAlert& out) override {
    out.summary = SizeSummary("raw", message, hop);
    return Status::Ok();
  }
};

class LogHandler final : public Handler {
 public:
  std::string_view name() const override { return "log"; }
  bool stores_alerts() const override { return false; }
  Status Parse(const Message& message, const HopInfo& hop, ParsedAlert& out) override {
    out.summary = SizeSummary("log", message, hop);
    std::string topic;
    internal::AppendOneLine(topic, message.topic, 256);
    spdlog::info("message {} [{}] @{}: {}", topic, message.partition, message.offset,
                 out.summary);
    return Status::Ok();
  }
};

}  // namespace

namespace internal {
std::unique_ptr<Handler> MakeRawHandler() { return std::make_unique<RawHandler>(); }
std::unique_ptr<Handler> MakeLogHandler() { return std::make_unique<LogHandler>(); }
}  // namespace internal

}  // namespace tomstream::handlers
