#!/usr/bin/env bash
# A real single-node Apache Kafka 4.x broker on 127.0.0.1, for local runs and integration tests.
#
#   deploy/local/kafka.sh up       fetch the jars (once), format storage (once), start, wait until it serves metadata
#   deploy/local/kafka.sh down     stop it (SIGTERM, then SIGKILL after 30 s)
#   deploy/local/kafka.sh status   "running ..." (exit 0) or "stopped" (exit 1)
#   deploy/local/kafka.sh topics   create the project's topics if they do not exist yet
#
# No Docker and no Kafka tarball: this machine reaches Maven Central only, so the broker is assembled from the
# jars listed in deploy/local/kafka/pom.xml and started as `java -cp 'libs/*' kafka.Kafka server.properties`,
# which is what the tarball's bin/kafka-server-start.sh boils down to. KRaft mode: one JVM is both broker and
# controller. Everything (Maven repo, jars, config, data, logs, pid) lives in .cache/kafka/, which git ignores.
#
# Environment (all optional):
#   KAFKA_PORT=9092  KAFKA_CONTROLLER_PORT=9093   where it listens (127.0.0.1 only)
#   KAFKA_HEAP_OPTS="-Xms256m -Xmx512m"           broker heap; the tarball's 1G default is more than a laptop test needs
#   KAFKA_HOME=<repo>/.cache/kafka                 where the jars, config, data, logs and pid file live
#   KAFKA_LIBS=$KAFKA_HOME/libs                    the jars (point a second broker at the first one's to skip a fetch)
# Secured listeners, beside the PLAINTEXT one (none by default; the PLAINTEXT path is unchanged):
#   KAFKA_SSL_PORT  KAFKA_SASL_SSL_PORT  KAFKA_SASL_PLAINTEXT_PORT   each adds that listener on 127.0.0.1
#   KAFKA_TLS_KEYSTORE=<pem>      the broker's unencrypted PKCS#8 key + certificate chain (SSL, SASL_SSL)
#   KAFKA_TLS_TRUSTSTORE=<pem>    CAs of client certificates; clients may then present one (ssl.client.auth=requested)
#   KAFKA_SCRAM_USER  KAFKA_SCRAM_PASSWORD   one SASL user, for SCRAM-SHA-512 (added to the metadata when the
#                                 storage is formatted, so only on a fresh KAFKA_HOME) and PLAIN
#   SOCIAL_EVENTS_TOPIC ALERTS_TOPIC WINDOWS_TOPIC DEAD_LETTER_TOPIC   topic names for `topics`
#   JAVA_HOME                                      otherwise `java` from PATH (Kafka 4 needs Java 17+)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
POM="$ROOT/deploy/local/kafka/pom.xml"

KAFKA_HOME="${KAFKA_HOME:-$ROOT/.cache/kafka}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
HOST=127.0.0.1
BOOTSTRAP="$HOST:$KAFKA_PORT"

LIBS="${KAFKA_LIBS:-$KAFKA_HOME/libs}"
DATA="$KAFKA_HOME/data"
LOGS="$KAFKA_HOME/logs"
PIDFILE="$KAFKA_HOME/kafka.pid"
CONFIG="$KAFKA_HOME/server.properties"
START_TIMEOUT=60
STOP_TIMEOUT=30

