# shellcheck shell=bash
# Sanitizer reports in the components' logs ($STATE/logs/<name>.log), for
# `tools/meridian test --sanitize=...`: a service stopped by a report, or
# reporting while it shuts down, fails no ctest entry, so the run scans the
# part of every log written since it started. Test: tools/sanitizers/logs_test.sh.

# Where each log ended when mark_logs ran (bytes).
declare -A LOG_MARKS=()

# mark_logs: note where every log ends now.
mark_logs() {
  local f
  for f in "$STATE"/logs/*.log; do
    [[ -f $f ]] && LOG_MARKS[$f]=$(stat -c %s "$f")
  done
  return 0
}

# sanitizer_findings: the components (log names) whose log got an
# AddressSanitizer, LeakSanitizer, UBSan or ThreadSanitizer report since
# mark_logs, space-separated.
sanitizer_findings() {
  local f found=()
  for f in "$STATE"/logs/*.log; do
    [[ -f $f ]] || continue
    if tail -c +"$((${LOG_MARKS[$f]:-0} + 1))" "$f" |
        grep -qE 'WARNING: ThreadSanitizer|ERROR: (Address|Leak)Sanitizer|runtime error:'; then
      found+=("$(basename "$f" .log)")
    fi
  done
  echo "${found[*]}"
}
