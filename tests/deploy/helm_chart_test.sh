#!/usr/bin/env bash
# The Helm chart, checked without a cluster (tools/meridian chart; ctest
# helm_chart_test):
#   - helm lint --strict with the default and the production-like values;
#   - helm template of both, every object strictly validated against the
#     Kubernetes API types and the operators' CRD schemas (k8s-validate), and
#     the security promises checked on every workload (--policy);
#   - what the design's flows require of the rendered objects (analytics
#     reaches only its database and Kafka and may read only the de-identified
#     topic, consent admits only the services that ask it, ...);
#   - and that the checks catch what they are for: bad values, unknown
#     fields, wrong types, unknown kinds, a weakened workload.
# Needs MERIDIAN_K8S_TOOLS (tools/meridian env), made by tools/meridian deps.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=${MERIDIAN_K8S_TOOLS:?MERIDIAN_K8S_TOOLS is not set: eval "\$(tools/meridian env)"}
helm=$tools/bin/helm
validate=$tools/bin/k8s-validate
chart=$root/helm/meridian
production=$chart/examples/production.yaml
directory=$root/deploy/organisations.textproto
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
export HELM_CACHE_HOME=$work/helm-cache HELM_CONFIG_HOME=$work/helm-config \
  HELM_DATA_HOME=$work/helm-data

