// Wall-clock time as the store and the API record it.
#pragma once

#include <chrono>
#include <cstdint>

namespace tomstream {

// Unix epoch milliseconds, now.
inline int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tomstream
