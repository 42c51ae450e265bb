#!/usr/bin/env bash
# The benchmark report in one command: on one private broker (127.0.0.1 only), in one run,
#   1. the ingest benchmark (bench/ingest_bench: raw consumer, tomstreamd raw and hermes handler);
#   2. the Python stack TOM users run today on the same broker and the same topic and messages
#      (bench/python_stack.py: hop-client's consumer, one tom-alertstreams-style save per
#      message), and the ratio of tomstreamd's durable ingest to it (target >= 20x);
#   3. the outbox benchmark (bench/outbox_bench);
#   4. a soak (bench/soak_bench): ingesting at half the hermes handler's measured rate and
#      publishing photometry over gRPC at a steady rate, for 10 minutes, with the daemon's RSS,
#      open fds and WAL size sampled every few seconds;
# then bench/report.py writes bench/results/report.md and report.png (raw outputs in
# bench/results/raw/). A full run takes about 20 minutes; --quick about 5.
#
# Usage: bench/report.sh [--quick] [--messages N] [--python-messages N] [--python-seconds S]
#          [--outbox-messages N] [--backlog M] [--soak-seconds S] [--soak-rate R]
#          [--publish-rate R] [--sample-seconds S] [--results DIR]
#   --quick               smaller sizes: 100,000 ingest messages, 2,000 for the Python stack,
#                         outbox --messages 20000 --backlog 100000, a 60 s soak
#   --messages N          ingest benchmark size (default 1,000,000)
#   --python-messages N   messages the Python stack reads and stores (default 20,000), at most
#   --python-seconds S    seconds per Python pass (default 120)
#   --outbox-messages N, --backlog M   outbox_bench --messages / --backlog (its defaults)
#   --soak-seconds S      soak length (default 600)
#   --soak-rate R         soak ingest rate in msg/s (default: half the hermes handler's rate)
#   --publish-rate R      soak EnqueuePhotometry calls/s (default 100)
#   --sample-seconds S    soak sampling interval (default 5; 2 for a soak under 2 minutes)
#   --results DIR         where report.md, report.png and raw/ go (default bench/results)
# Environment: TOMSTREAM_BUILD_DIR (default build/), TOMSTREAM_REVISION (names the revision
# when the tree is not a git checkout).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TOMSTREAM_BUILD_DIR:-$root/build}
invocation="bench/report.sh${*:+ $*}"

mode=full messages=1000000 python_messages=20000 python_seconds=120
outbox_args=() soak_seconds=600 soak_rate="" publish_rate=100 sample_seconds=""
results=$root/bench/results
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
quick() {
  mode=quick messages=100000 python_messages=2000 python_seconds=30 soak_seconds=60
  outbox_args=(--messages 20000 --backlog 100000)
}
# --quick first, so that other flags given with it override its sizes.
for arg in "$@"; do [[ $arg == --quick ]] && quick; done
while (($#)); do
  case $1 in
    --quick) shift ;;
    --messages) messages=$2; shift 2 ;;
    --python-messages) python_messages=$2; shift 2 ;;
    --python-seconds) python_seconds=$2; shift 2 ;;
    --outbox-messages) outbox_args+=(--messages "$2"); shift 2 ;;
    --backlog) outbox_args+=(--backlog "$2"); shift 2 ;;
    --soak-seconds) soak_seconds=$2; shift 2 ;;
    --soak-rate) soak_rate=$2; shift 2 ;;
    --publish-rate) publish_rate=$2; shift 2 ;;
    --sample-seconds) sample_seconds=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "report.sh: unknown argument $1" >&2; usage ;;
  esac
done
for n in "$messages" "$python_messages" "$python_seconds" "$soak_seconds" "$publish_rate"; do
  [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "report.sh: not a positive number: $n" >&2; exit 2; }
done
[[ -n $sample_seconds ]] || sample_seconds=$((soak_seconds < 120 ? 2 : 5))
mkdir -p "$results"
results=$(cd "$results" && pwd)
raw=$results/raw
rm -rf "$raw"
mkdir -p "$raw"

say() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }
# A path as the report shows it: relative to the repository when inside it.
show() { local p=$1; [[ $p == "$root"/* ]] && p=${p#"$root"/}; printf '%s' "$p"; }
# Runs a step with a time limit, its output on the terminal and in raw/NAME.log, and records
# the command in raw/commands.txt. Usage: step NAME SECONDS ENV_ASSIGNMENT|- COMMAND...
step() {
  local name=$1 limit=$2 envset=$3
  shift 3
  local shown=() a
  for a in "$@"; do shown+=("$(show "$a")"); done
  {
    [[ $envset != - ]] && printf '%s ' "$envset"
    printf '%s\n' "${shown[*]}"
  } >>"$raw/commands.txt"
  if [[ $envset != - ]]; then
    env "$envset" timeout --kill-after=30 "$limit" "$@" 2>&1 | tee "$raw/$name.log"
  else
    timeout --kill-after=30 "$limit" "$@" 2>&1 | tee "$raw/$name.log"
  fi
}

{
  echo "mode=$mode"
  echo "started_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$raw/meta.env"
echo "$invocation" >"$raw/commands.txt"

say "building (${build})"
"$root/packaging/install-deps.sh" >/dev/null
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DTOMSTREAM_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target ingest_bench outbox_bench soak_bench tomstreamd >/dev/null
venv=$("$root/tests/python/venv.sh")
export PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg

revision=${TOMSTREAM_REVISION:-}
if [[ -z $revision ]] && git -C "$root" rev-parse --short HEAD >/dev/null 2>&1; then
  revision=$(git -C "$root" rev-parse --short HEAD)
  # --no-optional-locks: looking must not rewrite the index of a tree others work in.
  if [[ -n $(git --no-optional-locks -C "$root" status --porcelain -- daemon proto client \
               CMakeLists.txt 2>/dev/null) ]]; then
    revision+=" with uncommitted changes in daemon/, proto/ or client/"
  fi
fi
{
  echo "revision=${revision:-unknown}"
  echo "tomstreamd_version=$("$build/daemon/app/tomstreamd" --version 2>&1 | head -n1)"
} >>"$raw/meta.env"

say "starting a private broker"
broker=$(mktemp -d /tmp/tomstream-report-broker.XXXXXX)
trap '"$root/tests/kafka/broker.sh" stop "$broker" >/dev/null; rm -rf "$broker"' EXIT
"$root/tests/kafka/broker.sh" start "$broker"
kafka_env=TOMSTREAM_KAFKA_ENV=$broker/broker.env

say "1/4 ingest benchmark, $messages messages"
step ingest 1800 "$kafka_env" "$build/bench/ingest_bench" --messages "$messages"
topic=$(sed -n '1s/.*, topic \([^ ]*\)$/\1/p' "$raw/ingest.log")
hermes_rate=$(sed -n 's/^(c) tomstreamd, hermes handler *\([0-9]*\) msg.*/\1/p' "$raw/ingest.log")
[[ -n $topic && -n $hermes_rate ]] || { echo "report.sh: cannot read ingest.log" >&2; exit 1; }

say "2/4 the Python stack on the same topic: up to $python_messages messages"
step python-stack $((3 * python_seconds + 120)) - "$venv/bin/python" "$root/bench/python_stack.py" \
  --broker-env "$broker/broker.env" --topic "$topic" --messages "$python_messages" \
  --max-seconds "$python_seconds" --json "$raw/python-stack.json"

say "3/4 outbox benchmark"
step outbox 2400 "$kafka_env" "$build/bench/outbox_bench" "${outbox_args[@]}"

[[ -n $soak_rate ]] || soak_rate=$((hermes_rate / 2))
say "4/4 soak: $soak_seconds s at $soak_rate msg/s in, $publish_rate publishes/s out"
step soak $((soak_seconds + 600)) "$kafka_env" "$build/bench/soak_bench" --rate "$soak_rate" \
  --publish-rate "$publish_rate" --seconds "$soak_seconds" --sample-seconds "$sample_seconds" \
  --csv "$raw/soak.csv" --json "$raw/soak.json"

{
  echo "finished_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$raw/meta.env"
say "report"
"$venv/bin/python" "$root/bench/report.py" --raw "$raw" --out "$results"
