#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, from the Maven Central jars) for tests.
#
#   broker.sh fetch          download the broker jars into the cache (once; Maven is skipped later)
#   broker.sh start DIR      fresh broker: new ports, certificates and data in DIR; writes DIR/broker.env
#   broker.sh stop DIR       SIGTERM, SIGKILL after 30 s; exit 0 when nothing runs
#   broker.sh restart DIR    stop + start keeping data, ports and certificates
#   broker.sh env DIR        print DIR/broker.env
#
# Everything listens on 127.0.0.1 only. Listeners:
#   PLAINTEXT       127.0.0.1:<port>
#   SASL_PLAINTEXT  127.0.0.1:<port>   PLAIN and SCRAM-SHA-512
#   SASL_SSL        localhost:<port>   SCRAM-SHA-512, certificate signed by DIR/ca.pem
#   OAUTH           127.0.0.1:<port>   SASL_PLAINTEXT, OAUTHBEARER only (env KAFKA_OAUTH)
#   CONTROLLER      127.0.0.1:<port>   KRaft quorum, not advertised
# Users (PLAIN and SCRAM-SHA-512): alice/alice-secret, bob/bob-secret.
# OAUTHBEARER tokens are checked by Kafka's built-in unsecured validator: an unsigned JWT
# base64url({"alg":"none"}) "." base64url(claims) "." (empty signature) whose claims hold "sub"
# (the principal) and "exp" (seconds since the epoch, not passed; "iat" optional). The broker
# closes a connection once the token it was authenticated with has expired.
#
# Environment: TOMSTREAM_KAFKA_CACHE (jar cache; default ~/.cache/tomstream/kafka-3.9.1),
#              TOMSTREAM_KAFKA_START_TIMEOUT (seconds, default 90), JAVA (default java).
set -euo pipefail

readonly KAFKA_VERSION=3.9.1
readonly HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly POM="${HERE}/pom.xml"
readonly CACHE="${TOMSTREAM_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tomstream/kafka-${KAFKA_VERSION}}"
readonly LIB="${CACHE}/lib"
readonly STAMP="${CACHE}/lib.stamp"
readonly START_TIMEOUT="${TOMSTREAM_KAFKA_START_TIMEOUT:-90}"
readonly STOP_TIMEOUT=30
readonly JAVA="${JAVA:-java}"
readonly JVM_OPTS=(-Xmx512m -Xms64m -Xss512k -XX:+UseSerialGC -XX:TieredStopAtLevel=1
                   -XX:+ExitOnOutOfMemoryError -XX:MaxDirectMemorySize=128m
                   -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true)
readonly USER1=alice PASS1=alice-secret USER2=bob PASS2=bob-secret

