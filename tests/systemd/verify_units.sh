#!/usr/bin/env bash
# Checks the units exactly as `cmake --install` writes them, in a staged root:
#  - `systemd-analyze verify` prints nothing (no warning, no error);
#  - the sysusers.d and tmpfiles.d files apply cleanly to that root;
#  - `systemd-analyze security` rates the service below max_exposure, and none of its checks
#    fails but the accepted ones.
# verify checks that ExecStart= binaries exist, and the units name /usr/sbin/tomstreamd, which a
# build tree does not have. So the project is installed with DESTDIR into a temporary root, with
# prefix /usr as in the package, and verify runs with --root on it: the binaries are then where
# the units say. That root also needs the targets the units order against (sysinit.target,
# sockets.target, ...), so the host's units are copied in beside ours, and the host's /bin/kill.
# Usage: verify_units.sh BUILD_DIR UNIT_DIR SYSUSERS_DIR TMPFILES_DIR
set -euo pipefail
build=$1 unit_dir=$2 sysusers_dir=$3 tmpfiles_dir=$4

# systemd's scale runs from 0 to 10, 'OK' below 4; the service is at 1.1. The score moves in
# steps of 0.1 and most single options weigh that little, so the test also names the only checks
# allowed to fail, each explained in the unit: the network it needs, and what ProtectClock= and
# ProtectSystem= stand in for. Any other one failing fails the test.
max_exposure=1.5
accepted_open=(PrivateNetwork= IPAddressDeny= 'RestrictAddressFamilies=~AF_UNIX'
  'RestrictAddressFamilies=~AF_(INET|INET6)' DeviceAllow= RootDirectory=/RootImage=)

command -v systemd-analyze > /dev/null || { echo "SKIP: systemd-analyze not found"; exit 77; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
DESTDIR=$root cmake --install "$build" --prefix /usr > /dev/null
host_units=$(pkg-config --variable=systemdsystemunitdir systemd 2> /dev/null ||
  echo /lib/systemd/system)
cp -an "$host_units/." "$root$unit_dir/"
# Likewise the commands the units run from other packages (/bin/kill, from procps).
exec_pattern='s/^Exec[A-Za-z]*=[-@:+!]*\(\/[^ ]*\).*/\1/p'
for command in $(sed -n "$exec_pattern" "$root$unit_dir"/tomstreamd.*); do
  if [ ! -e "$root$command" ] && [ -e "$command" ]; then
    mkdir -p "$root$(dirname "$command")" && cp "$command" "$root$command"
  fi
done

failed=0
fail() { echo "FAIL: $*"; failed=1; }

# Documentation=man: pages are looked up with the host's man; point it at the staged pages.
units=("$root$unit_dir/tomstreamd.service" "$root$unit_dir/tomstreamd.socket")
out=$(MANPATH=$root/usr/share/man systemd-analyze verify --root="$root" "${units[@]}" 2>&1) ||
  fail "systemd-analyze verify exited non-zero"
if [ -n "$out" ]; then
  printf '%s\n' "$out"
  fail "systemd-analyze verify printed the above"
fi
grep -q '^ExecStart=/usr/sbin/tomstreamd ' "${units[0]}" ||
  fail "ExecStart does not name /usr/sbin/tomstreamd"

out=$(systemd-sysusers --root="$root" "$root$sysusers_dir/tomstreamd.conf" 2>&1) ||
  fail "systemd-sysusers: $out"
grep -q '^tomstream:' "$root/etc/passwd" || fail "sysusers.d made no tomstream user"
if [ "$EUID" -eq 0 ]; then  # it chowns the directory to tomstream
  out=$(systemd-tmpfiles --root="$root" --create "$root$tmpfiles_dir/tomstreamd.conf" 2>&1) ||
    fail "systemd-tmpfiles: $out"
  [ -d "$root/run/tomstreamd" ] || fail "tmpfiles.d made no /run/tomstreamd"
else
  echo "not root: tmpfiles.d file not applied"
fi

report=$(systemd-analyze security --offline=true --root="$root" "${units[0]}" 2>&1) || true
level=$(sed -n 's/.*Overall exposure level for tomstreamd.service: \([0-9.]*\).*/\1/p' \
  <<< "$report")
if [ -z "$level" ]; then
  printf '%s\n' "$report"
  fail "no exposure level in systemd-analyze security's report"
elif awk -v l="$level" -v m="$max_exposure" 'BEGIN { exit !(l >= m) }'; then
  grep '✗' <<< "$report" || true
  fail "exposure level $level, should be below $max_exposure"
else
  echo "exposure level $level (below $max_exposure)"
fi
for check in $(awk '$1 == "✗" { print $2 }' <<< "$report"); do
  printf '%s\n' "${accepted_open[@]}" | grep -qxF -- "$check" ||
    fail "systemd-analyze security: $check is not set"
done

[ "$failed" -eq 0 ] && echo "units verified"
exit "$failed"
