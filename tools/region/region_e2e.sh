#!/usr/bin/env bash
# End to end against the running platform (tools/meridian up, the
# environment from tools/meridian env): a region of 150 patients runs every
# kind of step with no unexpected outcome, then a short load reports latency
# percentiles for the RPCs it used, again with no unexpected outcome. Each run
# has its own tag (local IDs and people), so runs do not meet each other.
#   region_e2e.sh MERIDIAN_REGION_BINARY
set -euo pipefail
region=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run="e$(date +%s)$$"
run=${run:0:15}

# Bad settings stop it before any call, all of them named at once.
rc=0
"$region" load --rate=0 --wait=0s --run='no spaces' >/dev/null 2>"$work/bad.txt" || rc=$?
for name in MERIDIAN_RATE MERIDIAN_WAIT MERIDIAN_RUN; do
  if ((rc != 2)) || ! grep -q "$name" "$work/bad.txt"; then
    echo "FAILED: bad settings: exit $rc, $name not named:"
    cat "$work/bad.txt"
    exit 1
  fi
done

"$region" simulate --patients=150 --seed="$$" --run="${run}s" >"$work/simulate.json"
python3 - "$work/simulate.json" <<'EOF'
import json, sys
out = json.load(open(sys.argv[1]))
problems = []
if out["outcomes"]["unexpected_error"] != 0:
    problems.append("unexpected errors: %s" % out["unexpected_errors"])
for kind, c in out["kinds"].items():
    if c["ok"] + c["expected_refusal"] + c["indeterminate"] == 0:
        problems.append("no successful step of kind " + kind)
if out["consent"]["reads_withheld"] == 0:
    problems.append("no read withheld after a refusal")
if out["duplicates"]["registered"] == 0:
    problems.append("no duplicate registration")
print("simulate: %d steps in %ss, %s" % (out["steps"], out["seconds"], out["outcomes"]))
if problems:
    print("FAILED: " + "; ".join(problems))
    sys.exit(1)
EOF

"$region" load --rate=40 --duration=5s --patients=60 --run="${run}l" >"$work/load.json"
python3 - "$work/load.json" <<'EOF'
import json, sys
out = json.load(open(sys.argv[1]))
problems = []
if out["outcomes"]["unexpected_error"] != 0 or out["setup"]["unexpected_error"] != 0:
    problems.append("unexpected errors: %s" % out["unexpected_errors"])
measured = {name: r for name, r in out["rpc"].items()
            if r["count"] > 0 and r["p50_ms"] > 0 and r["p99_ms"] >= r["p50_ms"]}
if len(measured) < 5:
    problems.append("percentiles for %d RPCs, expected at least 5" % len(measured))
if out["ops"]["completed"] == 0:
    problems.append("no operation completed")
print("load: %.1f ops/s (target %s), backlog %d, %d RPCs measured" %
      (float(out["achieved_rate"]), out["target_rate"], out["backlog"], len(measured)))
for name, r in sorted(measured.items()):
    print("  %-36s n=%-5d p50 %7.2f ms  p99 %7.2f ms" % (name, r["count"], r["p50_ms"], r["p99_ms"]))
if problems:
    print("FAILED: " + "; ".join(problems))
    sys.exit(1)
EOF
echo "2 passed, 0 failed"
