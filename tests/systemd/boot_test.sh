#!/usr/bin/env bash
# The units under a real systemd, with their whole sandbox. Boots a container (systemd-nspawn) on
# a throw-away overlay of this machine's root, where boot_inside.sh installs the package built
# from this build tree and checks the daemon through start, tomctl, reload, socket activation,
# an upgrade, the watchdog and a purge. The overlay's upper layer is a tmpfs mounted in a private
# mount namespace, so nothing the container does reaches the host.
# Root only; skips (77) without systemd-nspawn (package systemd-container) or overlayfs.
# Usage: boot_test.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$EUID" -eq 0 ] || skip "booting a container needs root"
command -v systemd-nspawn > /dev/null || skip "systemd-nspawn not found (package systemd-container)"
grep -qw overlay /proc/filesystems || modprobe overlay 2> /dev/null || skip "no overlayfs"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/out"
if ! cpack --config "$build/CPackConfig.cmake" -B "$work/pk" > "$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"
  echo "FAIL: cpack"
  exit 1
fi
cp "$here/boot_inside.sh" "$work/"

# Runs in the private mount namespace.
boot() {
  local work=$1 root=$1/root layers=$1/layers
  mkdir "$root" "$layers"
  mount -t tmpfs tmpfs "$layers" && mkdir "$layers/upper" "$layers/work" &&
    mount -t overlay overlay -o "lowerdir=/,upperdir=$layers/upper,workdir=$layers/work" "$root" ||
    return 1
  printf '[Service]\nType=oneshot\nExecStart=/smoke/boot_inside.sh\n' \
    > "$root/etc/systemd/system/tomstream-boot-test.service"
  # --keep-unit and --register=no: there is no host systemd or machined to talk to.
  # --private-network: only the container's own loopback, so its daemon reaches nothing here.
  # The container boots straight into the test unit, which powers it off when done.
  timeout 300 systemd-nspawn --directory="$root" --bind="$work:/smoke" --register=no \
    --keep-unit --private-network --link-journal=no --console=pipe --boot -- \
    --unit=tomstream-boot-test.service
}
unshare --mount --propagation private bash -c "$(declare -f boot); boot '$work'" \
  > "$work/nspawn.log" 2>&1

if ! grep -qx DONE "$work/out/result" 2> /dev/null || grep -q '^FAIL' "$work/out/result"; then
  echo "--- systemd-nspawn"
  tail -20 "$work/nspawn.log"
  echo "--- boot_inside.sh"
  tail -40 "$work/out/log" 2> /dev/null
  echo "--- journal of tomstreamd"
  tail -40 "$work/out/journal" 2> /dev/null
  echo "--- checks"
  cat "$work/out/result" 2> /dev/null
  grep -qx DONE "$work/out/result" 2> /dev/null || echo "FAIL: the checks did not finish"
  exit 1
fi
cat "$work/out/result"
