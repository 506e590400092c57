# shellcheck shell=bash
# The project's services, listed in deploy/services.tsv (name, grpc_port,
# metrics_port; `#` lines ignored). Each built one
# (build/services/<name>/<name>) runs in the background with the variables of
# $STATE/env plus MERIDIAN_SERVICE_NAME, MERIDIAN_GRPC_PORT and
# MERIDIAN_METRICS_PORT; pid in $STATE/run/<name>.pid, log in
# $STATE/logs/<name>.log.

SERVICES_TSV="$ROOT/deploy/services.tsv"
SERVICE_START_TIMEOUT=30
KAFKA_TLS_SERVICES="deid-stream analytics"

# services_list: print "name grpc_port metrics_port" per listed service.
services_list() {
  [[ -f $SERVICES_TSV ]] || return 0
  awk '/^[[:space:]]*(#|$)/ { next } { print $1, $2, $3 }' "$SERVICES_TSV"
}

# service_row NAME: print "name grpc_port metrics_port" for NAME; fail if NAME
# is not listed.
service_row() {
  local name grpc metrics
  while read -r name grpc metrics; do
    if [[ $name == "$1" ]]; then
      printf '%s %s %s\n' "$name" "$grpc" "$metrics"
      return 0
    fi
  done < <(services_list)
  return 1
}

# service_bin NAME: path of the service's binary.
service_bin() { printf '%s/services/%s/%s' "$BUILD_DIR" "$1" "$1"; }

# service_pid NAME: pid of the running service, if any.
service_pid() { running_pid "$1" "$(service_bin "$1")"; }

# service_start NAME GRPC_PORT METRICS_PORT: start one service and wait until
# its gRPC port accepts connections. Skipped (with a note) when not built.
service_start() {
  local name=$1 grpc=$2 metrics=$3 bin pid logf waited=0
  bin=$(service_bin "$name")
  ensure_state_dirs
  if [[ ! -x $bin ]]; then
    log "$name: not built ($bin missing): skipped"
    return 0
  fi
  if pid=$(service_pid "$name"); then
    log "$name: already running (pid $pid, grpc $grpc, metrics $metrics)"
    return 0
  fi
  if port_open "$grpc"; then
    die "$name: port $grpc is already in use by another process (see: ss -ltnp 'sport = :$grpc')"
  fi
  write_env
  logf=$(log_file "$name")
  log "$name: starting (grpc $grpc, metrics $metrics, log $logf)"
  (
    cd "$ROOT" || exit 1
    # shellcheck source=/dev/null
    source "$STATE/env"
    export MERIDIAN_SERVICE_NAME="$name" MERIDIAN_GRPC_PORT="$grpc" MERIDIAN_METRICS_PORT="$metrics"
    # Services on the de-identified topics reach Kafka as themselves (mutual
    # TLS, the broker's ACLs), the others over the plaintext listener.
    if [[ " $KAFKA_TLS_SERVICES " == *" $name "* ]]; then
      export MERIDIAN_KAFKA_BROKERS="$MERIDIAN_KAFKA_TLS_BROKERS" \
        MERIDIAN_KAFKA_CLIENT_CERT="$CERTS_DIR/svc-$name.pem" \
        MERIDIAN_KAFKA_CLIENT_KEY="$CERTS_DIR/svc-$name.key"
    fi
    exec setsid "$bin"
  ) >>"$logf" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$(pid_file "$name")"

  while ((waited < SERVICE_START_TIMEOUT * 10)); do
    if ! pid_alive "$pid"; then
      rm -f "$(pid_file "$name")"
      show_log_tail "$name"
      die "$name: exited during startup"
    fi
    if port_open "$grpc"; then
      log "$name: started (pid $pid)"
      return 0
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  show_log_tail "$name"
  die "$name: gRPC port $grpc not open after ${SERVICE_START_TIMEOUT}s (pid $pid left running)"
}

# service_stop NAME [--kill]: SIGTERM (SIGKILL with --kill), SIGKILL after 15 s.
service_stop() {
  local signal=TERM
  [[ ${2:-} == --kill ]] && signal=KILL
  stop_process "$1" "$(service_bin "$1")" "$signal" 15
}

# services_start_all: start every listed service that is built.
services_start_all() {
  local name grpc metrics rows
  rows=$(services_list)
  [[ -n $rows ]] || log "no services listed in $SERVICES_TSV"
  while read -r name grpc metrics; do
    [[ -n $name ]] || continue
    service_start "$name" "$grpc" "$metrics"
  done <<<"$rows"
}

# services_stop_all: stop every service that has a pid file (listed or not),
# i.e. exactly what up started.
services_stop_all() {
  local file name
  for file in "$STATE"/run/*.pid; do
    [[ -e $file ]] || continue
    name=$(basename "$file" .pid)
    [[ $name == kafka ]] && continue
    service_stop "$name"
  done
}