crds=()
for f in "$tools"/crds/cnpg/*.yaml "$tools"/crds/strimzi/*.yaml; do
  crds+=(--crd "$f")
done
((${#crds[@]} == 12)) || { echo "FAIL: expected 6 CRD files under $tools/crds"; exit 1; }

# ok NAME COMMAND...: the command must succeed.
ok() {
  local name=$1
  shift
  if "$@" >"$work/out" 2>&1; then
    echo "PASS: $name"
  else
    echo "FAIL: $name"
    sed 's/^/    /' "$work/out" | head -40
    failures=$((failures + 1))
  fi
}

# refused NAME PATTERN COMMAND...: the command must fail, saying PATTERN.
refused() {
  local name=$1 pattern=$2
  shift 2
  if "$@" >"$work/out" 2>&1; then
    echo "FAIL: $name: accepted"
    failures=$((failures + 1))
  elif ! grep -qE -- "$pattern" "$work/out"; then
    echo "FAIL: $name: refused without saying /$pattern/:"
    sed 's/^/    /' "$work/out" | head -20
    failures=$((failures + 1))
  else
    echo "PASS: $name (refused: $(grep -oE -- "$pattern" "$work/out" | head -n 1))"
  fi
}

# render FILE ARGS...: helm template into FILE.
render() {
  local out=$1
  shift
  "$helm" template meridian "$chart" --namespace meridian "$@" >"$out"
}

# mutate IN OUT FROM TO: OUT is IN with the first FROM replaced by TO; FROM
# is a literal, or a Python regular expression after "re:".
mutate() {
  python3 - "$@" <<'EOF'
import re, sys
src, dst, old, new = sys.argv[1:5]
text = open(src).read()
if old.startswith("re:"):
    out, n = re.subn(old[3:], new, text, count=1)
else:
    n = text.count(old)
    out = text.replace(old, new, 1)
if n == 0:
    sys.exit(f"mutate: {old!r} not in {src}")
open(dst, "w").write(out)
EOF
}

ok "helm lint (default values)" "$helm" lint --strict "$chart"
ok "helm lint (production-like values)" "$helm" lint --strict "$chart" -f "$production" \
  --set-file organisations.directory="$directory"
ok "helm template (default values)" render "$work/default.yaml"
ok "helm template (production-like values)" render "$work/production.yaml" -f "$production" \
  --set-file organisations.directory="$directory"
ok "strict validation + policy (default values)" "$validate" --policy \
  --json "$work/default.json" "$work/default.yaml"
ok "strict validation + policy (production-like values)" "$validate" --policy "${crds[@]}" \
  --json "$work/production.json" "$work/production.yaml"

# The design's flows, asserted on the rendered objects.
ok "rendered objects keep the design's flows" python3 - "$work/default.json" \
  "$work/production.json" <<'EOF'
import json, sys
services = ["patient-index", "records", "consent", "prescriptions", "lab-results",
            "deid-stream", "analytics"]
consent_callers = {"records", "prescriptions", "lab-results", "deid-stream"}
errors = []

def check(cond, what):
    if not cond:
        errors.append(what)

for path in sys.argv[1:]:
    objs = json.load(open(path))
    by = {}
    for o in objs:
        by.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    production = "production" in path
    for s in services:
        name = f"meridian-{s}"
        for kind in ["Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler",
                     "PodDisruptionBudget", "ServiceAccount", "NetworkPolicy"]:
            check(name in by.get(kind, {}), f"{path}: no {kind} {name}")
        job = by.get("Job", {}).get(f"{name}-migrate")
        check(job is not None, f"{path}: no migration Job for {s}")
        if job:
            hook = job["metadata"]["annotations"]["helm.sh/hook"]
            want = "post-install,pre-upgrade" if production else "pre-install,pre-upgrade"
            check(hook == want, f"{path}: {s} migration hook is {hook}")
            c = job["spec"]["template"]["spec"]["containers"][0]
            check(c["args"] == ["--migrate_only=true"], f"{path}: {s} Job args {c['args']}")
        dep = by["Deployment"][name]
        c = dep["spec"]["template"]["spec"]["containers"][0]
        check(c["livenessProbe"]["grpc"].get("service") == "liveness",
              f"{path}: {s} liveness probe does not ask for 'liveness'")
        check("service" not in c["readinessProbe"]["grpc"],
              f"{path}: {s} readiness probe must ask for the overall status")
        env = by["ConfigMap"][name]["data"]
        check(env["MERIDIAN_KAFKA_CREATE_TOPICS"] == "false",
              f"{path}: {s} creates topics")
        check(("MERIDIAN_CONSENT_GRPC_ADDR" in env) == (s in consent_callers),
              f"{path}: {s} consent address")
        check("PGPASSWORD" not in json.dumps(env), f"{path}: {s} password in a ConfigMap")
        check(("MERIDIAN_TLS_CRL_DIR" in env) == production, f"{path}: {s} CRL directory")
        mounts = [m["mountPath"] for m in c["volumeMounts"]]
        check(("/etc/meridian/crl" in mounts) == production, f"{path}: {s} CRL mount")
        np = by["NetworkPolicy"][name]["spec"]
        egress_ports = sorted(p["port"] for rule in np["egress"] for p in rule["ports"])
        want = [53, 53, 5432, 9093] + ([50051] if s in consent_callers else [])
        check(egress_ports == sorted(want), f"{path}: {s} egress ports {egress_ports}")
        ingress_ports = sorted(str(p["port"]) for rule in np["ingress"] for p in rule["ports"])
        # consent: the institutions' rule and the calling services' rule.
        want = ["health", "metrics"] + {"analytics": ["grpc", "https"],
                                        "consent": ["grpc", "grpc"],
                                        "deid-stream": []}.get(s, ["grpc"])
        check(ingress_ports == sorted(want), f"{path}: {s} ingress ports {ingress_ports}")
        if s == "consent":
            callers = sorted(r["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                             for rule in np["ingress"] for r in rule.get("from", [])
                             if "podSelector" in r)
            check(callers == sorted(consent_callers), f"{path}: consent callers {callers}")
    check("meridian-default-deny" in by["NetworkPolicy"], f"{path}: no default deny")
    if production:
        users = by["KafkaUser"]
        acl = {(a["resource"]["type"], a["resource"]["name"], tuple(a["operations"]))
               for a in users["meridian-analytics"]["spec"]["authorization"]["acls"]}
        check(acl == {("topic", "meridian.deid.v1", ("Read", "Describe")),
                      ("topic", "meridian.deid.v1.dlt", ("Write", "Describe")),
                      ("group", "analytics", ("Read",))},
              f"{path}: analytics ACLs {sorted(acl)}")
        readers = sorted(n for n, u in users.items()
                         for a in u["spec"]["authorization"]["acls"]
                         if a["resource"]["name"] == "meridian.deid.v1" and
                         "Read" in a["operations"])
        check(readers == ["meridian-analytics"], f"{path}: deid topic readers {readers}")
        writers = sorted(n for n, u in users.items()
                         for a in u["spec"]["authorization"]["acls"]
                         if a["resource"]["name"] == "meridian.deid.v1" and
                         "Write" in a["operations"])
        check(writers == ["meridian-deid-stream"], f"{path}: deid topic writers {writers}")
        topics = sorted(t["spec"]["topicName"] for t in by["KafkaTopic"].values())
        check(len(topics) == 14, f"{path}: topics {topics}")
        for s in services:
            cert = by["Certificate"][f"meridian-{s}"]["spec"]
            check(cert["uris"] == [f"meridian:org:svc-{s}"], f"{path}: {s} certificate URI")
            check(cert["secretName"] == f"meridian-{s}-tls", f"{path}: {s} certificate secret")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
EOF

# values.schema.json rejects what it does not know.
refused "values: unknown top-level key" "additional properties|additionalProperties" \
  render "$work/x.yaml" --set replicaCount=3
refused "values: misspelt service setting" "replica" \
  render "$work/x.yaml" --set services.records.replica=3
refused "values: a service Meridian does not have" "radiology" \
  render "$work/x.yaml" --set services.radiology.enabled=true
refused "values: wrong type" "port" render "$work/x.yaml" --set-string postgresql.port=five
refused "values: sslmode outside its enum" "sslmode" \
  render "$work/x.yaml" --set postgresql.sslmode=prefer
refused "values: memory limit missing" "memory" \
  render "$work/x.yaml" --set services.analytics.resources.limits.memory=null

# The validator refuses what the API server would.
mutate "$work/default.yaml" "$work/m1.yaml" "enableServiceLinks: false" "enableServiceLink: false"
refused "unknown field in a Deployment" 'unknown field "spec.template.spec.enableServiceLink"' \
  "$validate" "$work/m1.yaml"
mutate "$work/default.yaml" "$work/m2.yaml" "terminationGracePeriodSeconds: 30" \
  "terminationGracePeriodSeconds: thirty"
refused "wrong type in a Deployment" "cannot unmarshal string" "$validate" "$work/m2.yaml"
mutate "$work/default.yaml" "$work/m3.yaml" "kind: PodDisruptionBudget" "kind: PodDisruptionBudgets"
refused "unknown kind" "neither a built-in kind" "$validate" "$work/m3.yaml"
mutate "$work/production.yaml" "$work/m4.yaml" "    type: simple
    acls:" "    type: simple
    superUser: true
    acls:"
refused "unknown field in a KafkaUser" 'unknown field "spec.authorization.superUser"' \
  "$validate" "${crds[@]}" "$work/m4.yaml"
mutate "$work/production.yaml" "$work/m5.yaml" "  instances: 3" "  instances: three"
refused "wrong type in a CloudNativePG Cluster" "spec.instances" \
  "$validate" "${crds[@]}" "$work/m5.yaml"
mutate "$work/production.yaml" "$work/m6.yaml" "  renewBefore: 720h" "  renewBefore: 720h
  renewEvery: 24h"
refused "unknown field in a Certificate" 'unknown field "spec.renewEvery"' \
  "$validate" "${crds[@]}" "$work/m6.yaml"
mutate "$work/production.yaml" "$work/m7.yaml" "  partitions: 12" "  partitions: 0"
refused "KafkaTopic outside its schema" "spec.partitions" "$validate" "${crds[@]}" "$work/m7.yaml"
refused "a custom resource without its CRD" "neither a built-in kind" \
  "$validate" "$work/production.yaml"

# The policy check refuses a weakened workload.
mutate "$work/default.yaml" "$work/p1.yaml" "readOnlyRootFilesystem: true" \
  "readOnlyRootFilesystem: false"
refused "policy: writable root filesystem" "root filesystem is writable" \
  "$validate" --policy "$work/p1.yaml"
# The first Deployment without its liveness probe (the block removed).
mutate "$work/default.yaml" "$work/p2.yaml" \
  're:\n {10}livenessProbe:\n(?: {12}.*\n)+' $'\n'
refused "policy: no liveness probe" "no gRPC liveness probe" \
  "$validate" --policy "$work/p2.yaml"
mutate "$work/default.yaml" "$work/p3.yaml" "            - ALL" "            - NET_RAW"
refused "policy: capabilities not dropped" "capabilities are not exactly drop" \
  "$validate" --policy "$work/p3.yaml"
render "$work/p4.yaml" --set networkPolicy.enabled=false
refused "policy: no NetworkPolicies" "no deny-by-default NetworkPolicy" \
  "$validate" --policy "$work/p4.yaml"

if ((failures > 0)); then
  echo "helm_chart_test: $failures check(s) FAILED"
  exit 1
fi
echo "helm_chart_test: all checks passed"
