#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz/targets: a clang build of their own, and bounded runs.
#
#   run.sh build BUILD_DIR               configure (once) and build the fuzzers in BUILD_DIR
#   run.sh run BUILD_DIR NAME SECONDS    run NAME_fuzzer for SECONDS on its seed corpus
#   run.sh all BUILD_DIR SECONDS         build, then run every fuzzer in turn
#
# NAME: config, hermes, gcn or photometry. A run copies the seeds (tests/fuzz/seeds/NAME, the
# matching shared/fixtures folders, etc/tomstreamd.toml for config) into BUILD_DIR/corpus/NAME,
# which libFuzzer then grows; the sources are never written. It fails on any crash, sanitizer
# report, leak, timeout (10 s for one input) or out-of-memory (2 GiB), and then prints the
# reproducer and the command that replays it. Longer local runs: run.sh run build/fuzz-clang gcn 600
#
# Environment: TOMSTREAM_FIXTURES_DIR (default: shared/fixtures beside the checkout);
# TOMSTREAM_FUZZ_JOBS (build parallelism, default 2). Uses ccache when installed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
fixtures=${TOMSTREAM_FIXTURES_DIR:-$root/../shared/fixtures}
names=(config hermes gcn photometry)

die() {
  echo "fuzz: $*" >&2
  exit 1
}

build() {
  local dir=$1
  command -v clang++ >/dev/null ||
    die "clang++ not found: install clang and libclang-rt-14-dev (packaging/install-deps.sh)"
  local runtime
  runtime="$(clang++ -print-resource-dir)/lib/linux/libclang_rt.fuzzer-$(uname -m).a"
  [ -f "$runtime" ] ||
    die "libFuzzer ($runtime) not found: install libclang-rt-14-dev (packaging/install-deps.sh)"
  if [ ! -f "$dir/build.ninja" ]; then
    local launcher=()
    command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    cmake -S "$here/targets" -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE= "${launcher[@]}" >/dev/null
  fi
  cmake --build "$dir" --parallel "${TOMSTREAM_FUZZ_JOBS:-2}"
}

# Copies every file under each argument (a file or a folder) into the corpus folder $1, named
# after its path so that files of the same name do not collide.
add_seeds() {
  local corpus=$1 source file name
  shift
  for source in "$@"; do
    [ -e "$source" ] ||
      die "seed source missing: $source (shared/fixtures must sit beside the checkout)"
    while IFS= read -r -d '' file; do
      name=${file#"$(dirname "$source")/"}
      cp "$file" "$corpus/seed-${name//\//_}"
    done < <(find "$source" -type f ! -name SOURCES.md -print0)
  done
}

seed_sources() {
  case $1 in
    config) echo "$here/seeds/config" "$root/etc/tomstreamd.toml" ;;
    hermes) echo "$here/seeds/hermes" "$fixtures/hermes" "$fixtures/hop" ;;
    gcn) echo "$here/seeds/gcn" "$fixtures/gcn" "$fixtures/hop" ;;
    photometry) echo "$here/seeds/photometry" ;;
    *) die "unknown fuzzer '$1' (one of: ${names[*]})" ;;
  esac
}

# Prints a reproducer: where it is, its bytes (as text when printable, and as base64), and the
# command that runs it again.
show_artifact() {
  local bin=$1 file=$2
  echo "---- reproducer: $file ($(stat -c %s "$file") bytes)"
  if LC_ALL=C grep -q '[^[:print:][:space:]]' "$file"; then
    echo "(binary; cat -v)"
    head -c 4096 "$file" | cat -v
  else
    head -c 4096 "$file"
  fi
  echo
  echo "---- base64:"
  head -c 16384 "$file" | base64
  echo "---- replay: $bin $file"
}

run() {
  local dir=$1 name=$2 seconds=$3
  local bin=$dir/bin/${name}_fuzzer
  [ -x "$bin" ] || die "$bin not built (run.sh build $dir)"
  local corpus=$dir/corpus/$name artifacts=$dir/artifacts/$name log=$dir/logs/$name.log
  mkdir -p "$corpus" "$dir/logs"
  rm -rf "$artifacts"
  mkdir -p "$artifacts"
  # shellcheck disable=SC2046 # seed_sources prints paths without spaces
  add_seeds "$corpus" $(seed_sources "$name")

  local rc=0
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="$here/dicts/$name.dict" -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 ||
    rc=$?
  # The last status line ("#N DONE cov: ... ft: ... corp: ... exec/s: ...") and the final stats.
  grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)|^stat::' "$log" || true
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: $name failed (exit $rc); the end of $log:"
    tail -n 80 "$log"
    local file found=0
    for file in "$artifacts"/*; do
      [ -f "$file" ] || continue
      case $(basename "$file") in slow-unit-*) continue ;; esac
      show_artifact "$bin" "$file"
      found=1
    done
    [ "$found" -eq 1 ] || echo "fuzz: no reproducer was written"
    return 1
  fi
  local inputs
  inputs=$(find "$corpus" -type f | wc -l)
  echo "fuzz: $name ran ${seconds}s without a finding; corpus $corpus ($inputs inputs)"
}

case ${1:-} in
  build)
    [ $# -eq 2 ] || die "usage: run.sh build BUILD_DIR"
    build "$2"
    ;;
  run)
    [ $# -eq 4 ] || die "usage: run.sh run BUILD_DIR NAME SECONDS"
    run "$2" "$3" "$4"
    ;;
  all)
    [ $# -eq 3 ] || die "usage: run.sh all BUILD_DIR SECONDS"
    build "$2"
    status=0
    for name in "${names[@]}"; do run "$2" "$name" "$3" || status=1; done
    exit $status
    ;;
  *)
    die "usage: run.sh build BUILD_DIR | run BUILD_DIR NAME SECONDS | all BUILD_DIR SECONDS"
    ;;
esac
