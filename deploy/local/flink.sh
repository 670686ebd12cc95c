#!/usr/bin/env bash
# A real Apache Flink 1.19 standalone cluster on 127.0.0.1, with what a Beam Python job needs to run on it:
# Beam's Flink job server and Beam's Python SDK worker pool.
#
#   deploy/local/flink.sh up       fetch (once) and start whatever is not running; wait until all of it answers
#   deploy/local/flink.sh down     stop everything (SIGTERM, then SIGKILL after 30 s)
#   deploy/local/flink.sh status   "running ..." (exit 0), or what is stopped (exit 1)
#
# What runs (each a process with a pid file in $FLINK_HOME, logs in $FLINK_HOME/log):
#   jobmanager        StandaloneSessionClusterEntrypoint: REST API and web UI on :8081, RPC :6123, metrics :9249
#   taskmanager-<i>   TaskManagerRunner, i = 1..FLINK_TASKMANAGERS, 2 slots each, metrics on :9250, :9251, ...
#   workerpool        Beam's Python SDK worker pool on :50000 (deploy/local/flink/worker_pool.py): the
#                     TaskManagers ask it for Python workers (--environment_type EXTERNAL, the shape of a
#                     Kubernetes sidecar)
#   jobserver         Beam's Flink job server on :8099 (artifacts :8098, expansion :8097), submitting to :8081
# A job: python -m pipelines.reciprocity --runner FlinkRunner --flink_master localhost:8081
#            --environment_type EXTERNAL --environment_config localhost:50000 ...  (it finds the job server itself)
#
# Where the pieces come from (no Docker, no Flink tarball: this machine reaches PyPI and Maven Central only):
# - Flink: the PyPI package apache-flink-libraries carries the tarball's lib/ and plugins/. For 1.19 it is a
#   source distribution (deps/lib, deps/plugins), for 2.x a wheel (pyflink/lib, ...): both are unpacked the same
#   way into $FLINK_HOME/dist. The processes are started as the tarball's bin/ scripts end up starting them:
#     java ... -cp 'lib/*' org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint --configDir conf
#     java ... -cp 'lib/*' org.apache.flink.runtime.taskexecutor.TaskManagerRunner --configDir conf -D <memory>
# - The job server: deploy/local/flink-jobserver.sh assembles Beam 2.62.0's Flink 1.19 runner and its closure
#   from Maven (the shaded job-server jar is not served). Flink 1.19 because that runner is built for it.
#
# Environment (all optional):
#   FLINK_TASKMANAGERS=1  FLINK_TM_SLOTS=2       TaskManagers and slots per TaskManager
#   FLINK_REST_PORT=8081  FLINK_RPC_PORT=6123  FLINK_JM_METRICS_PORT=9249  FLINK_TM_METRICS_PORT=9250 (first TM)
#   BEAM_WORKER_POOL_PORT=50000  BEAM_JOB_PORT=8099  BEAM_ARTIFACT_PORT=8098  BEAM_EXPANSION_PORT=8097
#   FLINK_TM_TASK_HEAP=512m  FLINK_TM_MANAGED=256m   each TaskManager's user-code heap and managed memory
#   FLINK_LIBRARIES_VERSION=1.19.3                    the apache-flink-libraries release (= the Flink version)
#   FLINK_PYTHON=<repo>/.venv/bin/python             runs the worker pool and its SDK workers (needs apache-beam
#                                                    and this project: `make flink-up` creates .venv first)
#   FLINK_HOME=<repo>/.cache/flink                   jars, config, logs, pid files, checkpoints, savepoints
#   FLINK_DIST=$FLINK_HOME/dist                      the unpacked Flink jars (a test cluster shares make flink-up's)
#   FLINK_DEBUG_LOGGERS=                              logger names (comma-separated) to log at DEBUG, e.g.
#                      org.apache.beam.runners.flink.translation.wrappers.streaming.DoFnOperator (watermarks, timers)
#   JAVA_HOME                                        otherwise `java` from PATH (17 is what is tested)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/local/flink"

