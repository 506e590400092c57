#!/usr/bin/env bash
# tools/meridian import fhir against the running platform: every official
# FHIR R4 example file (../shared/data/fhir-examples) imported at once as
# city-hosp-1, over mTLS into the patient index, records, lab results and
# consent. Asserts the report: every resource accounted for, the patients,
# documents, lab reports and consents accepted, the only refusals the ones
# the examples deserve (no start time, no collection time), nothing in
# error, no personal data in the report; the same again is accepted again
# (idempotent); a broken file is an error at its line and column.
#   fhir_import_e2e.sh IMPORT_BINARY EXAMPLES_DIR
set -euo pipefail
import=$1 examples=$2
: "${MERIDIAN_CERTS_DIR:?eval \"\$(tools/meridian env)\" first}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {
  "$import" --as=city-hosp-1 --organisation=Organization/f001=county-hosp-east "$@"
}

rc=0
run "$examples"/*.json >"$work/first.json" || rc=$?
((rc == 1)) || { echo "FAIL: exit $rc, want 1 (three refusals)"; cat "$work/first.json"; exit 1; }
rc=0
run "$examples"/*.json >"$work/second.json" || rc=$?
((rc == 1)) || { echo "FAIL: second run exit $rc, want 1"; cat "$work/second.json"; exit 1; }

python3 - "$work/first.json" "$work/second.json" <<'EOF'
import json, sys
first, second = (json.load(open(p)) for p in sys.argv[1:3])
errors = []
def check(cond, what):
    if not cond:
        errors.append(what)
for name, r in (("first", first), ("second", second)):
    calls = r["calls"]
    sent = sum(sum(v.values()) for v in calls.values())
    check(sent + len(r["merged"]) + len(r["not_taken"]) + len(r["errors"]) == r["resources"],
          f"{name}: resources not all accounted for")
    check(r["resources"] == 61, f"{name}: {r['resources']} resources")
    check(r["errors"] == [], f"{name}: errors {r['errors']}")
    check(calls.get("RegisterPatient") == {"accepted": 28}, f"{name}: patients {calls}")
    check(calls.get("ImportFhirConsent") == {"accepted": 2}, f"{name}: consents {calls}")
    check(calls.get("PushDocument") == {"accepted": 1}, f"{name}: documents {calls}")
    check(calls.get("PushReport") == {"accepted": 2, "rejected": 1}, f"{name}: labs {calls}")
    check(calls.get("PushEncounter") == {"accepted": 1, "rejected": 2}, f"{name}: encounters")
    refused = sorted((x["at"], x["code"], x["message"]) for x in r["rejected"])
    check(refused == [
        ("Bundle-father.json entry 4 (Observation)", "INVALID_ARGUMENT",
         "results[0].collected_at: required"),
        ("Encounter-example.json (Encounter/example)", "INVALID_ARGUMENT",
         "encounter.start_time: required"),
        ("Encounter-f001.json (Encounter/f001)", "INVALID_ARGUMENT",
         "encounter.start_time: required")], f"{name}: refused {refused}")
    types = r["not_taken_by_type"]
    for t in ["AuditEvent", "Linkage", "Person", "MessageHeader", "Composition",
              "MedicationStatement", "AllergyIntolerance", "OperationOutcome", "Parameters"]:
        check(types.get(t, 0) >= 1, f"{name}: {t} not reported as not taken")
    check(types.get("MedicationRequest") == 3, f"{name}: MedicationRequests {types}")
    # No personal data in the report: positions, codes and reasons only.
    text = json.dumps(r)
    for value in ["Chalmers", "1974-12-25", "5555 6473", "peter", "123456"]:
        check(value not in text, f"{name}: the report contains a patient's {value!r}")
for e in errors:
    print("FAIL:", e)
sys.exit(1 if errors else 0)
EOF
echo "PASS: all 25 example files imported twice, every resource accounted for"

# A broken file: an error naming the file, line and column; nothing sent.
printf '{\n  "resourceType": "Patient",\n  "id": \n}\n' >"$work/broken.json"
rc=0
run "$work/broken.json" >"$work/broken.out" || rc=$?
python3 - "$work/broken.out" "$rc" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
ok = (sys.argv[2] == "1" and r["calls"] == {} and len(r["errors"]) == 1 and
      r["errors"][0]["at"] == "broken.json" and "line 4, column 1" in r["errors"][0]["error"])
print("PASS: a broken file is an error at its line and column" if ok else f"FAIL: {r}")
sys.exit(0 if ok else 1)
EOF
