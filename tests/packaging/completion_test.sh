#!/usr/bin/env bash
# The bash completion must offer exactly the subcommands and long options that the built tomctl
# lists in its --help, for tomctl and every (nested) subcommand, so that it cannot drift from
# the code unnoticed. It runs the completion function itself, as bash would on TAB.
# Usage: completion_test.sh TOMCTL COMPLETION_FILE TOMCTL_COMMANDS_SH
set -uo pipefail
tomctl=$1 completion=$2 commands_sh=$3

# shellcheck source=/dev/null
source "$completion"

# What bash would offer after "tomctl WORDS... CUR", sorted, one per line.
complete_words() {
  local cur=$1
  shift
  COMP_WORDS=(tomctl "$@" "$cur")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _tomctl
  printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
}

# From `tomctl WORDS... --help`: the subcommands, or the long options.
help_subcommands() {
  "$tomctl" "$@" --help | awk '/^Subcommands:/ { on = 1; next } on && /^  [^ ]/ { print $1 }' | sort
}
help_options() {
  "$tomctl" "$@" --help |
    awk '/^[A-Z][a-z]*:$/ { on = ($1 == "Options:"); next }
         on && /^  -/ { n = split($1, names, ",")
                        for (i = 1; i <= n; i++) if (names[i] ~ /^--/) print names[i] }' |
    sed 's/=.*//' | sort
}

failed=0 checked=0
compare() {  # compare WHAT EXPECTED ACTUAL
  checked=$((checked + 1))
  if [ "$2" != "$3" ]; then
    failed=$((failed + 1))
    echo "FAIL: $1"
    diff <(echo "$2") <(echo "$3") |
      sed -n 's/^< /  missing from the completion: /p; s/^> /  completed but not in --help: /p'
  fi
}

mapfile -t paths < <(echo; "$commands_sh" "$tomctl")
if [ "${#paths[@]}" -le 5 ]; then
  echo "FAIL: found only ${#paths[@]} command paths in tomctl --help"
  exit 1
fi
for path in "${paths[@]}"; do
  read -r -a words <<< "$path"
  compare "options of 'tomctl $path'" \
    "$(help_options "${words[@]}")" "$(complete_words -- "${words[@]}")"
  subs=$(help_subcommands "${words[@]}")
  if [ -n "$subs" ]; then
    compare "subcommands of 'tomctl $path'" "$subs" "$(complete_words '' "${words[@]}")"
  fi
done

# And no command is completed that tomctl no longer has.
for key in "${!_tomctl_options[@]}" "${!_tomctl_subcommands[@]}"; do
  checked=$((checked + 1))
  path=${key#tomctl} path=${path# }
  printf '%s\n' "${paths[@]}" | grep -qxF -- "$path" ||
    { failed=$((failed + 1)); echo "FAIL: the completion knows '$key', tomctl --help does not"; }
done

echo "$((checked - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
