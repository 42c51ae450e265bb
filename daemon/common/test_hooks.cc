#include "common/test_hooks.h"

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

namespace tomstream::test_hooks {
namespace {

struct Stall {
  Loop loop;
  std::chrono::steady_clock::time_point at;
};

std::optional<Stall> ParseStall() {
  const char* env = std::getenv("TOMSTREAMD_TEST_STALL");
  if (env == nullptr || *env == '\0') return std::nullopt;
  const std::string spec(env);
  const size_t colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const long ms = colon == std::string::npos ? 0 : std::strtol(spec.c_str() + colon + 1, nullptr, 10);
  std::optional<Loop> loop;
  if (name == "consumer") loop = Loop::kConsumer;
  if (name == "publisher") loop = Loop::kPublisher;
  if (name == "control") loop = Loop::kControl;
  if (!loop) {
    spdlog::warn("TOMSTREAMD_TEST_STALL=\"{}\" names no loop (consumer, publisher, control); ignored",
                 spec);
    return std::nullopt;
  }
  spdlog::warn("test hook: the {} loop stalls {} ms after start", name, ms);
  return Stall{*loop, std::chrono::steady_clock::now() + std::chrono::milliseconds(ms)};
}

}  // namespace

void MaybeStall(Loop loop) {
  static const std::optional<Stall> stall = ParseStall();
  if (!stall || stall->loop != loop || std::chrono::steady_clock::now() < stall->at) return;
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace tomstream::test_hooks
