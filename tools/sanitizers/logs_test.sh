#!/usr/bin/env bash
# tools/lib/sanitizers.sh: a report written to a component's log after
# mark_logs is found, one written before is not, and a log that appears
# afterwards is read whole. (ctest sanitizer_logs_test)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=$(mktemp -d)
trap 'rm -rf "$STATE"' EXIT
# shellcheck source=../lib/sanitizers.sh
source "$root/tools/lib/sanitizers.sh"
failures=0
expect() {  # expect WANT: sanitizer_findings prints WANT
  local got
  got=$(sanitizer_findings)
  if [[ $got != "$1" ]]; then
    echo "FAIL: found '$got', want '$1'" >&2
    failures=$((failures + 1))
  fi
}

mkdir -p "$STATE/logs"
echo "==1==ERROR: AddressSanitizer: heap-use-after-free (an earlier run)" >"$STATE/logs/records.log"
echo '{"level":"info"}' >"$STATE/logs/consent.log"
mark_logs
expect ""
echo '{"level":"info"}' >>"$STATE/logs/records.log"
expect ""
echo "WARNING: ThreadSanitizer: data race (pid=7)" >>"$STATE/logs/consent.log"
expect "consent"
echo "x.cc:3:5: runtime error: signed integer overflow" >"$STATE/logs/analytics.log"
expect "analytics consent"
echo "==9==ERROR: LeakSanitizer: detected memory leaks" >>"$STATE/logs/records.log"
expect "analytics consent records"

((failures == 0)) && echo "sanitizer_logs_test: passed"
((failures == 0))
