#!/usr/bin/env bash
# Runs part of the test suite again from a sanitizer build of the project, and fails on any
# sanitizer report from any process (test programs, and the tomstreamd and tomctl they start).
#
#   tests/sanitize/run.sh MODE BUILD_DIR [ctest arguments...]
#
# MODE is address,undefined (ASan, LSan and UBSan) or thread (TSan). BUILD_DIR is configured with
# -DTOMSTREAM_SANITIZE=MODE and built (incrementally, with ccache) before ctest runs in it with
# the given arguments (labels to select). Every process writes its reports to
# BUILD_DIR/sanitizer-reports/ (log_path), so a report from a daemon that a test kills or whose
# exit status it does not check still fails the run. ctest (tests/sanitize/CMakeLists.txt) runs
# this as the tests sanitize_address_undefined and sanitize_thread.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
mode=${1:?usage: run.sh MODE BUILD_DIR [ctest arguments...]}
build=${2:?usage: run.sh MODE BUILD_DIR [ctest arguments...]}
shift 2

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=$root
export CCACHE_NOHASHDIR=true
launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

echo "== sanitizer build ($mode) in $build"
mkdir -p "$build"
# -O1 and line tables only (-g1): the sanitizers' usual choice, readable stack traces, and a
# build much quicker than -O2 -g on CI's two cores.
cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  "${launcher[@]}" \
  -DTOMSTREAM_WERROR=ON -DTOMSTREAM_BUILD_TESTS=ON -DTOMSTREAM_BUILD_BENCH=OFF \
  -DTOMSTREAM_SANITIZE="$mode" > "$build/configure.log" 2>&1 || {
  cat "$build/configure.log"; exit 1; }
cmake --build "$build"

reports=$build/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"
# Reports are files (log_path=<prefix>.<pid>); the exit codes make a finding fail the process too.
# No suppressions: a finding is a bug to fix, or a reason to leave a test out of a run.
export ASAN_OPTIONS="log_path=$reports/asan:exitcode=86:detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="log_path=$reports/tsan:exitcode=87:halt_on_error=0:second_deadlock_stack=1"

status=0
# --no-tests=error: a selection that matches nothing must not pass as clean.
ctest --test-dir "$build" --output-on-failure --no-tests=error --parallel "${CTEST_PARALLEL_LEVEL:-2}" "$@" || status=$?

shopt -s nullglob
found=("$reports"/*)
if (( ${#found[@]} > 0 )); then
  echo "== ${#found[@]} sanitizer report(s) ($mode):"
  for f in "${found[@]}"; do
    echo "---- $f"
    head -c 20000 "$f"
  done
  status=1
fi
if (( status == 0 )); then
  echo "== $mode: clean"
fi
exit "$status"