FLINK_HOME="${FLINK_HOME:-$ROOT/.cache/flink}"
FLINK_LIBRARIES_VERSION="${FLINK_LIBRARIES_VERSION:-1.19.3}"
FLINK_TASKMANAGERS="${FLINK_TASKMANAGERS:-1}"
FLINK_TM_SLOTS="${FLINK_TM_SLOTS:-2}"
FLINK_REST_PORT="${FLINK_REST_PORT:-8081}"
FLINK_RPC_PORT="${FLINK_RPC_PORT:-6123}"
FLINK_JM_METRICS_PORT="${FLINK_JM_METRICS_PORT:-9249}"
FLINK_TM_METRICS_PORT="${FLINK_TM_METRICS_PORT:-9250}"
BEAM_WORKER_POOL_PORT="${BEAM_WORKER_POOL_PORT:-50000}"
BEAM_JOB_PORT="${BEAM_JOB_PORT:-8099}"
BEAM_ARTIFACT_PORT="${BEAM_ARTIFACT_PORT:-8098}"
BEAM_EXPANSION_PORT="${BEAM_EXPANSION_PORT:-8097}"
FLINK_TM_TASK_HEAP="${FLINK_TM_TASK_HEAP:-512m}"
FLINK_TM_MANAGED="${FLINK_TM_MANAGED:-256m}"
FLINK_DEBUG_LOGGERS="${FLINK_DEBUG_LOGGERS:-}"
FLINK_PYTHON="${FLINK_PYTHON:-$ROOT/.venv/bin/python}"
HOST=127.0.0.1
REST="http://$HOST:$FLINK_REST_PORT"

DIST="${FLINK_DIST:-$FLINK_HOME/dist}"
CONF="$FLINK_HOME/conf"
WORK="$FLINK_HOME/tmp"
PROC_HOME="$FLINK_HOME"
PROC_LOGS="$FLINK_HOME/log"
START_TIMEOUT=120
STOP_TIMEOUT=30
# shellcheck source=lib/procs.sh
source "$ROOT/deploy/local/lib/procs.sh"

