#!/usr/bin/env bash
# Writes the help2man include file for tomctl.1: a COMMANDS section with the --help of every
# subcommand of the built binary, so the man page documents what that binary accepts.
# Usage: tomctl-h2m.sh TOMCTL OUTPUT
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tomctl=$1

{
  cat "$here/tomctl.h2m"
  echo '[COMMANDS]'
  while read -r -a command; do
    echo ".SS \"tomctl ${command[*]}\""
    echo '.nf'
    # roff: a backslash is written \e, and a line may not start with a control character.
    "$tomctl" "${command[@]}" --help | sed -e 's/\\/\\e/g' -e "s/^[.']/\\\\\\&&/"
    echo '.fi'
  done < <("$here/tomctl-commands.sh" "$tomctl")
} > "$2"
