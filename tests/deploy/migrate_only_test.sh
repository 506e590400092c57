#!/usr/bin/env bash
# Every service binary as the chart's migration Job runs it
# (--migrate_only=true, nothing set but MERIDIAN_PG_URI) against a new,
# empty database of the running PostgreSQL: it applies its migrations and
# exits 0; again, it applies none; two at once both succeed (advisory lock);
# without PG_URI it names the setting (exit 2); with PostgreSQL unreachable
# it fails (exit 1) without a crash. --help lists the settings (exit 0).
#   migrate_only_test.sh SERVICE_BINARY...
set -euo pipefail
: "${MERIDIAN_PG_URI:?eval \"\$(tools/meridian env)\" first}"
db="meridian_migrate_test_$$"
admin_uri=$MERIDIAN_PG_URI
scratch_uri="${MERIDIAN_PG_URI%/*}/$db"
failures=0
work=$(mktemp -d)
cleanup() {
  psql -q "$admin_uri" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q -v ON_ERROR_STOP=1 "$admin_uri" -c "CREATE DATABASE $db" >/dev/null

# expect NAME WANT_RC PATTERN COMMAND...: exit code WANT_RC, output matching PATTERN.
expect() {
  local name=$1 want=$2 pattern=$3 rc=0
  shift 3
  "$@" >"$work/out" 2>&1 || rc=$?
  if ((rc == want)) && grep -qE -- "$pattern" "$work/out"; then
    echo "PASS: $name"
  else
    echo "FAIL: $name: exit $rc (want $want), output:"
    sed 's/^/    /' "$work/out" | head -10
    failures=$((failures + 1))
  fi
}

# alone ARGS...: the binary with a clean environment (the Job's).
alone() { env -i PATH=/usr/bin:/bin "$@"; }

for bin in "$@"; do
  name=$(basename "$bin")
  expect "$name --help" 0 "MERIDIAN_PG_URI \(required\)" alone "$bin" --help
  expect "$name migrates an empty database" 0 '"migrations_applied":[1-9]' \
    alone MERIDIAN_PG_URI="$scratch_uri" "$bin" --migrate_only=true
  expect "$name migrates again: nothing to do" 0 '"migrations_applied":0' \
    alone MERIDIAN_PG_URI="$scratch_uri" "$bin" --migrate_only=true
  expect "$name without PG_URI names the setting" 2 "MERIDIAN_PG_URI: required" \
    alone "$bin" --migrate_only=true
  expect "$name with PostgreSQL unreachable" 1 '"level":"error"' \
    alone MERIDIAN_PG_URI="postgresql://meridian@127.0.0.1:1/x?connect_timeout=2" \
    "$bin" --migrate_only=true
done

# Two replicas' Jobs at once on a fresh schema: both succeed, one migrates.
psql -q "$admin_uri" -c "DROP DATABASE $db" >/dev/null
psql -q "$admin_uri" -c "CREATE DATABASE $db" >/dev/null
first=$1
env -i MERIDIAN_PG_URI="$scratch_uri" "$first" --migrate_only=true >"$work/a" 2>&1 &
a=$!
env -i MERIDIAN_PG_URI="$scratch_uri" "$first" --migrate_only=true >"$work/b" 2>&1 &
b=$!
rc_a=0 rc_b=0
wait "$a" || rc_a=$?
wait "$b" || rc_b=$?
applied=$(cat "$work/a" "$work/b" | grep -o '"migrations_applied":[0-9]*' | cut -d: -f2 |
  sort -n | tr '\n' ' ')
if ((rc_a == 0 && rc_b == 0)) && [[ $applied =~ ^0\ [1-9][0-9]*\ $ ]]; then
  echo "PASS: $(basename "$first") twice at once: both exit 0, migrations applied once ($applied)"
else
  echo "FAIL: $(basename "$first") twice at once: exits $rc_a $rc_b, applied '$applied'"
  cat "$work/a" "$work/b"
  failures=$((failures + 1))
fi

if ((failures > 0)); then
  echo "migrate_only_test: $failures FAILED"
  exit 1
fi
echo "migrate_only_test: all passed"
