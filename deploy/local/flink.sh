#!/usr/bin/env bash
# A real single-node Apache Flink 2.2 session cluster on 127.0.0.1, plus Beam's Python worker pool, for running
# the Beam pipelines with the FlinkRunner locally and in integration tests.
#
#   deploy/local/flink.sh up       fetch Flink (once), start JobManager, TaskManager and the Beam worker pool,
#                                  wait until the REST API reports the TaskManager's slots; then fetch Beam's
#                                  Flink job server jar (once) if deploy/local/flink-jobserver.sh can
#   deploy/local/flink.sh down     stop all three (SIGTERM, then SIGKILL after 30 s)
#   deploy/local/flink.sh status   "running ..." (exit 0), or what is stopped (exit 1)
#   deploy/local/flink.sh smoke    run a small native Flink batch job on it and check it FINISHED (no Beam needed)
#
# No Docker and no Flink tarball: this machine reaches PyPI and Maven Central only, and the Maven repository it
# reaches does not serve org.apache.flink:flink-dist. The PyPI package
# apache-flink-libraries carries the same jars as the tarball's lib/ and plugins/: it is downloaded once with
# `pip download --no-deps` (never installed anywhere) and unpacked into .cache/flink/dist. The processes are
# started the way the tarball's bin/jobmanager.sh and bin/taskmanager.sh end up starting them:
#   java ... -cp 'lib/*' org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint --configDir conf
#   java ... -cp 'lib/*' org.apache.flink.runtime.taskexecutor.TaskManagerRunner --configDir conf -D <memory>
# Everything (jars, config, logs, pid files, temp and checkpoint dirs) lives in .cache/flink/, which git ignores.
#
# Running a Beam pipeline on it (the job server jar must be in ~/.apache_beam/cache/jars, see flink-jobserver.sh;
# deploy/local/flink/beam_check.py runs a small one and checks it):
#   --runner=FlinkRunner --flink_master=localhost:8081 --flink_version=2.2
#   --environment_type=EXTERNAL --environment_config=127.0.0.1:50000
# The TaskManager asks the worker pool (deploy/local/flink/worker_pool.py) for Python SDK workers; they run with
# FLINK_PYTHON, so the pipeline's own modules must be importable there (installed into .venv, as pipelines/ is).
#
# Listens on (127.0.0.1 only, except the Prometheus endpoints: Flink 2.2's reporter has no bind-address option
# and listens on every interface):
#   8081 REST API and web UI   6123 JobManager RPC   9249 JobManager metrics   9250 TaskManager metrics
#   50000 Beam worker pool     plus random 127.0.0.1 ports for the blob server, TaskManager RPC and data
#
# Environment (all optional):
#   FLINK_LIBRARIES_VERSION=2.2.1    the apache-flink-libraries release on PyPI (= the Flink version)
#   FLINK_REST_PORT=8081  FLINK_RPC_PORT=6123  FLINK_JM_METRICS_PORT=9249  FLINK_TM_METRICS_PORT=9250
#   BEAM_WORKER_POOL_PORT=50000
#   FLINK_TM_SLOTS=2                 TaskManager slots; parallelism.default is set to the same
#   FLINK_TM_TASK_HEAP=512m  FLINK_TM_MANAGED=256m   the TaskManager's user-code heap and managed memory
#   FLINK_PYTHON=<repo>/.venv/bin/python   runs the worker pool and its SDK workers: it must have apache-beam
#   FLINK_FETCH_JOB_SERVER=1         0: skip fetching Beam's Flink job server jar during `up`
#   FLINK_HOME=<repo>/.cache/flink   where the jars, config, logs and pid files live
#   JAVA_HOME                        otherwise `java` from PATH (Flink 2 needs Java 11+; 17 is what is tested)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/local/flink"

