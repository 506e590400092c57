#!/usr/bin/env bash
# The services' container images, checked without a Docker engine (see
# deploy/docker/README.md). The runtime stage of deploy/docker/Dockerfile is
# assembled the same way from the same package list: debootstrap (minbase,
# bookworm), apt-get install --no-install-recommends of
# deploy/docker/runtime-packages.txt, the 10001 user; cached as a tarball
# under ${MERIDIAN_CACHE:-~/.cache/meridian}/image-root, keyed by the sha256
# of the list (and of the recipe). Then,
# for each service, in a fresh copy of that root holding only its binary and
# data files at the Dockerfile's paths (read from the Dockerfile's COPY and
# ENTRYPOINT lines):
#   - ldd inside the root finds every library;
#   - --help exits 0; --migrate_only=true (the migration Job: only
#     MERIDIAN_PG_URI) migrates a new database and exits 0;
#   - the service starts against the running platform (tools/meridian up;
#     its PostgreSQL, but a database of the check's own) with the chart's
#     settings and mounts, its readiness ("") and liveness health become
#     SERVING (grpc-health, as the kubelet's probes ask), and SIGTERM makes
#     it exit 0 within its grace period.
# Everything runs as the chart runs the container: uid/gid 10001, no
# capabilities, no_new_privs, read-only root, a tmpfs on /tmp, the secrets
# read-only under /etc/meridian. Needs root (debootstrap, chroot, mounts) and
# the platform's environment (eval "$(tools/meridian env)").
#   image_check.sh BUILD_DIR
set -euo pipefail

