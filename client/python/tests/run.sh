#!/usr/bin/env bash
# Builds tomstream-client, installs it into WORK_DIR/site and runs its tests against a live
# tomstreamd (ctest's python_client; see client/python/CMakeLists.txt).
#   client/python/tests/run.sh WORK_DIR [pytest arguments...]
# Environment: TOMSTREAMD_BIN (default build/daemon/app/tomstreamd), TOMSTREAM_KAFKA_ENV (the
# broker's broker.env; tests marked kafka fail without it).
set -euo pipefail
readonly PKG=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO=$(cd "$PKG/../.." && pwd)
[[ $# -ge 1 ]] || { sed -n '2,6p' "${BASH_SOURCE[0]}" >&2; exit 2; }
work=$(mkdir -p "$1" && cd "$1" && pwd)
shift

venv=$("$REPO/tests/python/venv.sh")

# Build from a copy laid out as the repository is (client/python beside proto/): the build
# writes build/ and *.egg-info next to setup.py, which must not be the shared source tree, and
# setup.py finds the proto at ../../proto as it does in a checkout. Leftovers of a build in
# the source directory are not copied.
rm -rf "$work/src" "$work/site"
mkdir -p "$work/src/client/python"
tar -C "$PKG" --exclude=./tests --exclude=./build --exclude='*.egg-info' \
    --exclude=./src/tomstream/v1 --exclude=__pycache__ -cf - . |
  tar -C "$work/src/client/python" -xf -
cp -r "$REPO/proto" "$work/src/proto"
# No build isolation: the venv's pinned grpcio-tools and setuptools build it, offline.
"$venv/bin/pip" install --quiet --no-index --no-deps --no-build-isolation \
  --target "$work/site" "$work/src/client/python"

cd "$REPO"
PYTHONPATH="$work/site" PYTHONPYCACHEPREFIX="$work/pycache" \
  exec "$venv/bin/python" -m pytest client/python/tests "$@"
