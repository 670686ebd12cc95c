# Process management shared by the deploy/local scripts (sourced, not run): start a long-running process in a
# session of its own with a pid file, tell whether it still runs, stop a set of them, show what a failed one left.
#
# The sourcing script sets:
#   PROC_HOME   directory of the pid files (<name>.pid)
#   PROC_LOGS   directory of each process's output (<name>.out) and log (<name>.log)
#   HOST        the address the processes listen on (port_open probes it)
# and defines `signature NAME`: a string that identifies the process in /proc/<pid>/cmdline. A pid file can
# outlive its process (kill -9, reboot) and the pid be reused by something else; the signature tells them apart.

pidfile() { echo "$PROC_HOME/$1.pid"; }

running_pid() {
  local pid f
  f="$(pidfile "$1")"
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$(signature "$1")"; then echo "$pid"; fi
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Each process runs in its own session (setsid): it outlives the script and the terminal, Ctrl-C in the terminal
# does not reach it, and stop_processes can signal its whole process group (a worker pool's SDK workers too).
# stdout/stderr (JVM crashes, anything printed before a logger is up) go to <name>.out; a previous run's <name>.log
# is kept as <name>.log.previous. fd 9 (the scripts' lock) is not inherited. Extra environment comes from the
# array START_ENV (NAME=value words) when the caller sets it.
#   start_process NAME WORKDIR COMMAND...
start_process() {
  local name="$1" dir="$2"; shift 2
  mkdir -p "$PROC_LOGS"
  if [[ -s "$PROC_LOGS/$name.log" ]]; then mv -f "$PROC_LOGS/$name.log" "$PROC_LOGS/$name.log.previous"; fi
  (cd "$dir" && exec env "${START_ENV[@]}" setsid nohup "$@" </dev/null >"$PROC_LOGS/$name.out" 2>&1 9>&-) &
  echo $! >"$(pidfile "$name")"
}
START_ENV=()

# SIGTERM to each running process's group, SIGKILL to what is left after STOP_TIMEOUT seconds (default 30).
# Prints the names it stopped; removes stale pid files.
#   stop_processes NAME...
stop_processes() {
  local name pid pids=() names=()
  for name in "$@"; do
    pid="$(running_pid "$name")"
    if [[ -n "$pid" ]]; then pids+=("$pid"); names+=("$name"); else rm -f "$(pidfile "$name")"; fi
  done
  ((${#pids[@]} > 0)) || return 0
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  local deadline=$((SECONDS + ${STOP_TIMEOUT:-30})) alive
  while :; do
    alive=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    ((${#alive[@]} == 0 || SECONDS >= deadline)) && break
    sleep 0.3
  done
  if ((${#alive[@]} > 0)); then
    echo "still alive after ${STOP_TIMEOUT:-30}s (pids ${alive[*]}); sending SIGKILL" >&2
    for pid in "${alive[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${alive[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done; done
  fi
  # Children whose leader was killed before it could stop them are still in its process group.
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for name in "${names[@]}"; do rm -f "$(pidfile "$name")"; done
  echo "${names[*]}"
}

# What a failed start left behind: the process's own output, then its log's errors (a Java stack trace can push
# the line that says what went wrong far above the tail) and its last lines.
show_logs() {
  local name="$1" f
  for f in "$PROC_LOGS/$name.out" "$PROC_LOGS/$name.log"; do
    [[ -s "$f" ]] || continue
    echo "--- ${f#"$ROOT"/} (errors, then last lines) ---" >&2
    grep -E ' (ERROR|FATAL) |^Caused by: |^Error|Exception' "$f" | tail -n 5 | cut -c1-400 >&2 || true
    echo "..." >&2
    tail -n 8 "$f" | cut -c1-400 >&2
  done
}