if [[ -n "${JAVA_HOME:-}" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi

die() { echo "flink.sh: $*" >&2; exit 1; }
log() { echo "flink.sh: $*"; }
rel() { echo "${1#"$ROOT"/}"; }

[[ "$FLINK_TASKMANAGERS" =~ ^[1-9][0-9]?$ ]] || die "FLINK_TASKMANAGERS must be a number from 1 to 99, got '$FLINK_TASKMANAGERS'"
[[ "$FLINK_TM_SLOTS" =~ ^[1-9][0-9]?$ ]] || die "FLINK_TM_SLOTS must be a number from 1 to 99, got '$FLINK_TM_SLOTS'"

# --- memory ---------------------------------------------------------------------------------------------------------
# Every TaskManager memory component is given explicitly. Started without Flink's bash scripts (which compute
# them with BashJavaUtils), TaskManagerRunner refuses to start unless they are all set ("taskmanager.cpu.cores
# is not set"), and the JVM's own limits (-Xmx, direct memory, metaspace) must agree with them. Mind the key
# names: network.min/max and jvm-overhead.min/max take no ".size" suffix (Flink ignores unknown keys silently).
# Sizes in MiB. Each TaskManager: 128+512+128+128+128+256+256+256 = 1792 MiB.
mib() { local v="${1,,}"; case "$v" in *g) echo $((${v%g} * 1024)) ;; *m) echo "${v%m}" ;; *) die "size '$1': use e.g. 512m or 1g" ;; esac; }
TM_FRAMEWORK_HEAP=128 TM_FRAMEWORK_OFF_HEAP=128
TM_TASK_HEAP="$(mib "$FLINK_TM_TASK_HEAP")" TM_TASK_OFF_HEAP=128   # Beam's gRPC (Netty) buffers are direct memory
TM_NETWORK=128 TM_MANAGED="$(mib "$FLINK_TM_MANAGED")" TM_METASPACE=256 TM_OVERHEAD=256
TM_MEMORY=(
  "taskmanager.cpu.cores=$FLINK_TM_SLOTS"
  "taskmanager.memory.framework.heap.size=${TM_FRAMEWORK_HEAP}m"
  "taskmanager.memory.framework.off-heap.size=${TM_FRAMEWORK_OFF_HEAP}m"
  "taskmanager.memory.task.heap.size=${TM_TASK_HEAP}m"
  "taskmanager.memory.task.off-heap.size=${TM_TASK_OFF_HEAP}m"
  "taskmanager.memory.network.min=${TM_NETWORK}m"
  "taskmanager.memory.network.max=${TM_NETWORK}m"
  "taskmanager.memory.managed.size=${TM_MANAGED}m"
  "taskmanager.memory.jvm-metaspace.size=${TM_METASPACE}m"
  "taskmanager.memory.jvm-overhead.min=${TM_OVERHEAD}m"
  "taskmanager.memory.jvm-overhead.max=${TM_OVERHEAD}m"
)
# The JVM flags bin/taskmanager.sh derives from the same numbers.
TM_JVM_MEMORY=(
  "-Xms$((TM_FRAMEWORK_HEAP + TM_TASK_HEAP))m" "-Xmx$((TM_FRAMEWORK_HEAP + TM_TASK_HEAP))m"
  "-XX:MaxDirectMemorySize=$((TM_FRAMEWORK_OFF_HEAP + TM_TASK_OFF_HEAP + TM_NETWORK))m"
  "-XX:MaxMetaspaceSize=${TM_METASPACE}m"
)
# JobManager: 256 heap + 64 off-heap + 256 metaspace + 192 overhead = 768 MiB. Metaspace is generous because a
# Beam job's user code is the job server's whole classpath, loaded in a class loader of its own per job.
JM_HEAP=256 JM_OFF_HEAP=64 JM_METASPACE=256 JM_OVERHEAD=192
JM_JVM_MEMORY=("-Xms${JM_HEAP}m" "-Xmx${JM_HEAP}m" "-XX:MaxMetaspaceSize=${JM_METASPACE}m")
# The job server translates and submits jobs; it holds no data.
JS_JVM_MEMORY=("-Xmx384m" "-XX:MaxMetaspaceSize=256m")

# --- Flink jars -----------------------------------------------------------------------------------------------------

dist_stamp() { echo "$DIST/.apache-flink-libraries-$FLINK_LIBRARIES_VERSION"; }

fetch_dist() {
  [[ -f "$(dist_stamp)" ]] && return 0
  log "fetching apache-flink-libraries==$FLINK_LIBRARIES_VERSION from PyPI (about 230 MB, once) ..."
  # Download and unpack in scratch dirs and swap the result in whole, so an interrupted fetch never leaves a
  # half-filled dist/ that a later run would mistake for a complete one. Only lib/ (flink-dist, log4j, ...) and
  # the Prometheus reporter plugin are kept; the download is deleted afterwards. pip prepares the metadata of a
  # source distribution (a minute) but installs nothing.
  local dl="$FLINK_HOME/download.$$" tmp="$DIST.tmp.$$" piplog="$FLINK_HOME/pip.log"
  rm -rf "$dl" "$tmp"
  mkdir -p "$(dirname "$DIST")"
  if ! "$FLINK_PYTHON" -m pip download --no-deps --disable-pip-version-check \
      "apache-flink-libraries==$FLINK_LIBRARIES_VERSION" -d "$dl" >"$piplog" 2>&1; then
    tail -n 5 "$piplog" >&2; rm -rf "$dl"
    die "pip could not download apache-flink-libraries==$FLINK_LIBRARIES_VERSION (full output: $(rel "$piplog"))"
  fi
  "$FLINK_PYTHON" - "$dl" "$tmp" <<'EOF' || { rm -rf "$dl" "$tmp"; die "unpacking apache-flink-libraries failed"; }
import glob, os, re, shutil, sys, tarfile, zipfile
dl, out = sys.argv[1], sys.argv[2]
(archive,) = glob.glob(os.path.join(dl, "apache*flink*libraries-*"))
# lib/ and the Prometheus plugin: pyflink/... in a wheel, <name>-<version>/deps/... in a source distribution.
keep = re.compile(r"^(?:pyflink/|[^/]+/deps/)((?:lib|plugins/metrics-prometheus)/[^/]+\.jar)$")
def unpack(name, read):
    match = keep.match(name)
    if match:
        dest = os.path.join(out, match.group(1))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with read() as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
if archive.endswith(".whl"):
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            unpack(name, lambda name=name: z.open(name))
else:
    with tarfile.open(archive) as t:
        for member in t:
            if member.isfile():
                unpack(member.name, lambda member=member: t.extractfile(member))
EOF
  rm -rf "$dl"
  compgen -G "$tmp/lib/flink-dist-*.jar" >/dev/null || { rm -rf "$tmp"; die "the download has no lib/flink-dist jar"; }
  # The JVM flags that the tarball's conf/config.yaml sets for every Flink process (env.java.opts.all: the
  # --add-opens/--add-exports that Java 17 needs for Flink's and Kryo's reflection). flink-dist carries that
  # default config.yaml; take them from there so they follow the Flink version.
  unzip -p "$tmp"/lib/flink-dist-*.jar config.yaml 2>/dev/null \
    | sed -n 's/^ *all: *\(--add-.*\)$/\1/p' | head -n 1 >"$tmp/java-opts"
  [[ -s "$tmp/java-opts" ]] || { rm -rf "$tmp"; die "could not read env.java.opts.all from flink-dist's config.yaml"; }
  rm -rf "$DIST" && mv "$tmp" "$DIST" && touch "$(dist_stamp)"
}