if [[ -n "${JAVA_HOME:-}" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi

die() { echo "kafka.sh: $*" >&2; exit 1; }
log() { echo "kafka.sh: $*"; }

# --- jars ---------------------------------------------------------------------------------------------------------

# The stamp names the pom's checksum, so editing the pom (e.g. a version bump) triggers a clean refetch and an
# unchanged pom never touches the network.
libs_stamp() { echo "$LIBS/.pom-$(cksum <"$POM" | cut -d' ' -f1)"; }

fetch_jars() {
  [[ -f "$(libs_stamp)" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found; it is needed once to fetch the Kafka jars from Maven Central"
  log "fetching Kafka jars from Maven Central into ${LIBS#"$ROOT"/} ..."
  # Download into a scratch dir and swap it in whole, so an interrupted fetch never leaves a half-filled libs/
  # that a later run would mistake for a complete one. The Maven repo is kept under .cache too (not ~/.m2),
  # so the machine's home stays clean and a refetch after a pom edit only downloads what changed.
  # Maven's output goes to a file (even -q leaves terminal escape codes behind) and is shown only on failure.
  local tmp="$LIBS.tmp.$$" mvnlog="$KAFKA_HOME/mvn.log"
  rm -rf "$tmp"
  if ! mvn -B --no-transfer-progress -Dstyle.color=never -f "$POM" -Dmaven.repo.local="$KAFKA_HOME/m2" \
      dependency:copy-dependencies -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvnlog" 2>&1; then
    tail -n 30 "$mvnlog" >&2
    rm -rf "$tmp"
    die "fetching the jars failed (full Maven output: ${mvnlog#"$ROOT"/})"
  fi
  ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "Maven ran but no kafka_2.13 jar arrived"; }
  rm -rf "$LIBS" && mv "$tmp" "$LIBS" && touch "$(libs_stamp)"
}

kafka_version() { local j; j="$(ls "$LIBS"/kafka_2.13-*.jar)"; j="${j##*/kafka_2.13-}"; echo "${j%.jar}"; }

# Short-lived admin tools (storage formatter, topic tool): small heap, C1 only and serial GC start fastest,
# and their log4j config sends only warnings to stderr, like the tarball's tools-log4j2 config.
# An array rather than a function, so that `timeout` can run it.
TOOL=("$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$KAFKA_HOME/tools-log4j2.properties" -cp "$LIBS/*")

# --- config -------------------------------------------------------------------------------------------------------

# Rewritten on every `up` so port changes take effect; the data dir does not record the listeners.
write_config() {
  cat >"$CONFIG" <<EOF
# Written by deploy/local/kafka.sh on every 'up'; edit the script, not this file.
# KRaft combined mode: this one process is the whole cluster (broker + its own controller quorum of one).
process.roles=broker,controller
node.id=1
# A static voter set rather than 'format --standalone' (dynamic quorum): a dynamic quorum writes the controller's
# host:port into the metadata log, so changing KAFKA_CONTROLLER_PORT later would strand it; a static one is
# read from here at every start.
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT$(secure_listeners)
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT$(secure_listeners)
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT

log.dirs=$DATA
num.partitions=4
default.replication.factor=1
# Topics are created on purpose (kafka.sh topics), so a typo in a topic name fails instead of silently
# creating a new, empty topic.
auto.create.topics.enable=false
# One broker: every internal topic must settle for one replica, or it can never be created.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# The internal topics default to 50 partitions each; on a laptop that only slows the first consumer group
# (or transactional producer) down while they are created.
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=4
# Tests start one consumer at a time; don't make each wait 3 s for more members to join.
group.initial.rebalance.delay.ms=0
EOF
  secure_config >>"$CONFIG"

  # Broker log: everything at INFO into logs/server.log, rolled at 10 MB. Kafka's published poms carry no logging
  # backend, so the pom adds log4j2 and this file configures it (the tarball ships config/log4j2.yaml instead).
  cat >"$KAFKA_HOME/log4j2.properties" <<EOF
# Written by deploy/local/kafka.sh.
appender.server.type=RollingFile
appender.server.name=server
appender.server.fileName=$LOGS/server.log
appender.server.filePattern=$LOGS/server.log.%i
appender.server.layout.type=PatternLayout
appender.server.layout.pattern=[%d] %p %m (%c)%n
appender.server.policies.type=Policies
appender.server.policies.size.type=SizeBasedTriggeringPolicy
appender.server.policies.size.size=10MB
appender.server.strategy.type=DefaultRolloverStrategy
appender.server.strategy.max=5
rootLogger.level=INFO
rootLogger.appenderRef.server.ref=server
# One line per request is noise at INFO.
logger.request.name=kafka.request.logger
logger.request.level=WARN
EOF

  write_tools_log4j
}

# ",SSL://127.0.0.1:port,..." for each secured port set, else nothing.
secure_listeners() {
  local out="" spec name port
  for spec in SSL:"${KAFKA_SSL_PORT:-}" SASL_SSL:"${KAFKA_SASL_SSL_PORT:-}" SASL_PLAINTEXT:"${KAFKA_SASL_PLAINTEXT_PORT:-}"; do
    name="${spec%%:*}" port="${spec#*:}"
    if [[ -n "$port" ]]; then out+=",$name://$HOST:$port"; fi
  done
  echo "$out"
}

# TLS and SASL settings for the secured listeners (nothing without them).
secure_config() {
  [[ -n "$(secure_listeners)" ]] || return 0
  echo "# Secured listeners (KAFKA_SSL_PORT, KAFKA_SASL_SSL_PORT, KAFKA_SASL_PLAINTEXT_PORT)."
  if [[ -n "${KAFKA_SSL_PORT:-}${KAFKA_SASL_SSL_PORT:-}" ]]; then
    [[ -r "${KAFKA_TLS_KEYSTORE:-}" ]] || die "KAFKA_TLS_KEYSTORE (a PEM key + certificate) is needed for SSL listeners"
    echo "ssl.keystore.type=PEM"
    echo "ssl.keystore.location=$KAFKA_TLS_KEYSTORE"
    if [[ -n "${KAFKA_TLS_TRUSTSTORE:-}" ]]; then
      echo "ssl.truststore.type=PEM"
      echo "ssl.truststore.location=$KAFKA_TLS_TRUSTSTORE"
      echo "ssl.client.auth=requested"
    fi
  fi
  if [[ -n "${KAFKA_SASL_SSL_PORT:-}${KAFKA_SASL_PLAINTEXT_PORT:-}" ]]; then
    [[ -n "${KAFKA_SCRAM_USER:-}" && -n "${KAFKA_SCRAM_PASSWORD:-}" ]] \
      || die "KAFKA_SCRAM_USER and KAFKA_SCRAM_PASSWORD are needed for SASL listeners"
    echo "sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN"
    local listener
    for listener in sasl_ssl sasl_plaintext; do
      echo "listener.name.$listener.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
      echo "listener.name.$listener.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SCRAM_USER=\"$KAFKA_SCRAM_PASSWORD\";"
    done
  fi
}

write_tools_log4j() {
  cat >"$KAFKA_HOME/tools-log4j2.properties" <<'EOF'
# Written by deploy/local/kafka.sh: admin tools print warnings and errors only, on stderr.
appender.stderr.type=Console
appender.stderr.name=stderr
appender.stderr.target=SYSTEM_ERR
appender.stderr.layout.type=PatternLayout
appender.stderr.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.stderr.ref=stderr
EOF
}

# KRaft refuses to start on an unformatted log dir. Formatting writes meta.properties with a fresh cluster id;
# it happens once, so topics and messages survive down/up.
format_storage_once() {
  [[ -f "$DATA/meta.properties" ]] && return 0
  local cluster_id
  cluster_id="$("${TOOL[@]}" kafka.tools.StorageTool random-uuid)"
  log "formatting ${DATA#"$ROOT"/} (cluster id $cluster_id)"
  local scram=()
  if [[ -n "${KAFKA_SCRAM_USER:-}" ]]; then
    scram=(--add-scram "SCRAM-SHA-512=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]")
  fi
  "${TOOL[@]}" kafka.tools.StorageTool format --config "$CONFIG" --cluster-id "$cluster_id" --ignore-formatted \
    "${scram[@]}" >/dev/null
}

# --- process ------------------------------------------------------------------------------------------------------

# The pid of our broker, or nothing. A pid file can outlive its process (kill -9, reboot) and the pid be reused,
# so the process must also be a JVM running kafka.Kafka with our config.
running_pid() {
  local pid
  [[ -f "$PIDFILE" ]] || return 0
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $CONFIG"; then echo "$pid"; fi
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# What a failed start left behind: the JVM's own output, then the broker log's errors (a Java stack trace can
# push the one line that says what went wrong far above its tail) and its last lines.
show_logs() {
  if [[ -s "$LOGS/kafkaServer.out" ]]; then
    echo "--- ${LOGS#"$ROOT"/}/kafkaServer.out (last lines) ---" >&2
    tail -n 10 "$LOGS/kafkaServer.out" >&2
  fi
  if [[ -s "$LOGS/server.log" ]]; then
    echo "--- ${LOGS#"$ROOT"/}/server.log (errors, then last lines) ---" >&2
    grep -E '^\[[^]]*\] (ERROR|FATAL) |^Caused by: ' "$LOGS/server.log" | tail -n 5 | cut -c1-500 >&2 || true
    echo "..." >&2
    tail -n 10 "$LOGS/server.log" | cut -c1-500 >&2
  fi
}

# Only one kafka.sh at a time may start or stop the broker (parallel test sessions may all call `up`).
# The lock is on fd 9, which the broker must not inherit, or it would hold the lock for its whole life.
take_lock() {
  exec 9>"$KAFKA_HOME/.lock"
  flock -w 120 9 || die "another kafka.sh has held $KAFKA_HOME/.lock for 2 minutes"
}

cmd_up() {
  mkdir -p "$KAFKA_HOME" "$LOGS" "$DATA"
  take_lock
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then log "already running (pid $pid, $BOOTSTRAP)"; return 0; fi
  rm -f "$PIDFILE"

  command -v "$JAVA" >/dev/null || die "java not found (Kafka 4 needs Java 17+; set JAVA_HOME or PATH)"
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process (set KAFKA_PORT)"
  port_open "$KAFKA_CONTROLLER_PORT" && die "port $KAFKA_CONTROLLER_PORT is taken by another process (set KAFKA_CONTROLLER_PORT)"
  local extra
  for extra in "${KAFKA_SSL_PORT:-}" "${KAFKA_SASL_SSL_PORT:-}" "${KAFKA_SASL_PLAINTEXT_PORT:-}"; do
    if [[ -n "$extra" ]] && port_open "$extra"; then die "port $extra is taken by another process"; fi
  done

  fetch_jars
  write_config
  format_storage_once

  # Keep the previous run's log beside this one's, so a failed start shows only its own lines.
  if [[ -s "$LOGS/server.log" ]]; then mv -f "$LOGS/server.log" "$LOGS/server.log.previous"; fi

  # nohup + </dev/null: the broker outlives this script and the terminal. Its stdout/stderr (JVM crashes,
  # anything printed before log4j is up) go to kafkaServer.out; the proper log is server.log.
  # The JVM flags are the tarball's kafka-run-class.sh defaults, with a smaller heap.
  # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS is a list of flags
  nohup "$JAVA" $KAFKA_HEAP_OPTS \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$CONFIG" \
    </dev/null >"$LOGS/kafkaServer.out" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"
  log "starting Kafka $(kafka_version) (pid $pid) on $BOOTSTRAP ..."

  # Ready = a metadata request (list topics) succeeds, not merely the port accepting connections: that is what
  # a client that produces right away needs. The probe JVM starts at once rather than after the port opens;
  # its admin client keeps retrying the connection by itself, so its own ~1.5 s start-up overlaps the broker's.
  local deadline=$((SECONDS + START_TIMEOUT)) probe_pid
  start_probe() {
    timeout "$((deadline - SECONDS > 1 ? deadline - SECONDS : 1))" \
      "${TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --list >/dev/null 2>&1 &
    probe_pid=$!
  }
  start_probe
  while :; do
    if ! kill -0 "$probe_pid" 2>/dev/null; then
      if wait "$probe_pid"; then break; fi
      sleep 1 && start_probe   # it gave up before the deadline: ask again
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      kill "$probe_pid" 2>/dev/null || true
      rm -f "$PIDFILE"; show_logs; die "broker exited during startup (logs: ${LOGS#"$ROOT"/})"
    fi
    if ((SECONDS >= deadline)); then
      kill "$probe_pid" 2>/dev/null || true
      show_logs; cmd_down >/dev/null; die "broker did not answer a metadata request on $BOOTSTRAP within ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  log "up: Kafka $(kafka_version) on $BOOTSTRAP (pid $pid, logs in ${LOGS#"$ROOT"/})"
}

cmd_down() {
  mkdir -p "$KAFKA_HOME"
  local pid
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then rm -f "$PIDFILE"; log "not running"; return 0; fi
  # SIGTERM lets Kafka flush, checkpoint and close its logs cleanly, so the next start skips log recovery.
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  rm -f "$PIDFILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then echo "running (pid $pid, $BOOTSTRAP)"; return 0; fi
  echo "stopped"
  return 1
}

cmd_topics() {
  [[ -n "$(running_pid)" ]] || port_open "$KAFKA_PORT" || die "no broker on $BOOTSTRAP; run: deploy/local/kafka.sh up"
  [[ -f "$(libs_stamp)" ]] || die "jars missing; run: deploy/local/kafka.sh up"
  write_tools_log4j
  # name:partitions. Partitions follow the load: the event stream is keyed by account and read in parallel;
  # alerts and windows are small outputs; dead letters are rare and easiest to read in order from one partition.
  local spec name parts names=() pids=() failed=0 pid
  for spec in "${SOCIAL_EVENTS_TOPIC:-social-events}:4" "${ALERTS_TOPIC:-engagement-alerts}:2" \
              "${WINDOWS_TOPIC:-account-windows}:2" "${DEAD_LETTER_TOPIC:-dead-letters}:1"; do
    name="${spec%:*}" parts="${spec##*:}"
    names+=("$name")
    # --if-not-exists makes a rerun a no-op. It does not change the partition count of an existing topic:
    # the describe below shows what is really there. One JVM per topic, started side by side, because JVM
    # start-up (~1.4 s each) is nearly all of the cost.
    "${TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
      --topic "$name" --partitions "$parts" --replication-factor 1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  ((failed == 0)) || die "creating topics failed (see the tool's errors above)"
  # --topic takes a regex here; topic names may contain '.', which only widens the match harmlessly.
  "${TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --describe \
    --topic "$(IFS='|'; echo "${names[*]}")" | grep -v '^\s*Topic: .*Partition:' || true
}

case "${1:-}" in
  up) cmd_up ;;
  down) mkdir -p "$KAFKA_HOME" && take_lock && cmd_down ;;
  status) cmd_status ;;
  topics) cmd_topics ;;
  *) echo "usage: ${0##*/} up|down|status|topics" >&2; exit 2 ;;
esac
