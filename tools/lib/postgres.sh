# shellcheck shell=bash
# PostgreSQL 15 for development and CI: a private cluster in $STATE/pg,
# listening on 127.0.0.1:$PG_PORT only, run as a non-root user.
#
# As root the server runs as the `postgres` system user. When that user cannot
# reach $STATE (e.g. the clone lives under /root, mode 700) the data directory
# is /var/tmp/meridian-<hash of ROOT>/pg and $STATE/pg is a symlink to it.
# As any other user the server runs as that user.

PG_BIN=/usr/lib/postgresql/15/bin
PG_CONF_SNIPPET="$ROOT/deploy/postgres/meridian.conf"
# The unix socket goes to /tmp (short path, writable by every user).
PG_SOCKET_DIR=/tmp

# pg_user: the account the server runs as.
pg_user() {
  if is_root; then
    printf 'postgres\n'
  else
    id -un
  fi
}

# pg_as COMMAND...: run COMMAND as pg_user, from / so that an unreadable
# current directory does not matter.
pg_as() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# pg_data_dir: print the real data directory (following the $STATE/pg
# symlink); fail when none has been set up yet.
pg_data_dir() {
  if [[ -L $STATE/pg ]]; then
    readlink -m -- "$STATE/pg"
  elif [[ -d $STATE/pg ]]; then
    printf '%s\n' "$STATE/pg"
  else
    return 1
  fi
}

# pg_setup_dir: create the data directory (empty, owned by pg_user, mode 700),
# choosing $STATE/pg or the /var/tmp fallback the first time.
pg_setup_dir() {
  local link="$STATE/pg" user fallback
  user=$(pg_user)
  if [[ -L $link ]]; then
    # Fallback chosen earlier; recreate its target if it vanished.
    fallback=$(readlink -m -- "$link")
    if [[ ! -d $fallback ]]; then
      mkdir -p "$fallback"
      chmod 755 "$(dirname "$fallback")"
      chown "$user": "$fallback"
      chmod 700 "$fallback"
    fi
    return 0
  fi
  [[ -d $link ]] && return 0

  mkdir -p "$link"
  chown "$user": "$link"
  chmod 700 "$link"
  if pg_as test -w "$link"; then
    return 0
  fi
  rmdir "$link"
  fallback="/var/tmp/meridian-$(root_hash)/pg"
  if [[ -e $fallback ]]; then
    # Left by an earlier clone at the same path (its .local is gone): start
    # afresh, unless a server still runs on it.
    if pg_as "$PG_BIN/pg_ctl" -D "$fallback" status >/dev/null 2>&1; then
      die "postgres: a server still runs on $fallback (stop it: $PG_BIN/pg_ctl -D $fallback stop, as $user)"
    fi
    log "postgres: removing the stale data directory $fallback"
    rm -rf "$fallback"
  fi
  mkdir -p "$fallback"
  chmod 755 "$(dirname "$fallback")"
  chown "$user": "$fallback"
  chmod 700 "$fallback"
  ln -s "$fallback" "$link"
  log "postgres: user $user cannot reach $STATE: data directory is $fallback ($link links to it)"
}

# pg_running: true when the server of our data directory is running.
pg_running() {
  local data
  [[ -x $PG_BIN/pg_ctl ]] || return 1
  data=$(pg_data_dir) || return 1
  [[ -f $data/PG_VERSION ]] || return 1
  pg_as "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}

# pg_pid: the postmaster pid (first line of postmaster.pid) when running.
pg_pid() {
  local data
  pg_running || return 1
  data=$(pg_data_dir) || return 1
  head -n 1 "$data/postmaster.pid"
}

# pg_locale: C.UTF-8 when the system has it, C otherwise.
pg_locale() {
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
    printf 'C.UTF-8\n'
  else
    printf 'C\n'
  fi
}

# pg_initdb DATA: create the cluster once (trust auth, superuser postgres) and
# make postgresql.conf include meridian.conf.
pg_initdb() {
  local data=$1 locale
  locale=$(pg_locale)
  log "postgres: initdb in $data (locale $locale)"
  pg_as "$PG_BIN/initdb" -D "$data" --auth=trust -U postgres --encoding=UTF8 \
    --locale="$locale" >>"$(log_file postgres)" 2>&1 ||
    {
      show_log_tail postgres
      die "postgres: initdb failed"
    }
  printf "\n# Added by tools/meridian\ninclude_if_exists = 'meridian.conf'\n" >>"$data/postgresql.conf"
}

# pg_write_conf DATA: (re)write DATA/meridian.conf from deploy/postgres plus
# the port and socket directory of this run.
pg_write_conf() {
  local data=$1
  {
    cat "$PG_CONF_SNIPPET"
    printf '\n# Written by tools/meridian at start\n'
    printf "port = %s\n" "$PG_PORT"
    printf "unix_socket_directories = '%s'\n" "$PG_SOCKET_DIR"
  } >"$data/meridian.conf"
  chown "$(pg_user)": "$data/meridian.conf"
}

# pg_psql ARGS...: psql as the postgres superuser over TCP.
pg_psql() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
}

# pg_bootstrap: create role and database `meridian` when missing.
pg_bootstrap() {
  if [[ $(pg_psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'meridian'") != 1 ]]; then
    log "postgres: creating role meridian"
    pg_psql -c "CREATE ROLE meridian LOGIN SUPERUSER"
  fi
  if [[ $(pg_psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'meridian'") != 1 ]]; then
    log "postgres: creating database meridian"
    pg_psql -c "CREATE DATABASE meridian OWNER meridian"
  fi
}

# pg_start: set up, initdb once, start with pg_ctl -w, bootstrap.
pg_start() {
  local data logf
  [[ -x $PG_BIN/pg_ctl ]] || die "PostgreSQL 15 is not installed: run tools/meridian deps"
  ensure_state_dirs
  if pg_running; then
    log "postgres: already running (pid $(pg_pid), port $PG_PORT)"
    pg_bootstrap
    return 0
  fi
  if port_open "$PG_PORT"; then
    die "postgres: port $PG_PORT is already in use by another process (see: ss -ltnp 'sport = :$PG_PORT')"
  fi
  pg_setup_dir
  data=$(pg_data_dir)
  if [[ ! -f $data/PG_VERSION ]]; then
    pg_initdb "$data"
  fi
  pg_write_conf "$data"
  logf=$(log_file postgres)
  log "postgres: starting on 127.0.0.1:$PG_PORT (data $data, log $logf)"
  # No -l: the server inherits this log file, opened here by the caller, so
  # the postgres user needs no access to $STATE/logs.
  if ! pg_as "$PG_BIN/pg_ctl" -D "$data" -w -t 60 start >>"$logf" 2>&1 </dev/null; then
    show_log_tail postgres
    die "postgres: failed to start"
  fi
  pg_bootstrap
}

# pg_stop [--kill]: pg_ctl stop -m fast (-m immediate with --kill).
pg_stop() {
  local mode=fast data
  [[ ${1:-} == --kill ]] && mode=immediate
  if ! pg_running; then
    log "postgres is not running"
    return 0
  fi
  data=$(pg_data_dir)
  log "postgres: stopping (-m $mode)"
  pg_as "$PG_BIN/pg_ctl" -D "$data" -m "$mode" -w -t 60 stop >>"$(log_file postgres)" 2>&1 ||
    {
      show_log_tail postgres
      die "postgres: pg_ctl stop failed"
    }
}