flink_version() { local j; j="$(ls "$DIST"/lib/flink-dist-*.jar)"; j="${j##*/flink-dist-}"; echo "${j%.jar}"; }

# lib/*.jar in name order with flink-dist last, as the tarball's config.sh (constructFlinkClassPath) builds it.
classpath() {
  local cp="" j dist_jar=""
  for j in "$DIST"/lib/*.jar; do
    case "${j##*/}" in flink-dist*) dist_jar="$j" ;; *) cp="$cp:$j" ;; esac
  done
  echo "${cp#:}:$dist_jar"
}

# --- config ---------------------------------------------------------------------------------------------------------

LAST_TM_METRICS_PORT=$((FLINK_TM_METRICS_PORT + FLINK_TASKMANAGERS - 1))

# Rewritten on every `up`, so port and memory changes take effect. Flink 1.19 reads conf/config.yaml (standard
# YAML; flat dotted keys are allowed). The job server reads the same directory (--flink-conf-dir).
write_config() {
  mkdir -p "$CONF" "$PROC_LOGS/workers" "$WORK"
  local kv
  {
    cat <<EOF
# Written by deploy/local/flink.sh on every 'up'; edit the script, not this file.
jobmanager.rpc.address: $HOST
jobmanager.rpc.port: $FLINK_RPC_PORT
jobmanager.bind-host: $HOST
rest.address: $HOST
rest.bind-address: $HOST
rest.port: $FLINK_REST_PORT
taskmanager.host: $HOST
taskmanager.bind-host: $HOST
taskmanager.numberOfTaskSlots: $FLINK_TM_SLOTS
parallelism.default: $FLINK_TM_SLOTS
jobmanager.execution.failover-strategy: region
# A job's subtasks spread over the TaskManagers rather than filling the first one's slots: parallelism 2 on two
# TaskManagers then runs on both, so losing either one is a failure the job must recover from.
cluster.evenly-spread-out-slots: true
# JobManager and TaskManagers start side by side; a TaskManager that asks before the JobManager's RPC is up
# ("Could not resolve ResourceManager address") would otherwise wait the default 10 s before asking again.
cluster.registration.error-delay: 1000
# A TaskManager that dies (kill -9, OOM) is declared lost after this long without heartbeats (Flink's default 50 s),
# and only then does the job restart on the slots left: on loopback 10 s is plenty.
heartbeat.interval: 2000
heartbeat.timeout: 10000
# A batch job (the file replay) writes each blocking shuffle through a sort-shuffle partition that reserves 512
# network buffers by default; a few of them at once exhaust a TaskManager's 128 MiB (4096 buffers) and the job
# restarts forever ("Insufficient number of network buffers: required 512"). 64 each is plenty for this size.
taskmanager.network.sort-shuffle.min-buffers: 64

jobmanager.memory.heap.size: ${JM_HEAP}m
jobmanager.memory.off-heap.size: ${JM_OFF_HEAP}m
jobmanager.memory.jvm-metaspace.size: ${JM_METASPACE}m
jobmanager.memory.jvm-overhead.min: ${JM_OVERHEAD}m
jobmanager.memory.jvm-overhead.max: ${JM_OVERHEAD}m

# Recovery. Checkpoints and savepoints go to local directories (one machine: every process sees them); a Beam job
# turns checkpointing on with --checkpointing_interval (pipelines.reciprocity does so by default on Flink).
# Completed checkpoints are kept when a job is cancelled, so it can be resumed from the last one.
state.backend.type: hashmap
state.checkpoints.dir: file://$FLINK_HOME/checkpoints
state.savepoints.dir: file://$FLINK_HOME/savepoints
state.checkpoints.num-retained: 3
execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION
# Restart a failed job with a growing pause (1 s doubling to 30 s), forever: a lost TaskManager's slots come back
# when it is restarted, and the job must be waiting for them then.
restart-strategy.type: exponential-delay
restart-strategy.exponential-delay.initial-backoff: 1 s
restart-strategy.exponential-delay.max-backoff: 30 s
restart-strategy.exponential-delay.backoff-multiplier: 2.0
restart-strategy.exponential-delay.reset-backoff-threshold: 10 min
restart-strategy.exponential-delay.jitter-factor: 0.1

# Temp files, uploaded jars, blobs: all under $FLINK_HOME rather than /tmp.
io.tmp.dirs: $WORK
web.tmpdir: $WORK/web
blob.storage.directory: $WORK/blobs

# Beam's runner leaves gRPC threads behind that still touch the job's class loader after the job ends; with the
# check on, that fails later jobs with "Trying to access closed classloader" (apache/beam#20783).
classloader.check-leaked-classloader: false

# Prometheus endpoint on each process (Beam's counters appear among the TaskManagers' operator metrics). The range
# is what a scraper may find; flink.sh pins the JobManager to the first port and TaskManager i to the (i+1)th.
metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory
metrics.reporter.prom.port: $FLINK_JM_METRICS_PORT-$LAST_TM_METRICS_PORT
EOF
    for kv in "${TM_MEMORY[@]}"; do echo "${kv%%=*}: ${kv#*=}"; done
  } >"$CONF/config.yaml"

  # The tarball's conf/log4j.properties (log4j2 syntax despite the name), trimmed: one rolling file per
  # process, named by -Dlog.file, which is also the file the web UI shows under "Logs".
  cat >"$CONF/log4j.properties" <<'EOF'
# Written by deploy/local/flink.sh.
monitorInterval=30
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=MainAppender
appender.main.name=MainAppender
appender.main.type=RollingFile
appender.main.append=true
appender.main.fileName=${sys:log.file}
appender.main.filePattern=${sys:log.file}.%i
appender.main.layout.type=PatternLayout
appender.main.layout.pattern=%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
appender.main.policies.type=Policies
appender.main.policies.size.type=SizeBasedTriggeringPolicy
appender.main.policies.size.size=50MB
appender.main.strategy.type=DefaultRolloverStrategy
appender.main.strategy.max=5
logger.pekko.name=org.apache.pekko
logger.pekko.level=WARN
logger.netty.name=org.jboss.netty.channel.DefaultChannelPipeline
logger.netty.level=OFF
EOF
  # FLINK_DEBUG_LOGGERS: comma-separated logger names to log at DEBUG, e.g. Beam's DoFnOperator (watermarks, timers).
  local n=0 logger
  for logger in ${FLINK_DEBUG_LOGGERS//,/ }; do
    n=$((n + 1))
    printf 'logger.debug%d.name=%s\nlogger.debug%d.level=DEBUG\n' "$n" "$logger" "$n" >>"$CONF/log4j.properties"
  done
}

# --- processes ------------------------------------------------------------------------------------------------------

taskmanagers() { local i; for ((i = 1; i <= FLINK_TASKMANAGERS; i++)); do echo "taskmanager-$i"; done; }
NAMES=(jobmanager $(taskmanagers) workerpool jobserver)

signature() {
  case "$1" in
    jobmanager) echo "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint --configDir $CONF" ;;
    taskmanager-*) echo "org.apache.flink.runtime.taskexecutor.TaskManagerRunner --configDir $CONF -D taskmanager.resource-id=local-$1 " ;;
    workerpool) echo "$HERE/worker_pool.py --port $BEAM_WORKER_POOL_PORT" ;;
    jobserver) echo "org.apache.beam.runners.flink.FlinkJobServerDriver --flink-conf-dir $CONF" ;;
  esac
}

