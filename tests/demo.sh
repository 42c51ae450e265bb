#!/usr/bin/env bash
# The main job, locally: builds tomstreamd and tomctl, starts a real Kafka broker on 127.0.0.1
# (tests/kafka/broker.sh) and the daemon against it, publishes photometry through the outbox to
# a Kafka topic, shows the daemon's own subscription storing it, and shows `tomctl status`.
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

# Publishing straight to a hop topic with the stream's broker and credentials.
[[destination]]
name = "hop-local"
kind = "kafka"
stream = "local"
topics = ["hermes.demo"]
default_authors = "A. Observer"
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

step "Publishing photometry through the outbox to hermes.demo"
"$tomctl" publish photometry --destination hop-local --topic hermes.demo --submitter demo \
  --target "SN 2026demo" --ra 150.1234 --dec -20.5678 --date-obs 2026-05-01T03:04:05Z \
  --bandpass g --telescope 1m0a.doma.elp.lco --instrument fa16 --brightness 18.52 \
  --brightness-error 0.05
for _ in $(seq 1 300); do
  [ "$("$tomctl" --json outbox ls --state delivered | grep -c '"uuid"')" -ge 1 ] && break
  sleep 0.1
done
"$tomctl" outbox ls

step "Waiting for the subscription to store it"
for _ in $(seq 1 300); do
  [ "$("$tomctl" --json alerts ls --topic hermes.demo | grep -c '"id"')" -ge 1 ] && break
  sleep 0.1
done
"$tomctl" alerts ls --topic hermes.demo
"$tomctl" photometry ls "SN 2026demo"

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
