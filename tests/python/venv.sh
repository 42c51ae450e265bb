#!/usr/bin/env bash
# Creates (once) the Python virtual environment the client and interop tests use and prints its
# path. Cached under ~/.cache/tomstream, keyed by requirements.txt's content, so a changed pin
# builds a fresh one and an unchanged one is reused across runs and clones.
# Usage: tests/python/venv.sh   (prints the venv directory on stdout; progress on stderr)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
key=$(sha256sum "$here/requirements.txt" | cut -c1-12)
venv=${TOMSTREAM_VENV:-$HOME/.cache/tomstream/venv-$key}
if [[ ! -x $venv/bin/python || ! -f $venv/.complete ]]; then
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  touch "$venv/.complete"
fi
echo "$venv"