if (($# != 1)); then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dockerfile=$repo/deploy/docker/Dockerfile
packages=$repo/deploy/docker/runtime-packages.txt
cache=${MERIDIAN_CACHE:-$HOME/.cache/meridian}/image-root
mirror=${MERIDIAN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
grpc_health=${MERIDIAN_GRPC_HEALTH:-${MERIDIAN_K8S_TOOLS:-$HOME/.cache/meridian/k8s}/bin/grpc-health}
services=(patient-index records consent prescriptions lab-results deid-stream analytics)
consent_callers=" records prescriptions lab-results deid-stream "
kafka_tls=" deid-stream analytics "
start_timeout=60
grace=10
uid=10001
# A service's /proc/PID/status and root mount as the chart runs it.
want_status="Uid: $uid $uid $uid $uid;Gid: $uid $uid $uid $uid;Groups:;CapEff: 0000000000000000;"
want_status+="CapBnd: 0000000000000000;NoNewPrivs: 1;Root: ro"

[[ $EUID == 0 ]] || { echo "image_check: needs root (debootstrap, chroot, mounts)" >&2; exit 2; }
for var in MERIDIAN_PG_URI MERIDIAN_PG_TCP_URI MERIDIAN_KAFKA_BROKERS MERIDIAN_KAFKA_TLS_BROKERS MERIDIAN_CERTS_DIR \
  MERIDIAN_TLS_CERT MERIDIAN_TLS_KEY MERIDIAN_TLS_CA MERIDIAN_ORGANISATIONS \
  MERIDIAN_CONSENT_GRPC_ADDR MERIDIAN_AUDIT_SIGNING_KEY MERIDIAN_DEID_KEYS; do
  [[ -n ${!var:-} ]] || { echo "image_check: $var is not set: eval \"\$(tools/meridian env)\"" >&2; exit 2; }
done
[[ -x $grpc_health ]] || { echo "image_check: no $grpc_health: tools/meridian deps" >&2; exit 2; }
command -v psql >/dev/null || { echo "image_check: psql not found: tools/meridian deps" >&2; exit 2; }

# The services write to a database of their own on the running PostgreSQL
# (their migrations, inboxes, ...), dropped at the end: the platform's is not
# touched.
db="meridian_image_check_$$"
# Over TCP: an image root has its own /tmp, without PostgreSQL's socket.
pg_uri="${MERIDIAN_PG_TCP_URI%/*}/$db"
work=$(mktemp -d)
chmod 755 "$work"
pids=()
failures=0
checks=0

# cleanup: EXIT trap: kill what was started, drop the database, unmount
# anything left mounted under the work directory (deepest first), remove it.
cleanup() {
  local pid mnt
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -q "$MERIDIAN_PG_URI" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || true
  done < <(awk -v w="$work" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
psql -q -v ON_ERROR_STOP=1 "$MERIDIAN_PG_URI" -c "CREATE DATABASE $db" >/dev/null

# result NAME OK [DETAIL_FILE]: print PASS/FAIL NAME; on failure, the file's tail.
result() {
  checks=$((checks + 1))
  if [[ $2 == 0 ]]; then
    echo "PASS: $1"
  else
    echo "FAIL: $1"
    [[ -n ${3:-} && -f $3 ]] && tail -n 15 "$3" | sed 's/^/    /'
    failures=$((failures + 1))
  fi
  return 0
}

# package_list: the runtime packages (comments and blank lines dropped), as
# the Dockerfile reads them.
package_list() { sed -e 's/#.*//' "$packages" | xargs; }

# assemble DIR: the Dockerfile's runtime stage, as a root filesystem in DIR.
# /proc is mounted for apt in a mount namespace of its own (gone with it).
# Every step says `|| return 1`, so a failure returns at once with errexit
# or without it.
assemble() {
  local dir=$1 log=$work/assemble.log
  echo "image root: debootstrap and $(package_list | wc -w) packages (once per package list)"
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$log" 2>&1 ||
    { tail -n 20 "$log"; return 1; }
  # debian:bookworm-slim's suites, so updates and security fixes come too.
  printf 'deb %s %s main\n' "$mirror" bookworm "$mirror" bookworm-updates \
    http://deb.debian.org/debian-security bookworm-security >"$dir/etc/apt/sources.list" ||
    return 1
  # shellcheck disable=SC2016,SC2046
  unshare --mount --propagation private -- /bin/bash -c '
    set -e
    mount -t proc proc "$1/proc"
    chroot "$1" apt-get update -q
    chroot "$1" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${@:2}"' \
    assemble "$dir" $(package_list) >>"$log" 2>&1 || { tail -n 20 "$log"; return 1; }
  chroot "$dir" groupadd --gid "$uid" meridian || return 1
  chroot "$dir" useradd --uid "$uid" --gid "$uid" --home-dir /nonexistent \
    --no-create-home --shell /usr/sbin/nologin meridian || return 1
  chroot "$dir" apt-get clean || return 1
  rm -rf "$dir"/var/lib/apt/lists/*
}

# base_root DIR: the runtime root in DIR, from the cache (keyed by the package
# list's sha256) or assembled and then cached.
base_root() {
  local dir=$1 key tarball
  # The recipe is part of the key: changing assemble rebuilds the root too.
  key=$({ cat "$packages" && declare -f assemble; } | sha256sum | cut -c1-16)
  tarball=$cache/runtime-$key.tar.gz
  mkdir -p "$dir"
  if [[ ! -f $tarball ]]; then
    assemble "$dir/new"
    mkdir -p "$cache"
    tar --numeric-owner -C "$dir/new" -cf - . | gzip -1 >"$tarball.tmp"
    mv "$tarball.tmp" "$tarball"
    find "$cache" -name 'runtime-*.tar.gz' ! -name "runtime-$key.tar.gz" -delete
    rm -rf --one-file-system "$dir/new"
  fi
  tar --numeric-owner -C "$dir" -xzf "$tarball"
}

# fresh_root DIR: a copy of the base root in DIR (hard links: nothing in it
# is written while it is in use), with the mount points a container runtime
# makes: /etc/meridian for the secrets, resolv.conf and hosts as plain files.
fresh_root() {
  cp -al "$work/base" "$1"
  mkdir -p "$1/etc/meridian"
  rm -f "$1/etc/resolv.conf" "$1/etc/hosts"
  touch "$1/etc/resolv.conf" "$1/etc/hosts"
}

# stage_lines STAGE KEYWORD: the arguments of the KEYWORD instructions (COPY,
# ENV, ENTRYPOINT, USER) of the Dockerfile's stage STAGE, one a line.
stage_lines() {
  awk -v stage="$1" -v kw="$2" '
    $1 == "FROM" { in_stage = ($NF == stage); next }
    in_stage && $1 == kw { sub(/^[A-Z]+[ \t]+/, ""); print }' "$dockerfile"
}

# entrypoint NAME: the words of the ENTRYPOINT of the Dockerfile's stage NAME.
entrypoint() { stage_lines "$1" ENTRYPOINT | tr -d '[]",'; }

# service_root NAME DIR: a fresh root with what the COPY lines of the
# Dockerfile's stage NAME copy, where they copy it (as root, modes kept):
# `COPY SRC DEST` from the repository (the build context), `COPY --from=build
# /build/PATH DEST` from BUILD_DIR/PATH (the build stage's build directory).
service_root() {
  local name=$1 dir=$2 src dest extra copies=0
  fresh_root "$dir"
  while read -r src dest extra; do
    if [[ $src == --from=build ]]; then
      [[ $dest == /build/* ]] || { echo "image_check: $name: COPY $src $dest: not under /build" >&2; return 1; }
      src=$build/${dest#/build/} dest=$extra
    else
      src=$repo/$src
    fi
    if [[ -d $src ]]; then
      mkdir -p "$dir$dest" && cp -R "$src/." "$dir$dest/"
    else
      install -D -m "$(stat -c %a "$src")" "$src" "$dir$dest"
    fi
    copies=$((copies + 1))
  done < <(stage_lines "$name" COPY)
  ((copies > 0)) || { echo "image_check: no COPY in the Dockerfile's stage $name" >&2; return 1; }
}

# secret FILE DEST: FILE installed as a Kubernetes secret volume shows it
# (root-owned, group 10001 from fsGroup, mode 0440).
secret() { install -D -o root -g "$uid" -m 0440 "$1" "$2"; }

# service_secrets NAME DIR: the chart's volumes under /etc/meridian, filled
# from the local platform's files. The local PKI has server-only and
# client-only certificates where the chart's has one per service, so the
# consent client certificate gets a directory of its own.
service_secrets() {
  local name=$1 dir=$2 certs=$MERIDIAN_CERTS_DIR
  mkdir -p "$dir"
  chmod 755 "$dir"
  secret "$MERIDIAN_TLS_CERT" "$dir/tls/tls.crt"
  secret "$MERIDIAN_TLS_KEY" "$dir/tls/tls.key"
  secret "$MERIDIAN_TLS_CA" "$dir/tls/ca.crt"
  secret "$MERIDIAN_TLS_CA" "$dir/kafka-ca/ca.crt"
  secret "$MERIDIAN_ORGANISATIONS" "$dir/organisations/organisations.textproto"
  if [[ $kafka_tls == *" $name "* ]]; then
    secret "$certs/svc-$name.pem" "$dir/kafka/user.crt"
    secret "$certs/svc-$name.key" "$dir/kafka/user.key"
  fi
  if [[ $consent_callers == *" $name "* ]]; then
    secret "$certs/svc-$name.pem" "$dir/consent-client/tls.crt"
    secret "$certs/svc-$name.key" "$dir/consent-client/tls.key"
  fi
  [[ $name == consent ]] && secret "$MERIDIAN_AUDIT_SIGNING_KEY" "$dir/audit/audit-signing.key"
  [[ $name == deid-stream ]] && secret "$MERIDIAN_DEID_KEYS" "$dir/deid/deid-keys"
  find "$dir" -type d -exec chmod 755 {} +
}

# in_root DIR SECRETS [VAR=VALUE...] -- CMD...: CMD in the root DIR as the
# chart runs the container: a mount namespace of its own with DIR read-only,
# /proc, a read-only /sys, a minimal /dev, a tmpfs on /tmp, the host's
# resolv.conf and hosts, SECRETS (or -) read-only on /etc/meridian; then
# uid/gid 10001 with no capabilities and no_new_privs, and only the VARs in
# the environment. Replaces the calling shell (exec): call it in a subshell
# or in the background, where $! is then the pid of CMD itself.
in_root() {
  local dir=$1 secrets=$2
  shift 2
  # shellcheck disable=SC2016
  exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    unshare --mount --propagation private -- /bin/bash -c '
    set -e
    dir=$1 secrets=$2
    shift 2
    vars=()
    while [[ $1 != -- ]]; do vars+=("$1"); shift; done
    shift
    mount --bind "$dir" "$dir"
    mount -o remount,bind,ro,nosuid,nodev "$dir"
    mount -t proc -o nosuid,nodev,noexec proc "$dir/proc"
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$dir/sys"
    mount -t tmpfs -o nosuid,mode=755,size=64k tmpfs "$dir/dev"
    for node in null zero full random urandom tty; do
      touch "$dir/dev/$node"
      mount --bind "/dev/$node" "$dir/dev/$node"
    done
    ln -s /proc/self/fd "$dir/dev/fd"
    mkdir "$dir/dev/shm"
    mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=64m tmpfs "$dir/dev/shm"
    mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m tmpfs "$dir/tmp"
    for file in resolv.conf hosts; do
      mount --bind "/etc/$file" "$dir/etc/$file"
      mount -o remount,bind,ro "$dir/etc/$file"
    done
    if [[ $secrets != - ]]; then
      mount --bind "$secrets" "$dir/etc/meridian"
      mount -o remount,bind,ro,nosuid,nodev,noexec "$dir/etc/meridian"
    fi
    exec chroot "$dir" /usr/bin/setpriv --reuid=10001 --regid=10001 --clear-groups \
      --inh-caps=-all --bounding-set=-all --no-new-privs -- /usr/bin/env -i "${vars[@]}" "$@"
    ' in_root "$dir" "$secrets" "$@"
}

# port_free PORT: no TCP socket uses PORT.
port_free() { [[ -z $(ss -Htan "sport = :$1") ]]; }

# service_env NAME GRPC HEALTH METRICS HTTPS: the chart's ConfigMap for NAME
# (helm/meridian/templates/services.yaml), pointed at the local platform and
# the check's database, one VAR=VALUE a line. Consumer groups of their own
# leave the running services' groups and offsets alone.
service_env() {
  local name=$1 e=/etc/meridian
  printf '%s\n' PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    "MERIDIAN_SERVICE_NAME=$name" MERIDIAN_LISTEN_HOST=127.0.0.1 \
    "MERIDIAN_GRPC_PORT=$2" "MERIDIAN_HEALTH_PORT=$3" "MERIDIAN_METRICS_PORT=$4" \
    "MERIDIAN_SHUTDOWN_GRACE=${grace}s" "MERIDIAN_PG_URI=$pg_uri" MERIDIAN_PG_POOL_SIZE=4 \
    "MERIDIAN_KAFKA_CA=$e/kafka-ca/ca.crt" \
    "MERIDIAN_ORGANISATIONS=$e/organisations/organisations.textproto" \
    "MERIDIAN_TLS_CERT=$e/tls/tls.crt" "MERIDIAN_TLS_KEY=$e/tls/tls.key" "MERIDIAN_TLS_CA=$e/tls/ca.crt"
  if [[ $kafka_tls == *" $name "* ]]; then
    printf '%s\n' "MERIDIAN_KAFKA_BROKERS=$MERIDIAN_KAFKA_TLS_BROKERS" \
      "MERIDIAN_KAFKA_CLIENT_CERT=$e/kafka/user.crt" "MERIDIAN_KAFKA_CLIENT_KEY=$e/kafka/user.key"
  else
    printf '%s\n' "MERIDIAN_KAFKA_BROKERS=$MERIDIAN_KAFKA_BROKERS"
  fi
  if [[ $consent_callers == *" $name "* ]]; then
    printf '%s\n' "MERIDIAN_CONSENT_GRPC_ADDR=$MERIDIAN_CONSENT_GRPC_ADDR" \
      "MERIDIAN_CONSENT_CLIENT_CERT=$e/consent-client/tls.crt" \
      "MERIDIAN_CONSENT_CLIENT_KEY=$e/consent-client/tls.key" \
      "MERIDIAN_XREF_CONSUMER_GROUP=image-check-$name-xref"
  fi
  case $name in
    consent) echo "MERIDIAN_AUDIT_SIGNING_KEY=$e/audit/audit-signing.key" ;;
    prescriptions) echo MERIDIAN_FORMULARY_DIR=/usr/share/meridian/prescriptions ;;
    lab-results) echo MERIDIAN_REFERENCE_DIR=/usr/share/meridian/lab-results ;;
    deid-stream)
      printf '%s\n' "MERIDIAN_DEID_KEYS=$e/deid/deid-keys" \
        MERIDIAN_DEID_POLICY=/usr/share/meridian/deid/public_health.textproto \
        MERIDIAN_DEID_CONSUMER_GROUP=image-check-deid-stream MERIDIAN_DEID_START_AT=latest
      ;;
    analytics)
      printf '%s\n' "MERIDIAN_ANALYTICS_HTTPS_PORT=$5" \
        MERIDIAN_ANALYTICS_DASHBOARD_DIR=/usr/share/meridian/dashboard \
        MERIDIAN_ANALYTICS_CONSUMER_GROUP=image-check-analytics
      ;;
  esac
}

# health PORT [SERVICE]: grpc-health against the service's health port.
health() { "$grpc_health" --addr="127.0.0.1:$1" --service="${2:-}" --timeout=2s; }

# wait_serving PID PORT LOG: poll the readiness until SERVING (0), the process
# exits or $start_timeout passes (1).
wait_serving() {
  local pid=$1 port=$2 log=$3 deadline=$((SECONDS + start_timeout))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || { echo "exited during startup" >>"$log"; return 1; }
    health "$port" >>"$log.health" 2>&1 && return 0
    sleep 0.5
  done
  echo "not SERVING after ${start_timeout}s; last answer: $(tail -n 1 "$log.health")" >>"$log"
  return 1
}

# stop_within PID SECONDS: SIGTERM; 0 when PID then exits 0 within SECONDS.
stop_within() {
  local pid=$1 deadline=$((SECONDS + $2)) rc=0
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    return 1
  fi
  wait "$pid" || rc=$?
  return "$rc"
}

# check_harness: the set-up of in_root itself: uid/gid 10001 and no other
# group, the root not writable, /tmp writable.
check_harness() {
  local dir=$work/roots/harness out=$work/harness.out ok
  fresh_root "$dir"
  # shellcheck disable=SC2016
  (in_root "$dir" - PATH=/usr/bin:/bin -- /bin/sh -c \
    'id -u; id -g; id -G; touch /usr/x || echo root-ro; touch /tmp/x && echo tmp-rw') \
    >"$out" 2>&1 || true
  ok=1
  [[ $(grep -v Read-only "$out" | xargs) == "$uid $uid $uid root-ro tmp-rw" ]] && ok=0
  result "harness: uid/gid $uid, read-only root, writable /tmp" $ok "$out"
}

# check_service NAME INDEX: every check of one service, in its own root.
check_service() {
  local name=$1 i=$2 dir=$work/roots/$1 secrets=$work/secrets/$1 out=$work/$1
  # Below the kernel's ephemeral range (32768-60999): a port in it may be
  # taken at any moment by the source end of some connection.
  local grpc=$((26051 + i)) hport=$((27051 + i)) mport=$((28051 + i)) https=$((29051 + i))
  local pid port ok
  local -a cmd image_env env
  read -ra cmd < <(entrypoint "$name") || true  # none: reported just below
  ok=1
  [[ ${cmd[*]:-} == "/usr/local/bin/$name" ]] && ok=0
  result "$name: the Dockerfile's stage $name has ENTRYPOINT [\"/usr/local/bin/$name\"]" $ok
  ((ok == 0)) || return 0
  service_root "$name" "$dir"
  service_secrets "$name" "$secrets"
  # The image's ENV, then what the chart sets (the container's environment).
  mapfile -t image_env < <(stage_lines runtime ENV; stage_lines "$name" ENV)
  mapfile -t env < <(service_env "$name" "$grpc" "$hport" "$mport" "$https")

  ok=1
  chroot "$dir" ldd "${cmd[0]}" >"$out.ldd" 2>&1 &&
    ! grep 'not found' "$out.ldd" >"$out.missing" && ok=0
  result "$name: ldd in the runtime root finds every library" $ok "$out.missing"

  ok=1
  (in_root "$dir" - "${image_env[@]}" -- "${cmd[@]}" --help) >"$out.help" 2>&1 &&
    grep -q MERIDIAN_PG_URI "$out.help" && ok=0
  result "$name: --help exits 0 and lists MERIDIAN_PG_URI" $ok "$out.help"

  ok=1
  (in_root "$dir" - "${image_env[@]}" "MERIDIAN_PG_URI=$pg_uri" -- "${cmd[@]}" \
    --migrate_only=true) >"$out.migrate" 2>&1 &&
    grep -q '"migrations_applied":[1-9]' "$out.migrate" && ok=0
  result "$name: --migrate_only=true with only MERIDIAN_PG_URI migrates, exits 0" $ok "$out.migrate"

  for port in "$grpc" "$hport" "$mport" "$https"; do
    port_free "$port" || { result "$name: port $port is free" 1; return 0; }
  done
  in_root "$dir" "$secrets" "${image_env[@]}" "${env[@]}" -- "${cmd[@]}" >"$out.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  ok=1
  wait_serving "$pid" "$hport" "$out.log" && ok=0
  result "$name: starts, readiness SERVING within ${start_timeout}s" $ok "$out.log"
  if ((ok != 0)); then
    kill -KILL "$pid" 2>/dev/null || true
    echo "SKIP: $name: the checks of the running service"
    return 0
  fi
  ok=1
  {
    awk '/^(Uid|Gid|Groups|CapEff|CapBnd|NoNewPrivs):/ { $1 = $1; print }' "/proc/$pid/status"
    awk '$5 == "/" { split($6, o, ","); print "Root:", o[1] }' "/proc/$pid/mountinfo"
  } >"$out.status" 2>&1 && [[ $(paste -sd';' "$out.status") == "$want_status" ]] && ok=0
  result "$name: runs as $uid:$uid, no capabilities, no_new_privs, read-only /" $ok "$out.status"
  ok=1
  [[ $(health "$hport" liveness 2>&1) == SERVING ]] && ok=0
  result "$name: liveness SERVING" $ok "$out.log"
  if [[ $name == analytics ]]; then
    ok=1
    curl -sSf --max-time 5 --cacert "$MERIDIAN_TLS_CA" \
      --cert "$MERIDIAN_CERTS_DIR/health-commission.pem" \
      --key "$MERIDIAN_CERTS_DIR/health-commission.key" \
      "https://127.0.0.1:$https/" >"$out.dashboard" 2>&1 && grep -q 'app.js' "$out.dashboard" &&
      ok=0
    result "$name: serves the dashboard from /usr/share/meridian/dashboard" $ok "$out.dashboard"
  fi
  ok=1
  stop_within "$pid" $((grace + 5)) && ok=0
  result "$name: SIGTERM: exits 0 within $((grace + 5))s" $ok "$out.log"
}

# check_dockerfile: what the runtime root below takes from the Dockerfile's
# runtime stage: its base image, its package list and its user.
check_dockerfile() {
  local ok=1
  grep -qE '^ARG DEBIAN_IMAGE=debian:bookworm-slim$' "$dockerfile" &&
    [[ $(stage_lines runtime COPY) == "deploy/docker/runtime-packages.txt "* ]] &&
    [[ $(stage_lines runtime USER) == "$uid:$uid" ]] && ok=0
  result "Dockerfile: runtime stage on debian:bookworm-slim, runtime-packages.txt, USER $uid:$uid" $ok
}

started=$SECONDS
mkdir -p "$work/roots" "$work/secrets"
check_dockerfile
base_root "$work/base"
result "runtime root from $(basename "$packages") ($((SECONDS - started))s)" 0
check_harness
for i in "${!services[@]}"; do
  check_service "${services[$i]}" "$i"
done

if ((failures > 0)); then
  echo "image_check: $failures of $checks checks FAILED ($((SECONDS - started))s)"
  exit 1
fi
echo "image_check: all $checks checks passed ($((SECONDS - started))s)"