FLINK_HOME="${FLINK_HOME:-$ROOT/.cache/flink}"
FLINK_LIBRARIES_VERSION="${FLINK_LIBRARIES_VERSION:-2.2.1}"
FLINK_MINOR="$(cut -d. -f1,2 <<<"$FLINK_LIBRARIES_VERSION")"
FLINK_REST_PORT="${FLINK_REST_PORT:-8081}"
FLINK_RPC_PORT="${FLINK_RPC_PORT:-6123}"
FLINK_JM_METRICS_PORT="${FLINK_JM_METRICS_PORT:-9249}"
FLINK_TM_METRICS_PORT="${FLINK_TM_METRICS_PORT:-9250}"
BEAM_WORKER_POOL_PORT="${BEAM_WORKER_POOL_PORT:-50000}"
FLINK_TM_SLOTS="${FLINK_TM_SLOTS:-2}"
FLINK_TM_TASK_HEAP="${FLINK_TM_TASK_HEAP:-512m}"
FLINK_TM_MANAGED="${FLINK_TM_MANAGED:-256m}"
FLINK_PYTHON="${FLINK_PYTHON:-$ROOT/.venv/bin/python}"
FLINK_FETCH_JOB_SERVER="${FLINK_FETCH_JOB_SERVER:-1}"
HOST=127.0.0.1
REST="http://$HOST:$FLINK_REST_PORT"

DIST="$FLINK_HOME/dist"
CONF="$FLINK_HOME/conf"
LOGS="$FLINK_HOME/log"
WORK="$FLINK_HOME/tmp"
START_TIMEOUT=90
STOP_TIMEOUT=30