die() { echo "broker.sh: $*" >&2; exit 1; }
usage() { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# ---------------------------------------------------------------------------------------- fetch
pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

lib_complete() {
  [[ -f "$STAMP" && -d "$LIB" ]] && [[ "$(cat "$STAMP")" == "$(pom_hash)" ]] &&
    compgen -G "${LIB}/kafka_2.13-${KAFKA_VERSION}.jar" >/dev/null &&
    compgen -G "${LIB}/reload4j-*.jar" >/dev/null
}

cmd_fetch() {
  lib_complete && return 0
  mkdir -p "$CACHE"
  # Serialise concurrent fetches (several build trees may start brokers at the same time).
  exec 9>"${CACHE}/.lock"
  flock -w 900 9 || die "timed out waiting for the lock on ${CACHE}/.lock"
  if ! lib_complete; then
    command -v mvn >/dev/null || die "mvn not found; it is needed once to download the Kafka jars"
    local tmp="${CACHE}/lib.tmp.$$"
    rm -rf "$tmp"
    echo "broker.sh: downloading Apache Kafka ${KAFKA_VERSION} jars into ${LIB} (once)" >&2
    if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
           -DincludeScope=runtime -DoutputDirectory="$tmp" >"${CACHE}/mvn.log" 2>&1; then
      tail -n 40 "${CACHE}/mvn.log" >&2
      rm -rf "$tmp"
      die "mvn dependency:copy-dependencies failed (log: ${CACHE}/mvn.log)"
    fi
    rm -rf "$LIB" "$STAMP"
    mv "$tmp" "$LIB"
    pom_hash >"$STAMP"
  fi
  exec 9>&-
  lib_complete || die "jar cache ${LIB} incomplete after fetch"
}

# -------------------------------------------------------------------------------------- helpers
abs_dir() { mkdir -p "$1" && (cd "$1" && pwd -P); }

# The pid recorded in DIR, if that process is alive and is our broker.
running_pid() {
  local dir="$1" pid
  [[ -f "${dir}/broker.pid" ]] || return 1
  pid="$(cat "${dir}/broker.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: it must be a kafka.Kafka running on this DIR's server.properties.
  tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null |
    grep -F "kafka.Kafka ${dir}/server.properties" >/dev/null ||
    return 1
  echo "$pid"
}

free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# A Kafka cluster id: base64url (no padding) of 16 random bytes, not starting with '-'.
cluster_id() {
  python3 -c '
import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    if not s.startswith("-"):
        print(s); break'
}

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

make_certs() {
  local dir="$1" log="${1}/openssl.log"
  : >"$log"
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -subj "/CN=tomstream test CA" -keyout ca.key -out ca.pem \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
      -keyout broker.key.tmp -out broker.csr
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >broker.ext
    openssl x509 -req -sha256 -days 3650 -in broker.csr -CA ca.pem -CAkey ca.key \
      -CAcreateserial -extfile broker.ext -out broker.crt
    openssl pkcs8 -topk8 -nocrypt -in broker.key.tmp -out broker.key
    # Kafka's PEM keystore: unencrypted PKCS#8 key followed by the certificate chain.
    cat broker.key broker.crt ca.pem >broker-keystore.pem
    chmod 600 ca.key broker.key broker-keystore.pem
    rm -f broker.key.tmp broker.csr ca.srl
  ) >>"$log" 2>&1 || { cat "$log" >&2; die "openssl failed"; }
}

write_config() {
  local dir="$1"
  # shellcheck disable=SC1091
  source "${dir}/ports.env"
  local jaas_plain="org.apache.kafka.common.security.plain.PlainLoginModule required"
  jaas_plain+=" user_${USER1}=\"${PASS1}\" user_${USER2}=\"${PASS2}\";"
  local jaas_scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  local jaas_oauth="org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
  # A DIR started by an older broker.sh has no OAUTH port; it gets no OAUTH listener.
  local oauth_listener="" oauth_map=""
  if [[ -n "${PORT_OAUTH:-}" ]]; then
    oauth_listener=",OAUTH://127.0.0.1:${PORT_OAUTH}"  # listened on and advertised
    oauth_map=",OAUTH:SASL_PLAINTEXT"
  fi
  cat >"${dir}/server.properties" <<EOF
# Generated by tests/kafka/broker.sh: single-node KRaft broker for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${PORT_CONTROLLER}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listeners=PLAINTEXT://127.0.0.1:${PORT_PLAINTEXT},SASL_PLAINTEXT://127.0.0.1:${PORT_SASL_PLAINTEXT},SASL_SSL://127.0.0.1:${PORT_SASL_SSL}${oauth_listener},CONTROLLER://127.0.0.1:${PORT_CONTROLLER}
advertised.listeners=PLAINTEXT://127.0.0.1:${PORT_PLAINTEXT},SASL_PLAINTEXT://127.0.0.1:${PORT_SASL_PLAINTEXT},SASL_SSL://localhost:${PORT_SASL_SSL}${oauth_listener}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT${oauth_map}
log.dirs=${dir}/data

# SASL_PLAINTEXT: PLAIN and SCRAM-SHA-512
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=${jaas_plain}
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=${jaas_scram}
# SASL_SSL: SCRAM-SHA-512 over TLS (PEM keystore, certificate for localhost / 127.0.0.1)
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${jaas_scram}
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=${dir}/broker-keystore.pem
listener.name.sasl_ssl.ssl.client.auth=none
# OAUTH: SASL_PLAINTEXT with OAUTHBEARER only (NASA GCN Kafka's mechanism). No server callback
# handler is configured, so the broker validates tokens with Kafka's unsecured validator
# (OAuthBearerUnsecuredValidatorCallbackHandler): unsigned JWT, "sub" and unexpired "exp".
# The login module has no options: the broker never logs in with a token of its own here.
listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oauth.oauthbearer.sasl.jaas.config=${jaas_oauth}

# Single node: replication factor 1 everywhere.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true

# Small footprint.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=2097152
log.segment.bytes=16777216
log.index.size.max.bytes=1048576
log.retention.check.interval.ms=300000
metadata.log.segment.bytes=8388608
socket.send.buffer.bytes=131072
socket.receive.buffer.bytes=131072
EOF
  cat >"${dir}/log4j.properties" <<EOF
# Generated by tests/kafka/broker.sh: broker logs go to ${dir}/broker.log, not the console.
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${dir}/broker.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
}

