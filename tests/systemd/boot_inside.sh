#!/usr/bin/env bash
# Runs as a oneshot service in the container that boot_test.sh boots (see there), as root, with
# a running systemd. Writes one line per check to /smoke/out/result, then DONE, and powers off.
set -uo pipefail
exec > /smoke/out/log 2>&1
result=/smoke/out/result

check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok - $1"; else echo "FAIL - $1"; fi >> "$result"
}
not() { ! "$@"; }
prop() { systemctl show -P "$1" tomstreamd.service; }
wait_for() {  # wait_for SECONDS COMMAND...
  local end=$((SECONDS + $1))
  until "${@:2}"; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.5
  done
}
as() { runuser -u "$1" -- "${@:2}"; }
active() { systemctl is-active -q "$1"; }
restarted() { [ "$(prop NRestarts)" -ge 1 ]; }
pid_changed() { [ "$(prop MainPID)" != "$1" ] && [ "$(prop MainPID)" != 0 ] && active tomstreamd; }
deb=$(echo /smoke/pk/tomstreamd_*.deb)

check "dpkg -i" dpkg -i "$deb"
check "postinst enabled nothing" test "$(systemctl is-enabled tomstreamd.service)" = disabled
check "postinst started nothing" not active tomstreamd.service

# A configuration that is valid without network: a secret from the credentials directory and a
# stream whose broker refuses connections (its consumer loop still runs).
cat > /etc/tomstreamd/tomstreamd.toml << 'EOF'
[[stream]]
name = "local"
url = "kafka://127.0.0.1:1/"
security = "none"
  [[stream.route]]
  topic = "alerts"
  handler = "raw"

[[destination]]
name = "hermes"
kind = "hermes"
base_url = "https://hermes.invalid/"
api_key = { credential = "tomstreamd_hermes-key" }
topics = ["hermes.test"]
EOF
(umask 077 && printf secret > /etc/tomstreamd/credentials/hermes-key)
# A system call outside the filter kills the daemon here (SIGSYS), instead of failing with EPERM;
# a daemon that cannot get ready fails in 20 s rather than the default 90 s.
dropin=/etc/systemd/system/tomstreamd.service.d/test.conf
mkdir -p "$(dirname "$dropin")"
printf '[Service]\nSystemCallErrorNumber=kill\nTimeoutStartSec=20s\n' > "$dropin"
systemctl daemon-reload
useradd --groups tomstream alice
useradd bob

check "start" systemctl start tomstreamd.service
check "the socket unit started with it" active tomstreamd.socket
check "the socket is tomstream's, mode 660" \
  test "$(stat -c '%U:%G %a' /run/tomstreamd/control.sock)" = "tomstream:tomstream 660"
check "tomctl status, as a member of tomstream" as alice tomctl status
check "tomctl refused to others" not as bob tomctl status
check "tomctl topics ls, alerts ls, outbox ls" \
  as alice bash -c 'tomctl topics ls && tomctl alerts ls && tomctl outbox ls'

pid=$(prop MainPID)
check "reload" systemctl reload tomstreamd.service
check "reload keeps the process" test "$(prop MainPID)" = "$pid"
check "running after reload" wait_for 10 active tomstreamd.service

check "stop" systemctl stop tomstreamd.service
check "the socket file outlives the service" test -S /run/tomstreamd/control.sock
check "a tomctl call starts the daemon again (socket activation)" as alice tomctl status
check "running again" active tomstreamd.service

pid=$(prop MainPID)
check "upgrade (dpkg -i again)" dpkg -i "$deb"
check "the upgrade restarted the daemon" wait_for 20 pid_changed "$pid"
check "no system call refused, no crash" \
  not bash -c "journalctl -u tomstreamd | grep -E 'status=31/SYS|code=dumped|code=killed'"

# A consumer loop that stops 1 s after it starts; with WatchdogSec=6s the daemon stops pinging
# 3 s later and systemd kills it 6 s after that.
printf '[Service]\nWatchdogSec=6s\nEnvironment=TOMSTREAMD_TEST_STALL=consumer:1000\n' >> "$dropin"
systemctl daemon-reload
systemctl restart tomstreamd.service
check "the watchdog restarts a stalled daemon" wait_for 60 restarted
check "systemd logged the watchdog timeout" \
  bash -c "journalctl -u tomstreamd | grep -q 'Watchdog timeout'"

check "dpkg --purge" dpkg --purge tomstreamd
check "purge stopped the service" not active tomstreamd.service
check "purge stopped the socket" not active tomstreamd.socket
check "purge removed /etc/tomstreamd" test ! -e /etc/tomstreamd

journalctl --no-pager -u tomstreamd -u tomstreamd.socket > /smoke/out/journal
echo DONE >> "$result"
systemctl start poweroff.target --job-mode=replace-irreversibly --no-block
