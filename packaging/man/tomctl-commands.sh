#!/usr/bin/env bash
# Prints every tomctl command path, one per line, parents first ("topics", "topics add", ...),
# as the built binary's --help lists them under "Subcommands:". Used for the man page and by
# tests/packaging/completion_test.sh, so neither needs its own list of commands.
# Usage: tomctl-commands.sh TOMCTL
set -euo pipefail
tomctl=$1

subcommands() {
  "$tomctl" "$@" --help | awk '/^Subcommands:/ { listing = 1; next }
                               listing && /^  [^ ]/ { print $1 }'
}

walk() {
  local sub
  for sub in $(subcommands "$@"); do
    echo "$* $sub" | sed 's/^ //'
    walk "$@" "$sub"
  done
}
walk
