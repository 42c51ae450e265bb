// Test-only faults, switched on by the environment of the daemon's process and inert otherwise
// (one branch on a cached flag per call).
//
// TOMSTREAMD_TEST_STALL="<loop>:<ms>" makes the named loop stop making progress <ms> after it
// first runs: "consumer" (every stream's consumer thread), "publisher" (every destination's
// publishing thread) or "control" (the control server's GetVersion handler, which the watchdog
// probe calls). The stalled thread sleeps until the process ends. The watchdog tests use it to
// show that a stalled loop stops the WATCHDOG=1 pings.
#pragma once

#include <string_view>

namespace tomstream::test_hooks {

enum class Loop { kConsumer, kPublisher, kControl };

// Blocks forever once the stall configured for `loop` is due; returns at once otherwise.
void MaybeStall(Loop loop);

}  // namespace tomstream::test_hooks