if [[ -n "${JAVA_HOME:-}" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi

die() { echo "flink.sh: $*" >&2; exit 1; }
log() { echo "flink.sh: $*"; }
rel() { echo "${1#"$ROOT"/}"; }

# --- memory ---------------------------------------------------------------------------------------------------------
# Every TaskManager memory component is given explicitly. Started without Flink's bash scripts (which compute
# them with BashJavaUtils), TaskManagerRunner refuses to start unless they are all set ("taskmanager.cpu.cores
# is not set"), and the JVM's own limits (-Xmx, direct memory, metaspace) must agree with them. Mind the key
# names: network.min/max and jvm-overhead.min/max take no ".size" suffix (Flink ignores unknown keys silently).
# Sizes in MiB. TaskManager total: 128+512+128+128+128+256+256+256 = 1792 MiB.
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
# JobManager: 256 heap + 64 off-heap + 256 metaspace + 192 overhead = 768 MiB. Metaspace is generous for a
# JobManager because a Beam job's user jar is the whole job server jar, loaded in a class loader of its own.
JM_HEAP=256 JM_OFF_HEAP=64 JM_METASPACE=256 JM_OVERHEAD=192
JM_JVM_MEMORY=("-Xms${JM_HEAP}m" "-Xmx${JM_HEAP}m" "-XX:MaxMetaspaceSize=${JM_METASPACE}m")

# --- Flink jars -----------------------------------------------------------------------------------------------------

dist_stamp() { echo "$DIST/.apache-flink-libraries-$FLINK_LIBRARIES_VERSION"; }

fetch_dist() {
  [[ -f "$(dist_stamp)" ]] && return 0
  local py
  if [[ -x "$FLINK_PYTHON" ]]; then py="$FLINK_PYTHON"; else py="$(command -v python3)" || die "python3 not found"; fi
  log "fetching apache-flink-libraries==$FLINK_LIBRARIES_VERSION from PyPI (about 300 MB, once) ..."
  # Download and unpack in scratch dirs and swap the result in whole, so an interrupted fetch never leaves a
  # half-filled dist/ that a later run would mistake for a complete one. Only lib/ (the tarball's lib/: flink-dist,
  # log4j, ...) and the Prometheus reporter plugin are kept; the wheel is deleted afterwards.
  local dl="$FLINK_HOME/download.$$" tmp="$DIST.tmp.$$" piplog="$FLINK_HOME/pip.log"
  rm -rf "$dl" "$tmp"
  if ! "$py" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
      "apache-flink-libraries==$FLINK_LIBRARIES_VERSION" -d "$dl" >"$piplog" 2>&1; then
    tail -n 5 "$piplog" >&2; rm -rf "$dl"
    die "pip could not download apache-flink-libraries==$FLINK_LIBRARIES_VERSION (full output: $(rel "$piplog"))"
  fi
  "$py" - "$dl" "$tmp" <<'EOF' || { rm -rf "$dl" "$tmp"; die "unpacking the apache-flink-libraries wheel failed"; }
import glob, os, shutil, sys, zipfile
dl, out = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(dl, "apache_flink_libraries-*.whl"))
keep = ("pyflink/lib/", "pyflink/plugins/metrics-prometheus/")
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(keep) and not name.endswith("/"):
            dest = os.path.join(out, name[len("pyflink/"):])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(name) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
EOF
  rm -rf "$dl"
  ls "$tmp"/lib/flink-dist-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "the wheel has no lib/flink-dist jar"; }
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

# Rewritten on every `up`, so port and memory changes take effect. Flink 2.x reads conf/config.yaml (standard
# YAML; flat dotted keys are allowed).
write_config() {
  mkdir -p "$CONF" "$LOGS/workers" "$WORK"
  local kv
  {
    cat <<EOF
# Written by deploy/local/flink.sh on every 'up'; edit the script, not this file.
# One JobManager and one TaskManager on 127.0.0.1. The TaskManager's memory components are in the
# 'taskmanager.memory' lines at the end (also passed to it as -D dynamic properties).
jobmanager.rpc.address: $HOST
jobmanager.rpc.port: $FLINK_RPC_PORT
jobmanager.bind-host: $HOST
rest.address: $HOST
rest.bind-address: $HOST
rest.port: $FLINK_REST_PORT
taskmanager.host: $HOST
taskmanager.bind-host: $HOST
taskmanager.resource-id: local-taskmanager-1
taskmanager.numberOfTaskSlots: $FLINK_TM_SLOTS
parallelism.default: $FLINK_TM_SLOTS
jobmanager.execution.failover-strategy: region
# JobManager and TaskManager start side by side; a TaskManager that asks before the JobManager's RPC is up
# ("Could not resolve ResourceManager address") would otherwise wait the default 10 s before asking again.
cluster.registration.error-delay: 1 s

jobmanager.memory.heap.size: ${JM_HEAP}m
jobmanager.memory.off-heap.size: ${JM_OFF_HEAP}m
jobmanager.memory.jvm-metaspace.size: ${JM_METASPACE}m
jobmanager.memory.jvm-overhead.min: ${JM_OVERHEAD}m
jobmanager.memory.jvm-overhead.max: ${JM_OVERHEAD}m

# Temp files, uploaded jars (every Beam job uploads the job server jar), blobs, checkpoints: all under
# .cache/flink rather than /tmp.
io.tmp.dirs: $WORK
web.tmpdir: $WORK/web
blob.storage.directory: $WORK/blobs
execution.checkpointing.dir: file://$FLINK_HOME/checkpoints
execution.checkpointing.savepoint-dir: file://$FLINK_HOME/savepoints

# Beam's runner leaves gRPC threads behind that still touch the job's class loader after the job ends; with the
# check on, that fails later jobs with "Trying to access closed classloader" (apache/beam#20783).
classloader.check-leaked-classloader: false

# Prometheus endpoint on each process. The range is what a scraper may try; flink.sh pins the JobManager to
# the first port and the TaskManager to the second (-D metrics.reporter.prom.port), so each always has the same one.
metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory
metrics.reporter.prom.port: $FLINK_JM_METRICS_PORT-$FLINK_TM_METRICS_PORT
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
# Noise at INFO.
logger.pekko.name=org.apache.pekko
logger.pekko.level=WARN
logger.netty.name=org.jboss.netty.channel.DefaultChannelPipeline
logger.netty.level=OFF
EOF
}

# --- processes ------------------------------------------------------------------------------------------------------
# Three managed processes, each with a pid file; the names are jobmanager, taskmanager and workerpool.

pidfile() { echo "$FLINK_HOME/$1.pid"; }

# What identifies each process in /proc/<pid>/cmdline: a pid file can outlive its process (kill -9, reboot)
# and the pid be reused.
signature() {
  case "$1" in
    jobmanager) echo "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint --configDir $CONF" ;;
    taskmanager) echo "org.apache.flink.runtime.taskexecutor.TaskManagerRunner --configDir $CONF" ;;
    workerpool) echo "$HERE/worker_pool.py --port $BEAM_WORKER_POOL_PORT" ;;
  esac
}

