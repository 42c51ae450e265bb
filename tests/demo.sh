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

# The local broker's SCRAM-SHA-512 over TLS listener, as SCiMMA Hopskotch is set up.
[[stream]]
name = "local"
url = "kafka://$KAFKA_SASL_SSL/"
security = "scram-sha-512"
username = "$KAFKA_USER"
password = { env = "DEMO_KAFKA_PASSWORD" }
ca_file = "$KAFKA_CA"
start = "earliest"
topic_refresh_ms = 1000

  [[stream.route]]
  topic = "hermes.demo"
  handler = "hermes"
CONF
export DEMO_KAFKA_PASSWORD=$KAFKA_PASSWORD
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

step "Publishing a Hermes photometry message to hermes.demo (kcat)"
message='{"title":"Demo photometry","topic":"hermes.demo","submitter":"demo","authors":"A. Observer",'\
'"message_text":"","data":{"targets":[{"name":"SN 2026demo","ra":"150.1234","dec":"-20.5678",'\
'"aliases":["ZTF26demo"]}],"photometry":[{"target_name":"SN 2026demo",'\
'"date_obs":"2026-05-01T03:04:05+00:00","telescope":"1m0a.doma.elp.lco","instrument":"fa16",'\
'"bandpass":"g","brightness":18.52,"brightness_error":0.05,"brightness_unit":"AB mag"}]}}'
printf '%s' "$message" | kcat -b "$KAFKA_PLAINTEXT" -P -t hermes.demo -H _format=json

step "Waiting for the subscription to store it"
for _ in $(seq 1 300); do
  [ "$("$tomctl" --json alerts ls --topic hermes.demo | grep -c '"id"')" -ge 1 ] && break
  sleep 0.1
done
"$tomctl" alerts ls --topic hermes.demo
"$tomctl" photometry ls ZTF26demo

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
