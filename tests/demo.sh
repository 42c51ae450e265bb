#!/usr/bin/env bash
# The main job, locally: builds tomstreamd and tomctl, starts a real Kafka broker on 127.0.0.1
# (tests/kafka/broker.sh), starts the daemon against it, and shows `tomctl status`.
#
#   tests/demo.sh          run, show, then stop everything and exit
#   tests/demo.sh --keep   leave the broker and the daemon running (prints how to stop them)
#
# Everything lives in ${TOMSTREAM_DEMO_DIR:-/tmp/tomstream-demo}; nothing is installed
# system-wide except the Debian build dependencies.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TOMSTREAM_BUILD_DIR:-$root/build}
demo=${TOMSTREAM_DEMO_DIR:-/tmp/tomstream-demo}
keep=false
[ "${1:-}" = "--keep" ] && keep=true

step() { printf '\n==> %s\n' "$*"; }

step "Installing build dependencies (Debian packages)"
"$root/packaging/install-deps.sh"

step "Building tomstreamd and tomctl"
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
cmake --build "$build" --target tomstreamd tomctl
tomstreamd=$build/daemon/app/tomstreamd
tomctl=$build/client/tomctl/tomctl

mkdir -p "$demo"
step "Starting a local Kafka broker"
"$root/tests/kafka/broker.sh" start "$demo/kafka"
# shellcheck disable=SC1091
. "$demo/kafka/broker.env"

daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true
  fi
  "$root/tests/kafka/broker.sh" stop "$demo/kafka" >/dev/null
}
$keep || trap cleanup EXIT

step "Writing $demo/tomstreamd.toml"
cat > "$demo/tomstreamd.toml" <<CONF
[daemon]
log_level = "info"

[store]
path = "$demo/state/tomstream.db"

[control]
socket = "$demo/run/control.sock"
CONF
"$tomstreamd" --config "$demo/tomstreamd.toml" --check-config

step "Starting tomstreamd (log: $demo/tomstreamd.log)"
"$tomstreamd" --config "$demo/tomstreamd.toml" >"$demo/tomstreamd.log" 2>&1 &
daemon_pid=$!
export TOMSTREAM_SOCKET=$demo/run/control.sock
for _ in $(seq 1 100); do
  "$tomctl" --timeout 1 version >/dev/null 2>&1 && break
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$demo/tomstreamd.log"; exit 1; }
  sleep 0.1
done

step "tomctl status"
"$tomctl" status

if $keep; then
  cat <<EOT

Still running. Try:
  TOMSTREAM_SOCKET=$TOMSTREAM_SOCKET $tomctl status --json
Stop with:
  kill $daemon_pid; $root/tests/kafka/broker.sh stop $demo/kafka
EOT
else
  step "Stopping (SIGTERM to tomstreamd, then the broker)"
fi
