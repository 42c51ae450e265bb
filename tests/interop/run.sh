#!/usr/bin/env bash
# Runs the interop tests with pytest in the Python environment of tests/python/venv.sh (hop-client,
# confluent-kafka, pytest). Extra arguments go to pytest, e.g. -k kcat or -x.
#
# Needs: TOMSTREAM_KAFKA_ENV (broker.env of tests/kafka/broker.sh), TOMSTREAMD_BIN, TOMCTL_BIN;
# kcat on PATH. ctest's interop_hop_kcat sets all of them. By hand:
#   tests/kafka/broker.sh start /tmp/kafka
#   TOMSTREAM_KAFKA_ENV=/tmp/kafka/broker.env TOMSTREAMD_BIN=build/daemon/app/tomstreamd \
#     TOMCTL_BIN=build/client/tomctl/tomctl tests/interop/run.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=$("$here/../python/venv.sh")
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
cd "$here"
exec "$venv/bin/python" -m pytest "$here" "$@"
