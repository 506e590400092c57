# shellcheck shell=bash
# Shared helpers for tools/meridian: messages, process and port checks.
# Sourced by tools/meridian; expects ROOT, STATE and CACHE to be set.

# log MESSAGE...: print a message to stderr with the meridian: prefix.
log() { printf 'meridian: %s\n' "$*" >&2; }

# die MESSAGE...: print an error and exit 1.
die() {
  log "error: $*"
  exit 1
}

# have COMMAND: true when COMMAND is on PATH.
have() { command -v "$1" >/dev/null 2>&1; }

# is_root: true when running as uid 0.
is_root() { [[ $(id -u) -eq 0 ]]; }

# is_ci: true when CI=true (or any non-empty value other than 0/false).
is_ci() { [[ -n ${CI:-} && ${CI:-} != 0 && ${CI:-} != false ]]; }

# quiet COMMAND...: run COMMAND with its output captured; show the output only
# when it fails (and return its exit code).
quiet() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if ((rc != 0)); then
    printf '%s\n' "$out" >&2
  fi
  return "$rc"
}

# ensure_state_dirs: create the directories under $STATE used by up/down.
ensure_state_dirs() {
  mkdir -p "$STATE/logs" "$STATE/run" "$STATE/kafka"
}

# log_file NAME: path of the log file of component NAME.
log_file() { printf '%s/logs/%s.log' "$STATE" "$1"; }

# pid_file NAME: path of the pid file of component NAME.
pid_file() { printf '%s/run/%s.pid' "$STATE" "$1"; }

# show_log_tail NAME [LINES]: print the end of a component's log to stderr.
show_log_tail() {
  local file
  file=$(log_file "$1")
  if [[ -f $file ]]; then
    log "last ${2:-40} lines of $file:"
    tail -n "${2:-40}" "$file" >&2
  fi
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pid_alive PID: true when PID exists and is not a zombie.
pid_alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $stat && $stat != Z* ]]
}

# running_pid NAME PATTERN: print the pid recorded in NAME's pid file when that
# process is alive and its command line contains PATTERN; fail otherwise (a
# stale pid file, e.g. after a reboot, does not count as running).
running_pid() {
  local file pid cmdline
  file=$(pid_file "$1")
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$2"* ]] || return 1
  printf '%s\n' "$pid"
}

# stop_process NAME PATTERN SIGNAL TIMEOUT: send SIGNAL to the process recorded
# in NAME's pid file (if it matches PATTERN), wait up to TIMEOUT seconds, then
# SIGKILL it. Removes the pid file. Harmless when it is not running.
stop_process() {
  local name=$1 pattern=$2 signal=$3 timeout=$4 pid waited=0
  if ! pid=$(running_pid "$name" "$pattern"); then
    rm -f "$(pid_file "$name")"
    log "$name is not running"
    return 0
  fi
  log "stopping $name (pid $pid, SIG$signal)"
  kill -s "$signal" "$pid" 2>/dev/null || true
  while pid_alive "$pid" && ((waited < timeout * 10)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if pid_alive "$pid"; then
    log "$name did not stop within ${timeout}s: sending SIGKILL"
    kill -s KILL "$pid" 2>/dev/null || true
    waited=0
    while pid_alive "$pid" && ((waited < 100)); do
      sleep 0.1
      waited=$((waited + 1))
    done
  fi
  rm -f "$(pid_file "$name")"
}

# root_hash: short stable hash of $ROOT (used to name directories outside it).
root_hash() {
  printf '%s' "$ROOT" | sha256sum | cut -c1-12
}