start_jvm() {
  local name="$1" main="$2"; shift 2
  local -a opts
  read -r -a opts <"$DIST/java-opts"
  # The JVMs work in $FLINK_HOME, and a crashing JVM's hs_err file goes to the log dir, not the repo.
  START_ENV=(FLINK_CONF_DIR="$CONF" FLINK_LIB_DIR="$DIST/lib" FLINK_PLUGINS_DIR="$DIST/plugins" FLINK_LOG_DIR="$PROC_LOGS")
  start_process "$name" "$FLINK_HOME" "$JAVA" "${opts[@]}" -XX:+UseG1GC -Djava.awt.headless=true \
    -XX:ErrorFile="$PROC_LOGS/hs_err_$name.%p.log" \
    -Dlog.file="$PROC_LOGS/$name.log" -Dlog4j.configurationFile="file:$CONF/log4j.properties" \
    "${JVM_MEMORY[@]}" -cp "$(classpath)" "$main" --configDir "$CONF" "$@"
}

start_jobmanager() {
  JVM_MEMORY=("${JM_JVM_MEMORY[@]}")
  start_jvm jobmanager org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint \
    -D "metrics.reporter.prom.port=$FLINK_JM_METRICS_PORT"
}

tm_metrics_port() { echo $((FLINK_TM_METRICS_PORT + ${1#taskmanager-} - 1)); }

start_taskmanager() {
  local name="$1" kv dyn=()
  for kv in "${TM_MEMORY[@]}"; do dyn+=(-D "$kv"); done
  JVM_MEMORY=("${TM_JVM_MEMORY[@]}")
  # The resource id comes first: it is part of the process's signature.
  start_jvm "$name" org.apache.flink.runtime.taskexecutor.TaskManagerRunner -D "taskmanager.resource-id=local-$name" \
    "${dyn[@]}" -D "metrics.reporter.prom.port=$(tm_metrics_port "$name")"
}

start_workerpool() {
  # One log file per SDK worker; keep the previous run's beside this one's, like the other logs.
  rm -rf "$PROC_LOGS/workers.previous"
  if [[ -d "$PROC_LOGS/workers" ]]; then mv "$PROC_LOGS/workers" "$PROC_LOGS/workers.previous"; fi
  mkdir -p "$PROC_LOGS/workers"
  # -u: the pool's log lines reach workerpool.out as they happen. Its SDK workers inherit its working
  # directory, the repo root, so a pipeline's relative paths mean the same as under the DirectRunner.
  START_ENV=()
  start_process workerpool "$ROOT" "$FLINK_PYTHON" -u "$HERE/worker_pool.py" --port "$BEAM_WORKER_POOL_PORT" \
    --log-dir "$PROC_LOGS/workers"
}

start_jobserver() {
  local lib
  lib="$(bash "$ROOT/deploy/local/flink-jobserver.sh" path)"
  mkdir -p "$FLINK_HOME/artifacts"
  # slf4j-simple writes to stderr, which is jobserver.out; -Dorg.slf4j.simpleLogger.* keep it to what matters.
  START_ENV=(FLINK_CONF_DIR="$CONF")
  start_process jobserver "$FLINK_HOME" "$JAVA" "${JS_JVM_MEMORY[@]}" -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd HH:mm:ss,SSS" \
    -Dorg.slf4j.simpleLogger.log.org.apache.flink=warn -Dorg.slf4j.simpleLogger.log.org.apache.beam.vendor=warn \
    -XX:ErrorFile="$PROC_LOGS/hs_err_jobserver.%p.log" -cp "$lib/*" \
    org.apache.beam.runners.flink.FlinkJobServerDriver --flink-conf-dir "$CONF" \
    --flink-master="$HOST:$FLINK_REST_PORT" --job-host="$HOST" --job-port="$BEAM_JOB_PORT" \
    --artifact-port="$BEAM_ARTIFACT_PORT" --expansion-port="$BEAM_EXPANSION_PORT" \
    --artifacts-dir="$FLINK_HOME/artifacts"
}

start() { case "$1" in taskmanager-*) start_taskmanager "$1" ;; *) "start_$1" ;; esac; }

ports_of() {
  case "$1" in
    jobmanager) echo "$FLINK_REST_PORT $FLINK_RPC_PORT $FLINK_JM_METRICS_PORT" ;;
    taskmanager-*) tm_metrics_port "$1" ;;
    workerpool) echo "$BEAM_WORKER_POOL_PORT" ;;
    jobserver) echo "$BEAM_JOB_PORT $BEAM_ARTIFACT_PORT $BEAM_EXPANSION_PORT" ;;
  esac
}

# /overview as "taskmanagers slots-total", or nothing while the REST API does not answer.
overview() {
  local json tms slots
  json="$(curl -sf -m 2 "$REST/overview" 2>/dev/null)" || return 0
  tms="$(sed -n 's/.*"taskmanagers":\([0-9]*\).*/\1/p' <<<"$json")"
  slots="$(sed -n 's/.*"slots-total":\([0-9]*\).*/\1/p' <<<"$json")"
  if [[ -n "$tms" && -n "$slots" ]]; then echo "$tms $slots"; fi
}

# Only one flink.sh at a time may start or stop the cluster (parallel test sessions may all call `up`).
# The lock is on fd 9, which the processes must not inherit (start_process closes it).
take_lock() {
  mkdir -p "$FLINK_HOME"
  exec 9>"$FLINK_HOME/.lock"
  flock -w 300 9 || die "another flink.sh has held $FLINK_HOME/.lock for 5 minutes"
}

ready() {
  local ov port name
  ov="$(overview)"
  [[ -n "$ov" ]] && ((${ov% *} >= FLINK_TASKMANAGERS && ${ov#* } >= FLINK_TASKMANAGERS * FLINK_TM_SLOTS)) || return 1
  for name in "${NAMES[@]}"; do
    for port in $(ports_of "$name"); do
      [[ "$name" == jobmanager && "$port" == "$FLINK_RPC_PORT" ]] && continue  # RPC answers before REST anyway
      port_open "$port" || return 1
    done
  done
}

cmd_up() {
  take_lock
  local name pid missing=() t0=$SECONDS
  for name in "${NAMES[@]}"; do
    pid="$(running_pid "$name")"
    [[ -n "$pid" ]] || { rm -f "$(pidfile "$name")"; missing+=("$name"); }
  done
  if ((${#missing[@]} == 0)); then write_endpoints; log "already running ($(describe))"; return 0; fi

  command -v "$JAVA" >/dev/null || die "java not found (Flink 1.19 needs Java 11+; 17 is tested; set JAVA_HOME or PATH)"
  command -v curl >/dev/null || die "curl not found (needed to ask the REST API whether the cluster is up)"
  [[ -x "$FLINK_PYTHON" ]] || die "$FLINK_PYTHON not found (the worker pool needs a Python with apache-beam and this project; run make flink-up, or set FLINK_PYTHON)"
  for name in "${missing[@]}"; do
    for port in $(ports_of "$name"); do
      port_open "$port" && die "$name cannot start: port $port is taken by another process (see the port variables in deploy/local/flink.sh)"
    done
  done

  fetch_dist
  bash "$ROOT/deploy/local/flink-jobserver.sh" >/dev/null 9>&- || die "jobserver cannot start: its jars could not be assembled (see above)"
  write_config

  for name in "${missing[@]}"; do start "$name"; done
  log "starting Flink $(flink_version): ${missing[*]} ..."

  # Ready = the REST API lists every TaskManager with all its slots, and every process's ports accept connections.
  local deadline=$((SECONDS + START_TIMEOUT))
  until ready; do
    for name in "${NAMES[@]}"; do
      if [[ -z "$(running_pid "$name")" ]]; then
        show_logs "$name"; stop_processes "${missing[@]}" >/dev/null
        die "$name exited during startup (logs: $(rel "$PROC_LOGS")/$name.*)"
      fi
    done
    if ((SECONDS >= deadline)); then
      for name in "${missing[@]}"; do show_logs "$name"; done
      stop_processes "${missing[@]}" >/dev/null
      die "not ready within ${START_TIMEOUT}s (REST /overview: '$(overview)'; expected $FLINK_TASKMANAGERS TaskManager(s) with $FLINK_TM_SLOTS slots each, ports: $(for n in "${NAMES[@]}"; do ports_of "$n"; done | tr '\n' ' '))"
    fi
    sleep 0.5
  done
  write_endpoints
  log "up in $((SECONDS - t0))s: Flink $(flink_version), web UI and REST $REST; $(describe)"
}

# Where a job finds this cluster's pieces: pipelines.reciprocity --runner FlinkRunner reads it (pipelines/cli/flink.py)
# when its --flink_master is this REST address, so a cluster on other ports needs no extra flags either.
write_endpoints() {
  cat >"$FLINK_HOME/endpoints.json.tmp" <<EOF
{"flink_master": "$HOST:$FLINK_REST_PORT", "job_endpoint": "$HOST:$BEAM_JOB_PORT", "worker_pool": "$HOST:$BEAM_WORKER_POOL_PORT", "taskmanagers": $FLINK_TASKMANAGERS, "slots_per_taskmanager": $FLINK_TM_SLOTS, "flink_version": "$(flink_version)"}
EOF
  mv -f "$FLINK_HOME/endpoints.json.tmp" "$FLINK_HOME/endpoints.json"
}

describe() {
  echo "$FLINK_TASKMANAGERS TaskManager(s) x $FLINK_TM_SLOTS slots, Beam job server $HOST:$BEAM_JOB_PORT," \
    "worker pool $HOST:$BEAM_WORKER_POOL_PORT, metrics $HOST:$FLINK_JM_METRICS_PORT-$LAST_TM_METRICS_PORT," \
    "logs in $(rel "$PROC_LOGS")"
}

# Every taskmanager-<i> with a pid file counts, also beyond FLINK_TASKMANAGERS (a cluster started with more).
all_names() {
  local f names=(jobserver workerpool)
  for f in "$FLINK_HOME"/taskmanager-*.pid; do [[ -e "$f" ]] && names+=("$(basename "$f" .pid)"); done
  names+=(jobmanager)
  echo "${names[@]}"
}

cmd_down() {
  take_lock
  local stopped
  # shellcheck disable=SC2046
  stopped="$(stop_processes $(all_names))"
  if [[ -z "$stopped" ]]; then log "not running"; else log "stopped: $stopped"; fi
}

cmd_status() {
  local name up=() down=()
  for name in "${NAMES[@]}"; do
    if [[ -n "$(running_pid "$name")" ]]; then up+=("$name"); else down+=("$name"); fi
  done
  if ((${#down[@]} == 0)); then
    local ov; ov="$(overview)"; ov="${ov:-? ?}"
    echo "running ($REST: ${ov%% *} TaskManager(s), ${ov##* } slots; $(describe))"
    return 0
  fi
  if ((${#up[@]} == 0)); then echo "stopped"; else echo "degraded: running ${up[*]}; stopped ${down[*]} (run: deploy/local/flink.sh up)"; fi
  return 1
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: ${0##*/} up|down|status" >&2; exit 2 ;;
esac
