#!/usr/bin/env bash
# End to end against the running platform (tools/meridian up): institutions
# register synthetic patients over mTLS through the real patient-index
# service, its metrics count them, and the retraining command learns weights
# from what was registered.
#   patient_index_e2e.sh LOAD_BINARY PATIENT_INDEX_BINARY GEN_SCRIPT
set -euo pipefail
load=$1 service=$2 gen=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 "$gen" --count 400 --dup-rate 0.3 --seed "$$" --out "$work/p.csv"
rows=$(($(wc -l < "$work/p.csv") - 1))
"$load" --csv="$work/p.csv" --concurrency=4 > "$work/load.json"
cat "$work/load.json"
grep -q "\"registrations\":$rows,\"errors\":0" "$work/load.json" || {
  echo "FAILED: expected $rows registrations without errors"; exit 1; }

# The service's own metrics saw them (port from deploy/services.tsv).
metrics_port=$(awk '$1 == "patient-index" { print $3 }' "$MERIDIAN_ROOT/deploy/services.tsv")
# Read whole into a variable, then searched: a reader that stops early (grep
# -q) would break the fetch's pipe, and pipefail would fail the test.
metrics() {
  curl -s "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null ||
    python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:$metrics_port/metrics').read().decode())"
}
m=$(metrics)
grep -q 'meridian_rpc_requests_total{code="OK",method="/meridian.patient.v1.PatientIndex/RegisterPatient"' <<<"$m" || {
  echo "FAILED: RegisterPatient not counted in /metrics"; exit 1; }

# The candidate cache's counters are exported (refreshed every health tick):
# the registrations above looked candidates up, so some lookups are counted.
lookups=0
for _ in $(seq 1 20); do
  m=$(metrics)
  lookups=$(awk '/^meridian_patient_candidate_cache_lookups_total\{/ { n += $2 } END { print n + 0 }' <<<"$m")
  [[ ${lookups%.*} -gt 0 ]] && break
  sleep 0.5
done
[[ ${lookups%.*} -gt 0 ]] || { echo "FAILED: no candidate cache lookups in /metrics"; exit 1; }
grep -q '^meridian_patient_candidate_cache_entries{state="capacity"} [1-9]' <<<"$m" || {
  echo "FAILED: candidate cache capacity not in /metrics"; exit 1; }

"$service" --train=true > "$work/train.txt"
head -3 "$work/train.txt"
trained=$(sed -n 's/^trained on \([0-9]*\) records.*/\1/p' "$work/train.txt")
[[ -n $trained && $trained -ge $rows ]] || { echo "FAILED: trained on '$trained' records"; exit 1; }
grep -q '^given_name .*same pinyin or very close' "$work/train.txt" || {
  echo "FAILED: no weights printed"; exit 1; }
echo "1 passed, 0 failed"
