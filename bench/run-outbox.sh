#!/usr/bin/env bash
# Runs the outbox benchmark against a private local broker.
# Usage: bench/run-outbox.sh [--messages N] [--backlog M]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TOMSTREAM_BUILD_DIR:-$root/build}
"$root/packaging/install-deps.sh" >/dev/null
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DTOMSTREAM_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target outbox_bench tomstreamd >/dev/null
broker=$(mktemp -d /tmp/tomstream-bench-broker.XXXXXX)
trap '"$root/tests/kafka/broker.sh" stop "$broker" >/dev/null; rm -rf "$broker"' EXIT
"$root/tests/kafka/broker.sh" start "$broker" >/dev/null
TOMSTREAM_KAFKA_ENV=$broker/broker.env "$build/bench/outbox_bench" "$@"