format_storage() {
  local dir="$1" log="${1}/format.log"
  "$JAVA" "${JVM_OPTS[@]}" -Xmx256m -Dlog4j.configuration="file:${dir}/log4j.properties" \
    -cp "${LIB}/*" kafka.tools.StorageTool format -t "$(cluster_id)" -c "${dir}/server.properties" \
    --add-scram "SCRAM-SHA-512=[name=${USER1},password=${PASS1}]" \
    --add-scram "SCRAM-SHA-512=[name=${USER2},password=${PASS2}]" >"$log" 2>&1 ||
    { cat "$log" >&2; die "kafka.tools.StorageTool format failed"; }
}

write_env() {
  local dir="$1" pid="$2"
  # shellcheck disable=SC1091
  source "${dir}/ports.env"
  cat >"${dir}/broker.env.tmp" <<EOF
KAFKA_PLAINTEXT=127.0.0.1:${PORT_PLAINTEXT}
KAFKA_SASL_PLAINTEXT=127.0.0.1:${PORT_SASL_PLAINTEXT}
KAFKA_SASL_SSL=localhost:${PORT_SASL_SSL}
KAFKA_CA=${dir}/ca.pem
KAFKA_USER=${USER1}
KAFKA_PASSWORD=${PASS1}
KAFKA_USER2=${USER2}
KAFKA_PASSWORD2=${PASS2}
KAFKA_PID=${pid}
KAFKA_LOG=${dir}/broker.log
EOF
  if [[ -n "${PORT_OAUTH:-}" ]]; then
    cat >>"${dir}/broker.env.tmp" <<EOF
KAFKA_OAUTH=127.0.0.1:${PORT_OAUTH}
KAFKA_OAUTH_PROTOCOL=SASL_PLAINTEXT
KAFKA_OAUTH_MECHANISM=OAUTHBEARER
EOF
  fi
  mv "${dir}/broker.env.tmp" "${dir}/broker.env"
}

