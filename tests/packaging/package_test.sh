#!/usr/bin/env bash
# Builds the .deb from the build tree with CPack, installs it with dpkg, checks what it put on
# the system, then purges it and checks that it is gone. It changes the machine, so it needs
# root and dpkg and skips (exit 77, with the reason) without them, and it leaves the machine as
# it found it, also when a check fails: the package purged, and the tomstream user removed if
# the install made it.
# Usage: package_test.sh BUILD_DIR UNIT_DIR
set -uo pipefail
build=$1 unit_dir=$2

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$EUID" -eq 0 ] || skip "installing a package needs root"
command -v dpkg > /dev/null || skip "dpkg not found: not a Debian system"
command -v cpack > /dev/null || skip "cpack not found"
state() { dpkg-query -W -f='${db:Status-Status}' tomstreamd 2> /dev/null; }
known() { [ -n "$(state)" ] && [ "$(state)" != not-installed ]; }  # installed, or config left
if known; then
  skip "tomstreamd is already installed here ($(state)); this test would replace and purge it"
fi

work=$(mktemp -d)
had_user=no
getent passwd tomstream > /dev/null && had_user=yes
cleanup() {
  if known; then dpkg --purge tomstreamd > /dev/null 2>&1; fi
  if [ "$had_user" = no ] && getent passwd tomstream > /dev/null; then
    userdel tomstream
    if getent group tomstream > /dev/null; then groupdel tomstream; fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM  # ctest's timeout, ^C: still clean up

failed=0 passed=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}" > "$work/out" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $1"
    sed 's/^/  /' "$work/out"
  fi
}
is_empty() { [ -z "$1" ] || { echo "$1"; false; }; }

files=(
  /usr/sbin/tomstreamd
  /usr/bin/tomctl
  "$unit_dir/tomstreamd.service"
  "$unit_dir/tomstreamd.socket"
  /usr/lib/sysusers.d/tomstreamd.conf
  /usr/lib/tmpfiles.d/tomstreamd.conf
  /etc/tomstreamd/tomstreamd.toml
  /usr/share/man/man8/tomstreamd.8.gz
  /usr/share/man/man1/tomctl.1.gz
  /usr/share/bash-completion/completions/tomctl
  /usr/share/doc/tomstreamd/README.md
  /usr/share/doc/tomstreamd/systemd.md
  /usr/share/doc/tomstreamd/packaging.md
)

# Build. cpack only installs what the build made and packs it (no build step), in a directory
# of its own, so a concurrent build in the same tree is not disturbed.
if ! cpack --config "$build/CPackConfig.cmake" -B "$work" > "$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"
  echo "FAIL: cpack"
  exit 1
fi
deb=$(echo "$work"/tomstreamd_*.deb)
[ -f "$deb" ] || { echo "FAIL: cpack made no tomstreamd_*.deb"; exit 1; }
echo "built $(basename "$deb")"
depends=$(dpkg-deb -f "$deb" Depends)
check "Depends from dpkg-shlibdeps (libc6, librdkafka)" \
  bash -c "grep -q libc6 <<< '$depends' && grep -q librdkafka <<< '$depends'"

# Install.
if ! dpkg -i "$deb" > "$work/dpkg.log" 2>&1; then
  cat "$work/dpkg.log"
  echo "FAIL: dpkg -i"
  exit 1
fi
check "dpkg reports tomstreamd installed" test "$(state)" = installed
for f in "${files[@]}"; do check "installed $f" test -f "$f"; done
check "/etc/tomstreamd/credentials is a directory, mode 700" \
  test "$(stat -c %a /etc/tomstreamd/credentials 2> /dev/null)" = 700
check "tomstreamd.toml is a conffile" \
  grep -qx /etc/tomstreamd/tomstreamd.toml <(dpkg-query --control-show tomstreamd conffiles)
check "tomstreamd --version" bash -c "/usr/sbin/tomstreamd --version | grep -q '^tomstreamd '"
check "tomctl --help" /usr/bin/tomctl --help
check "man tomstreamd(8)" bash -c "man -w 8 tomstreamd | grep -q tomstreamd.8.gz"
check "man tomctl(1) lists its subcommands" \
  grep -q 'tomctl outbox retry' <(zcat /usr/share/man/man1/tomctl.1.gz)
check "the service runs /usr/sbin/tomstreamd" \
  grep -q '^ExecStart=/usr/sbin/tomstreamd ' "$unit_dir/tomstreamd.service"
# Now the binaries are where the units say, verify needs no staging (tests/systemd does that).
check "systemd-analyze verify prints nothing" \
  is_empty "$(systemd-analyze verify "$unit_dir"/tomstreamd.{service,socket} 2>&1)"
check "postinst made the tomstream user" getent passwd tomstream
check "postinst made the tomstream group" getent group tomstream
check "postinst made /run/tomstreamd, owned by tomstream" \
  test "$(stat -c %U:%G /run/tomstreamd 2> /dev/null)" = tomstream:tomstream
check "postinst enabled nothing" \
  is_empty "$(ls /etc/systemd/system/*.wants/tomstreamd.* 2> /dev/null)"

# Purge.
if ! dpkg --purge tomstreamd > "$work/dpkg.log" 2>&1; then
  cat "$work/dpkg.log"
  echo "FAIL: dpkg --purge"
  exit 1
fi
not_known() { ! known; }
check "dpkg reports tomstreamd not installed" not_known
for f in "${files[@]}" /etc/tomstreamd /run/tomstreamd; do check "purged $f" test ! -e "$f"; done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
