// Require(): how a fuzz target states an invariant. A broken one aborts, so libFuzzer records the
// input as a crash, with what broke printed above its report.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace tomstream::fuzz {

inline void Require(bool ok, const char* what, std::string_view detail = {}) {
  if (ok) return;
  std::fprintf(stderr, "INVARIANT BROKEN: %s\n", what);
  if (!detail.empty()) {
    std::fprintf(stderr, "  %.*s\n", static_cast<int>(detail.size()), detail.data());
  }
  std::abort();
}

}  // namespace tomstream::fuzz
