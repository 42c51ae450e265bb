#!/usr/bin/env bash
# The whole test suite: installs the Debian packages it needs, builds with warnings as errors,
# and runs ctest (which starts and stops a real Kafka broker itself). Ends with ctest's summary.
#
# Environment: TOMSTREAM_BUILD_DIR (default ./build), CTEST_PARALLEL_LEVEL (default 2),
#              any extra arguments are passed to ctest (e.g. -L unit, -R Store).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TOMSTREAM_BUILD_DIR:-$root/build}

"$root/packaging/install-deps.sh"

# ccache keyed on paths relative to the checkout, so that fresh clones elsewhere reuse it.
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=$root
export CCACHE_NOHASHDIR=true
# Room for the main build, the two sanitizer builds (tests/sanitize) and the fuzz build.
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
  -DTOMSTREAM_WERROR=ON \
  -DTOMSTREAM_BUILD_TESTS=ON \
  -DTOMSTREAM_BUILD_BENCH=ON  # built (so they keep compiling), not run: bench/run-*.sh run them
cmake --build "$build"

# Download the broker jars before the clock of the broker's start-up test runs (cached).
"$root/tests/kafka/broker.sh" fetch

cd "$build"
exec ctest --output-on-failure --parallel "${CTEST_PARALLEL_LEVEL:-2}" "$@"