# Launch the JVM on an already formatted DIR and wait until it serves. Prints the pid.
launch() {
  local dir="$1" t0=$SECONDS
  # shellcheck disable=SC1091
  source "${dir}/ports.env"
  local p
  # The client listeners, all open once the broker serves.
  local -a serving=("$PORT_PLAINTEXT" "$PORT_SASL_PLAINTEXT" "$PORT_SASL_SSL")
  [[ -n "${PORT_OAUTH:-}" ]] && serving+=("$PORT_OAUTH")
  for p in "${serving[@]}" "$PORT_CONTROLLER"; do
    tcp_open "$p" && die "port 127.0.0.1:${p} is already in use"
  done
  touch "${dir}/broker.log"
  local offset
  offset=$(($(stat -c %s "${dir}/broker.log") + 1))
  echo "----- broker.sh: starting broker $(date -Is) -----" >>"${dir}/broker.log"
  # setsid: the broker must outlive the (ctest) process that started it and its process group.
  (cd "$dir" && exec setsid "$JAVA" "${JVM_OPTS[@]}" \
     -Dlog4j.configuration="file:${dir}/log4j.properties" -Dkafka.logs.dir="${dir}" \
     -cp "${LIB}/*" kafka.Kafka "${dir}/server.properties" \
     >>"${dir}/broker.log" 2>&1 </dev/null) &
  local pid=$!
  echo "$pid" >"${dir}/broker.pid"
  local started=0
  while ((SECONDS - t0 < START_TIMEOUT)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "broker.sh: broker exited during start-up; tail of ${dir}/broker.log:" >&2
      tail -n 60 "${dir}/broker.log" >&2
      rm -f "${dir}/broker.pid"
      exit 1
    fi
    if ((started == 0)) && tail -c "+${offset}" "${dir}/broker.log" |
       grep -F "Kafka Server started" >/dev/null; then
      started=1
    fi
    if ((started == 1)); then
      local all_open=1
      for p in "${serving[@]}"; do
        tcp_open "$p" || { all_open=0; break; }
      done
      if ((all_open == 1)); then
        echo "$pid"
        return 0
      fi
    fi
    sleep 0.2
  done
  echo "broker.sh: broker not ready after ${START_TIMEOUT} s; tail of ${dir}/broker.log:" >&2
  tail -n 60 "${dir}/broker.log" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "${dir}/broker.pid"
  exit 1
}

announce() {
  local dir="$1" pid="$2" secs="$3"
  # shellcheck disable=SC1091
  source "${dir}/ports.env"
  local oauth=""
  [[ -n "${PORT_OAUTH:-}" ]] && oauth=", OAUTH (OAUTHBEARER) 127.0.0.1:${PORT_OAUTH}"
  echo "kafka broker pid ${pid} ready in ${secs} s: PLAINTEXT 127.0.0.1:${PORT_PLAINTEXT}," \
       "SASL_PLAINTEXT 127.0.0.1:${PORT_SASL_PLAINTEXT}, SASL_SSL localhost:${PORT_SASL_SSL}${oauth}" \
       "(env ${dir}/broker.env, log ${dir}/broker.log)"
}

# -------------------------------------------------------------------------------------- commands
cmd_stop() {
  local dir pid
  [[ -d "$1" ]] || return 0
  dir="$(abs_dir "$1")"
  if pid="$(running_pid "$dir")"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "broker.sh: broker ${pid} still running after ${STOP_TIMEOUT} s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    fi
    echo "kafka broker pid ${pid} stopped"
  fi
  rm -f "${dir}/broker.pid"
}

cmd_start() {
  local t0=$SECONDS dir
  dir="$(abs_dir "$1")"
  cmd_fetch
  cmd_stop "$dir" >/dev/null
  # Fresh broker: new data, ports and certificates.
  rm -rf "${dir}/data"
  rm -f "${dir}"/{broker.env,broker.log,broker.pid,ports.env,server.properties,log4j.properties} \
        "${dir}"/{format.log,openssl.log,ca.pem,ca.key,broker.key,broker.crt,broker.ext} \
        "${dir}/broker-keystore.pem"
  local ports
  read -r -a ports <<<"$(free_ports 5)"
  ((${#ports[@]} == 5)) || die "could not pick free ports"
  cat >"${dir}/ports.env" <<EOF
PORT_PLAINTEXT=${ports[0]}
PORT_SASL_PLAINTEXT=${ports[1]}
PORT_SASL_SSL=${ports[2]}
PORT_CONTROLLER=${ports[3]}
PORT_OAUTH=${ports[4]}
EOF
  make_certs "$dir"
  write_config "$dir"
  format_storage "$dir"
  local pid
  pid="$(launch "$dir")"
  write_env "$dir" "$pid"
  announce "$dir" "$pid" $((SECONDS - t0))
}

cmd_restart() {
  local t0=$SECONDS dir
  dir="$(abs_dir "$1")"
  [[ -f "${dir}/ports.env" && -f "${dir}/server.properties" && -d "${dir}/data" ]] ||
    die "no broker was started in ${dir}; use: broker.sh start ${dir}"
  cmd_fetch
  cmd_stop "$dir" >/dev/null
  local pid
  pid="$(launch "$dir")"
  write_env "$dir" "$pid"
  announce "$dir" "$pid" $((SECONDS - t0))
}

cmd_env() {
  local dir
  dir="$(abs_dir "$1")"
  [[ -f "${dir}/broker.env" ]] || die "no ${dir}/broker.env; start a broker first"
  cat "${dir}/broker.env"
}

(($# >= 1)) || usage
case "$1" in
  fetch) (($# == 1)) || usage; cmd_fetch ;;
  start | stop | restart | env)
    (($# == 2)) || usage
    "cmd_$1" "$2" ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