running_pid() {
  local pid f
  f="$(pidfile "$1")"
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$(signature "$1")"; then echo "$pid"; fi
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Each process runs in its own session (setsid): it outlives this script and the terminal, Ctrl-C in the
# terminal does not reach it, and `down` can signal its whole process group (the worker pool's SDK workers too).
# stdout/stderr (JVM crashes, anything printed before log4j is up) go to <name>.out; the proper log is <name>.log.
# The first argument is the working directory.
start_process() {
  local name="$1" dir="$2"; shift 2
  if [[ -s "$LOGS/$name.log" ]]; then mv -f "$LOGS/$name.log" "$LOGS/$name.log.previous"; fi
  (cd "$dir" && FLINK_CONF_DIR="$CONF" FLINK_LIB_DIR="$DIST/lib" FLINK_PLUGINS_DIR="$DIST/plugins" FLINK_LOG_DIR="$LOGS" \
    exec setsid nohup "$@" </dev/null >"$LOGS/$name.out" 2>&1 9>&-) &
  echo $! >"$(pidfile "$name")"
}

start_jvm() {
  local name="$1" main="$2"; shift 2
  local -a opts
  read -r -a opts <"$DIST/java-opts"
  # The JVMs work in .cache/flink, and a crashing JVM's hs_err file goes to the log dir, not the repo.
  start_process "$name" "$FLINK_HOME" "$JAVA" "${opts[@]}" -XX:+UseG1GC -Djava.awt.headless=true \
    -XX:ErrorFile="$LOGS/hs_err_$name.%p.log" \
    -Dlog.file="$LOGS/$name.log" -Dlog4j.configurationFile="file:$CONF/log4j.properties" \
    "${JVM_MEMORY[@]}" -cp "$(classpath)" "$main" --configDir "$CONF" "$@"
}

start_jobmanager() {
  JVM_MEMORY=("${JM_JVM_MEMORY[@]}")
  start_jvm jobmanager org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint \
    -D "metrics.reporter.prom.port=$FLINK_JM_METRICS_PORT"
}

start_taskmanager() {
  local kv dyn=()
  for kv in "${TM_MEMORY[@]}"; do dyn+=(-D "$kv"); done
  JVM_MEMORY=("${TM_JVM_MEMORY[@]}")
  start_jvm taskmanager org.apache.flink.runtime.taskexecutor.TaskManagerRunner \
    "${dyn[@]}" -D "metrics.reporter.prom.port=$FLINK_TM_METRICS_PORT"
}

start_workerpool() {
  # One log file per SDK worker; keep the previous run's beside this one's, like the other logs.
  rm -rf "$LOGS/workers.previous"
  if [[ -d "$LOGS/workers" ]]; then mv "$LOGS/workers" "$LOGS/workers.previous"; fi
  mkdir -p "$LOGS/workers"
  # -u: the pool's log lines reach workerpool.out as they happen. Its SDK workers inherit its working
  # directory, the repo root, so a pipeline's relative paths mean the same as under the DirectRunner.
  start_process workerpool "$ROOT" "$FLINK_PYTHON" -u "$HERE/worker_pool.py" --port "$BEAM_WORKER_POOL_PORT" \
    --log-dir "$LOGS/workers"
}

# What a failed start left behind: the process's own output, then its log's errors (a Java stack trace can
# push the line that says what went wrong far above the tail) and its last lines.
show_logs() {
  local name="$1" f
  for f in "$LOGS/$name.out" "$LOGS/$name.log"; do
    [[ -s "$f" ]] || continue
    echo "--- $(rel "$f") (errors, then last lines) ---" >&2
    grep -E ' (ERROR|FATAL) |^Caused by: |^Error|Exception' "$f" | tail -n 5 | cut -c1-400 >&2 || true
    echo "..." >&2
    tail -n 8 "$f" | cut -c1-400 >&2
  done
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
# The lock is on fd 9, which the processes must not inherit (9>&- above), or they would hold it for their life.
take_lock() {
  mkdir -p "$FLINK_HOME"
  exec 9>"$FLINK_HOME/.lock"
  flock -w 120 9 || die "another flink.sh has held $FLINK_HOME/.lock for 2 minutes"
}

NAMES=(jobmanager taskmanager workerpool)

cmd_up() {
  take_lock
  local name pid missing=() t0=$SECONDS
  for name in "${NAMES[@]}"; do
    pid="$(running_pid "$name")"
    [[ -n "$pid" ]] || { rm -f "$(pidfile "$name")"; missing+=("$name"); }
  done
  if ((${#missing[@]} == 0)); then log "already running ($(describe))"; return 0; fi

  command -v "$JAVA" >/dev/null || die "java not found (Flink 2 needs Java 11+; set JAVA_HOME or PATH)"
  command -v curl >/dev/null || die "curl not found (needed to ask the REST API whether the cluster is up)"
  [[ -x "$FLINK_PYTHON" ]] || die "$FLINK_PYTHON not found (the worker pool needs a Python with apache-beam; run make first or set FLINK_PYTHON)"
  for name in "${missing[@]}"; do
    case "$name" in
      jobmanager) for p in "$FLINK_REST_PORT" "$FLINK_RPC_PORT" "$FLINK_JM_METRICS_PORT"; do
                    port_open "$p" && die "port $p is taken by another process (see the FLINK_*_PORT variables)"; done ;;
      taskmanager) port_open "$FLINK_TM_METRICS_PORT" && die "port $FLINK_TM_METRICS_PORT is taken by another process (set FLINK_TM_METRICS_PORT)" ;;
      workerpool) port_open "$BEAM_WORKER_POOL_PORT" && die "port $BEAM_WORKER_POOL_PORT is taken by another process (set BEAM_WORKER_POOL_PORT)" ;;
    esac
  done

  fetch_dist
  write_config

  # Beam's Flink job server jar: not needed by the cluster, but by every Beam submission to it. Fetched beside the
  # start-up (it is a separate download) by deploy/local/flink-jobserver.sh when that script exists; a failure
  # only warns, since the cluster itself works without it.
  local js_pid="" js_log="$LOGS/jobserver-fetch.log"
  if [[ "$FLINK_FETCH_JOB_SERVER" == 1 && -f "$ROOT/deploy/local/flink-jobserver.sh" ]]; then
    FLINK_VERSION="$FLINK_MINOR" bash "$ROOT/deploy/local/flink-jobserver.sh" </dev/null >"$js_log" 2>&1 9>&- &
    js_pid=$!
  fi

  for name in "${missing[@]}"; do "start_$name"; done
  log "starting Flink $(flink_version) (${missing[*]}) ..."

  # Ready = the REST API lists the TaskManager with all its slots, both metrics endpoints and the worker pool
  # accept connections.
  local deadline=$((SECONDS + START_TIMEOUT)) ov
  while :; do
    for name in "${NAMES[@]}"; do
      if [[ -z "$(running_pid "$name")" ]]; then
        show_logs "$name"; cmd_down >/dev/null
        die "$name exited during startup (logs: $(rel "$LOGS"))"
      fi
    done
    ov="$(overview)"
    if [[ -n "$ov" ]] && ((${ov% *} >= 1 && ${ov#* } >= FLINK_TM_SLOTS)) && port_open "$FLINK_JM_METRICS_PORT" \
        && port_open "$FLINK_TM_METRICS_PORT" && port_open "$BEAM_WORKER_POOL_PORT"; then
      break
    fi
    if ((SECONDS >= deadline)); then
      for name in "${NAMES[@]}"; do show_logs "$name"; done
      cmd_down >/dev/null
      die "not ready within ${START_TIMEOUT}s (REST /overview: '${ov:-no answer}'; expected 1 TaskManager with $FLINK_TM_SLOTS slots)"
    fi
    sleep 0.5
  done
  log "up in $((SECONDS - t0))s: Flink $(flink_version), web UI and REST $REST; $(describe)"

  if [[ -n "$js_pid" ]]; then
    if wait "$js_pid"; then
      log "Beam job server jar: $(tail -n 1 "$js_log")"
    else
      local why
      if grep -qE 'Could not find artifact|was not found in' "$js_log"; then
        why="the Maven repository has no org.apache.beam:beam-runners-flink-$FLINK_MINOR-job-server for this Beam version"
      else
        why="$(tail -n 1 "$js_log" | sed 's/\x1b\[[0-9;]*m//g; s/^flink-jobserver.sh: //')"
      fi
      log "warning: FlinkRunner cannot submit yet, no Beam Flink job server jar: $why (log: $(rel "$js_log"))" >&2
    fi
  fi
}

describe() {
  echo "jobmanager pid $(running_pid jobmanager), taskmanager pid $(running_pid taskmanager)," \
    "worker pool pid $(running_pid workerpool) on $HOST:$BEAM_WORKER_POOL_PORT," \
    "metrics $HOST:$FLINK_JM_METRICS_PORT and $HOST:$FLINK_TM_METRICS_PORT, logs in $(rel "$LOGS")"
}

cmd_down() {
  mkdir -p "$FLINK_HOME"
  local name pid pids=() names=()
  for name in workerpool taskmanager jobmanager; do
    pid="$(running_pid "$name")"
    if [[ -n "$pid" ]]; then pids+=("$pid"); names+=("$name"); else rm -f "$(pidfile "$name")"; fi
  done
  if ((${#pids[@]} == 0)); then log "not running"; return 0; fi
  # SIGTERM to each process group: the JVMs shut down cleanly (the TaskManager deregisters, the JobManager
  # cleans its blob and web directories); the worker pool stops its SDK workers, which are in its group too.
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  local deadline=$((SECONDS + STOP_TIMEOUT)) alive
  while :; do
    alive=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    ((${#alive[@]} == 0 || SECONDS >= deadline)) && break
    sleep 0.3
  done
  if ((${#alive[@]} > 0)); then
    log "still alive after ${STOP_TIMEOUT}s (pids ${alive[*]}); sending SIGKILL"
    for pid in "${alive[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${alive[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done; done
  fi
  # SDK workers whose pool was killed before it could stop them are still in the pool's process group.
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for name in "${names[@]}"; do rm -f "$(pidfile "$name")"; done
  log "stopped (${names[*]}: pids ${pids[*]})"
}

cmd_status() {
  local name pid up=() down=()
  for name in "${NAMES[@]}"; do
    pid="$(running_pid "$name")"
    if [[ -n "$pid" ]]; then up+=("$name"); else down+=("$name"); fi
  done
  if ((${#down[@]} == 0)); then
    local ov; ov="$(overview)"; ov="${ov:-? ?}"
    echo "running ($REST: ${ov%% *} TaskManager(s), ${ov##* } slots; $(describe))"
    return 0
  fi
  if ((${#up[@]} == 0)); then echo "stopped"; else echo "degraded: running ${up[*]}; stopped ${down[*]} (run: deploy/local/flink.sh up)"; fi
  return 1
}

# A native Flink batch job (deploy/local/flink/Smoke.java, compiled once against dist/lib): upload, run, wait
# for FINISHED through the REST API, and check its output. Needs no Beam, so it also works where Beam's job
# server jar is missing.
cmd_smoke() {
  [[ -n "$(overview)" ]] || die "no cluster answers on $REST; run: deploy/local/flink.sh up"
  local src="$HERE/Smoke.java" javac jar_tool jar classes
  if [[ -n "${JAVA_HOME:-}" ]]; then javac="$JAVA_HOME/bin/javac" jar_tool="$JAVA_HOME/bin/jar"; else javac=javac jar_tool=jar; fi
  jar="$FLINK_HOME/smoke/smoke-$(cksum <"$src" | cut -d' ' -f1).jar"
  if [[ ! -s "$jar" ]]; then
    command -v "$javac" >/dev/null || die "javac not found (smoke compiles a small job; it needs a JDK)"
    classes="$(mktemp -d "$FLINK_HOME/smoke.XXXXXX")"
    "$javac" -nowarn -cp "$DIST/lib/*" -d "$classes" "$src" || { rm -rf "$classes"; die "compiling $(rel "$src") failed"; }
    mkdir -p "$FLINK_HOME/smoke"
    "$jar_tool" --create --file "$jar.tmp" --main-class Smoke -C "$classes" . && mv -f "$jar.tmp" "$jar"
    rm -rf "$classes"
  fi

  local t0=$SECONDS nonce="run-$$-$RANDOM" resp jar_id job state=""
  resp="$(curl -sf -m 30 -X POST -F "jarfile=@$jar" "$REST/jars/upload")" || die "uploading the smoke jar failed"
  jar_id="$(sed -n 's|.*"filename":"[^"]*/\([^"/]*\)".*|\1|p' <<<"$resp")"
  [[ -n "$jar_id" ]] || die "unexpected answer to the jar upload: $resp"
  resp="$(curl -s -m 60 -X POST -H 'Content-Type: application/json' \
    -d "{\"programArgsList\":[\"$nonce\"]}" "$REST/jars/$jar_id/run")"
  curl -sf -m 10 -X DELETE "$REST/jars/$jar_id" >/dev/null || true
  job="$(sed -n 's/.*"jobid":"\([0-9a-f]*\)".*/\1/p' <<<"$resp")"
  [[ -n "$job" ]] || die "submitting the smoke job failed: $(cut -c1-400 <<<"$resp")"
  local deadline=$((SECONDS + 120))
  while ((SECONDS < deadline)); do
    # The job's own state is the first "state" in /jobs/<id>; its vertices' states follow.
    state="$(curl -sf -m 5 "$REST/jobs/$job" | grep -o '"state":"[A-Z]*"' | head -n 1 | cut -d'"' -f4)" || true
    case "$state" in FINISHED|FAILED|CANCELED) break ;; esac
    sleep 0.5
  done
  [[ "$state" == FINISHED ]] || { show_logs taskmanager; die "smoke job $job ended as '${state:-unknown}' (web UI: $REST/#/job/completed/$job)"; }
  local line; line="$(grep -F "flink.sh smoke $nonce: " "$LOGS/taskmanager.out" | tail -n 1)"
  [[ "$line" == *": sum=999000" ]] || die "smoke job $job FINISHED but printed '${line:-nothing}', expected sum=999000"
  log "smoke: job $job FINISHED in $((SECONDS - t0))s (submit + run), sum=999000 at parallelism $FLINK_TM_SLOTS"
}

case "${1:-}" in
  up) cmd_up ;;
  down) take_lock && cmd_down ;;
  status) cmd_status ;;
  smoke) cmd_smoke ;;
  *) echo "usage: ${0##*/} up|down|status|smoke" >&2; exit 2 ;;
esac
