#!/usr/bin/env bash
# Fault injection across the running platform (tools/meridian up), with real
# processes: while the living region (tools/region, `simulate`) pushes its
# patients' journeys into every service, each service, the Kafka broker and
# PostgreSQL are killed in turn with SIGKILL and started again. Afterwards:
#
#   - every step the region took was acknowledged as the platform should
#     answer it (the region retries, with the same idempotent request, what
#     it could not know the outcome of: UNAVAILABLE, DEADLINE_EXCEEDED,
#     UNKNOWN);
#   - every acknowledged write is stored exactly once: the run's rows in
#     each service's tables equal what the region was told it wrote;
#   - every committed event left its outbox (nothing above any watermark);
#   - no consumer dead-lettered anything;
#   - the analytics service, downstream of two Kafka hops and the
#     de-identified stream, counts the run's prescriptions and lab results
#     exactly once (its counts grow by the recount from source) and its
#     encounters within what consent may withhold.
#
# Prints one JSON object (the figures RELIABILITY.md reports) and exits
# non-zero if any check fails.
#
#   tests/fault/fault_suite.sh [--patients N] [--gap SECONDS] [--seed S] [--out DIR]
#                              [--region BIN] [--health BIN] [--faults process|network]
#
# --faults network (root only): the region runs in its own network namespace
# and reaches the services over a veth pair, through Toxiproxy (one TCP proxy
# per service on the host's end of the link), and the faults are on that
# path instead: a link throttled to 64 kbit/s with a 16 kB queue (tc tbf:
# long queues and dropped packets), 200 ms ± 50 ms of latency each way
# (Toxiproxy's latency toxic: this kernel has no netem), random loss of a
# fifth of the packets each way (nftables), a partition (the link down), and
# a flapping link (down and up three times).
# The checks are the same.
#
# Needs a built tree (tools/meridian build; ctest passes the binaries) and
# runs `tools/meridian up` itself. Leaves the platform running and healthy.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CTL="$ROOT/tools/meridian"
PATIENTS=300
GAP=4
SEED=$((RANDOM % 1000 + 1))
OUT=""
REGION=""
HEALTH=""
FAULTS=process
while [[ $# -gt 0 ]]; do
  case $1 in
    --patients) PATIENTS=$2; shift 2 ;;
    --gap) GAP=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --region) REGION=$2; shift 2 ;;
    --health) HEALTH=$2; shift 2 ;;
    --faults) FAULTS=$2; shift 2 ;;
    *) echo "fault: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

"$CTL" up >&2
eval "$("$CTL" env)"
REGION=${REGION:-$ROOT/build/tools/region/meridian-region}
HEALTH=${HEALTH:-$ROOT/build/tools/health/meridian_health}
for bin in "$REGION" "$HEALTH"; do
  [[ -x $bin ]] || { echo "fault: $bin is not built (tools/meridian build)" >&2; exit 2; }
done
STATE="$ROOT/.local"
OUT=${OUT:-$STATE/fault}
mkdir -p "$OUT"
RUN="f$(date +%s)$((RANDOM % 10))"
TARGETS=(patient-index records consent prescriptions lab-results deid-stream analytics kafka
         postgres)
# The services the region calls (network faults: each through its proxy across
# the veth link).
# Named as in `tools/meridian env` (MERIDIAN_<NAME>_GRPC_ADDR).
GRPC_SERVICES=(PATIENT_INDEX RECORDS CONSENT PRESCRIPTIONS LAB_RESULTS)
NETNS=meridian-netfault
HOST_IF=mnf0 NS_IF=mnf1 HOST_IP=10.231.0.1 NS_IP=10.231.0.2
# Toxiproxy's API, and its proxy for a service's port P listens on
# HOST_IP:P+PROXY_OFFSET (below the ephemeral range, like every local port).
TOXIPROXY_API=127.0.0.1:28474 PROXY_OFFSET=1000
case $FAULTS in
  process) ;;
  network)
    TARGETS=(throttle latency loss partition flap)
    if [[ $(id -u) != 0 ]] || ! command -v ip >/dev/null || ! command -v tc >/dev/null ||
        ! command -v nft >/dev/null || ! command -v curl >/dev/null; then
      echo "fault: --faults network needs root, ip and tc (iproute2), nft (nftables) and curl" >&2
      exit 2
    fi
    [[ -x ${MERIDIAN_TOXIPROXY:-} ]] ||
      { echo "fault: no toxiproxy at '${MERIDIAN_TOXIPROXY:-}': run tools/meridian deps" >&2; exit 2; }
    ;;
  *) echo "fault: --faults is process or network" >&2; exit 2 ;;
esac

log() { echo "fault: $(date +%T) $*" >&2; }
sql() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$MERIDIAN_PG_URI" -c "$1"; }
now() { date +%s.%N; }

# Analytics counts of the measures the recount covers (analytics.v1.Measure:
# 1 encounters, 3 prescriptions, 5 lab results).
analytics_counts() {
  sql "SELECT coalesce(sum(n) FILTER (WHERE measure = 1), 0) || ' ' ||
              coalesce(sum(n) FILTER (WHERE measure = 3), 0) || ' ' ||
              coalesce(sum(n) FILTER (WHERE measure = 5), 0) FROM analytics.fact"
}

# pending_events: events above each relay's watermark, over every outbox.
pending_events() {
  sql "SELECT
    (SELECT coalesce(sum(events), 0) FROM patient_index.outbox
       WHERE id > (SELECT published_upto FROM patient_index.outbox_relay)) +
    (SELECT coalesce(sum(events), 0) FROM records.outbox
       WHERE id > (SELECT published_upto FROM records.outbox_relay)) +
    (SELECT coalesce(sum(events), 0) FROM consent.outbox
       WHERE id > (SELECT published_upto FROM consent.outbox_relay)) +
    (SELECT coalesce(sum(events), 0) FROM prescriptions.outbox
       WHERE id > (SELECT published_upto FROM prescriptions.outbox_relay)) +
    (SELECT coalesce(sum(events), 0) FROM lab_results.outbox
       WHERE id > (SELECT published_upto FROM lab_results.outbox_relay))"
}

# dead_letters: messages in every dead-letter topic (a consumer gave up).
dead_letters() {
  "$CTL" kafka-offsets '.*\.dlt' 2>/dev/null | awk -F: '{ n += $3 } END { print n + 0 }'
}

# hard_kill NAME: SIGKILL the component, as a crash would (PostgreSQL: the
# postmaster and every backend at once).
hard_kill() {
  local name=$1 pid pids
  case $name in
    postgres)
      pid=$(head -n 1 "$(readlink -m "$STATE/pg")/postmaster.pid")
      pids="$pid $(pgrep -P "$pid" | tr '\n' ' ')"
      # shellcheck disable=SC2086 # a list of pids
      kill -9 $pids
      ;;
    *)
      pid=$(<"$STATE/run/$name.pid")
      kill -9 "$pid"
      ;;
  esac
  # shellcheck disable=SC2086
  while kill -0 ${pids:-$pid} 2>/dev/null; do sleep 0.05; done
}

# The region's own network: a namespace joined to the host by a veth pair.
netns_up() {
  ip netns del "$NETNS" 2>/dev/null || true
  ip link del "$HOST_IF" 2>/dev/null || true
  ip netns add "$NETNS"
  ip link add "$HOST_IF" type veth peer name "$NS_IF"
  ip link set "$NS_IF" netns "$NETNS"
  ip addr add "$HOST_IP/30" dev "$HOST_IF"
  ip link set "$HOST_IF" up
  ip netns exec "$NETNS" ip addr add "$NS_IP/30" dev "$NS_IF"
  ip netns exec "$NETNS" ip link set "$NS_IF" up
  ip netns exec "$NETNS" ip link set lo up
}
netns_down() {
  ip netns del "$NETNS" 2>/dev/null || true
  ip link del "$HOST_IF" 2>/dev/null || true
}
# grpc_port NAME: the local gRPC port of one of GRPC_SERVICES.
grpc_port() {
  local var="MERIDIAN_${1}_GRPC_ADDR"
  printf '%s\n' "${!var##*:}"
}
# toxi METHOD PATH [JSON]: a call to Toxiproxy's API.
toxi() {
  curl -fsS -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} \
    "http://$TOXIPROXY_API$2" >/dev/null
}
# proxies_up: Toxiproxy, and a proxy per service the region calls, from the
# link's host end to the service on the loopback.
proxies_up() {
  local s p
  "$MERIDIAN_TOXIPROXY" -host "${TOXIPROXY_API%:*}" -port "${TOXIPROXY_API##*:}" \
    >"$OUT/toxiproxy.log" 2>&1 &
  toxiproxy_pid=$!
  for _ in $(seq 100); do toxi GET /version 2>/dev/null && break; sleep 0.1; done
  for s in "${GRPC_SERVICES[@]}"; do
    p=$(grpc_port "$s")
    toxi POST /proxies "{\"name\":\"$s\",\"listen\":\"$HOST_IP:$((p + PROXY_OFFSET))\",
                         \"upstream\":\"127.0.0.1:$p\",\"enabled\":true}"
  done
}
proxies_down() {
  [[ -n ${toxiproxy_pid:-} ]] && kill "$toxiproxy_pid" 2>/dev/null && wait "$toxiproxy_pid" 2>/dev/null
  return 0
}
# link_fault NAME on|off: one of the network faults, on both ends of the link.
link_fault() {
  local name=$1 state=$2 i
  case $name:$state in
    throttle:on)
      tc qdisc add dev "$HOST_IF" root tbf rate 64kbit burst 16kb limit 16kb
      ip netns exec "$NETNS" tc qdisc add dev "$NS_IF" root tbf rate 64kbit burst 16kb limit 16kb
      ;;
    throttle:off)
      tc qdisc del dev "$HOST_IF" root
      ip netns exec "$NETNS" tc qdisc del dev "$NS_IF" root
      ;;
    loss:on)
      # Each packet across the link dropped with probability 1/5, both ways
      # (nftables in the namespace: this kernel has no netem).
      ip netns exec "$NETNS" nft -f - <<NFT
table inet meridian_loss {
  chain in { type filter hook input priority 0; iifname "$NS_IF" numgen random mod 5 == 0 drop; }
  chain out { type filter hook output priority 0; oifname "$NS_IF" numgen random mod 5 == 0 drop; }
}
NFT
      ;;
    loss:off) ip netns exec "$NETNS" nft delete table inet meridian_loss ;;
    latency:on)
      for i in "${GRPC_SERVICES[@]}"; do
        for stream in upstream downstream; do
          toxi POST "/proxies/$i/toxics" "{\"name\":\"delay-$stream\",\"type\":\"latency\",
            \"stream\":\"$stream\",\"attributes\":{\"latency\":200,\"jitter\":50}}"
        done
      done
      ;;
    latency:off)
      for i in "${GRPC_SERVICES[@]}"; do
        toxi DELETE "/proxies/$i/toxics/delay-upstream"
        toxi DELETE "/proxies/$i/toxics/delay-downstream"
      done
      ;;
    partition:on) ip netns exec "$NETNS" ip link set "$NS_IF" down ;;
    partition:off) ip netns exec "$NETNS" ip link set "$NS_IF" up ;;
    flap:on)
      for i in 1 2 3; do
        ip netns exec "$NETNS" ip link set "$NS_IF" down
        sleep 1
        ip netns exec "$NETNS" ip link set "$NS_IF" up
        sleep 1
      done
      ;;
    flap:off) ;;
  esac
}
# link_serves SECONDS: until a TCP connection from the namespace reaches
# patient-index over the link.
link_serves() {
  local deadline=$(($(date +%s) + $1))
  until ip netns exec "$NETNS" timeout 1 bash -c \
      "exec 3<>/dev/tcp/$HOST_IP/$(($(grpc_port PATIENT_INDEX) + PROXY_OFFSET))" 2>/dev/null; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.1
  done
}

# wait_healthy SECONDS: until every component reports serving.
wait_healthy() {
  local deadline=$(($(date +%s) + $1))
  until "$HEALTH" >/dev/null 2>&1; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.2
  done
}

wait_healthy 120 || { log "the platform is not healthy before the faults"; exit 1; }
# Earlier work (other tests, a demo) may still be on its way to analytics:
# start from a quiet pipeline, outboxes empty and analytics unchanged for 20 s.
quiet=0 last=""
for _ in $(seq 300); do
  counts="$(analytics_counts) $(pending_events)"
  if [[ $counts == "$last" && $counts == *" 0" ]]; then quiet=$((quiet + 1)); else quiet=0; fi
  ((quiet >= 10)) && break
  last=$counts
  sleep 2
done
((quiet >= 10)) || { log "the pipeline did not go quiet before the faults"; exit 1; }
read -r base_enc base_rx base_lab <<<"$(analytics_counts)"
base_dlt=$(dead_letters)

log "run $RUN: $PATIENTS patients (seed $SEED), faults along the load (gap ${GAP}s): ${TARGETS[*]}"
region=("$REGION" simulate --patients="$PATIENTS" --seed="$SEED" --run="$RUN" --concurrency=8
        --wait=180s)
if [[ $FAULTS == network ]]; then
  trap 'proxies_down; netns_down' EXIT
  netns_up
  proxies_up
  # The region calls every service through its proxy across the link.
  addrs=()
  for s in "${GRPC_SERVICES[@]}"; do
    addrs+=("MERIDIAN_${s}_GRPC_ADDR=$HOST_IP:$(($(grpc_port "$s") + PROXY_OFFSET))")
  done
  region=(ip netns exec "$NETNS" env "${addrs[@]}" "${region[@]}")
  link_serves 10 || { log "the namespace cannot reach the services"; exit 1; }
fi
"${region[@]}" >"$OUT/region.json" 2>"$OUT/region.log" &
region_pid=$!

# region_progress: the percentage of its steps the region last reported done.
region_progress() {
  local p
  p=$(grep -o 'steps ([0-9]*%)' "$OUT/region.log" 2>/dev/null | tail -n 1 | tr -dc 0-9)
  echo "${p:-0}"
}
# wait_progress PERCENT: until the region reports that share of its steps
# done, or has exited.
wait_progress() {
  while kill -0 "$region_pid" 2>/dev/null && (($(region_progress) < $1)); do
    sleep 0.2
  done
}

recoveries=()
faults_during_load=0
# The faults are placed along the region's progress, not the clock: fault i
# of n when 5% + 75% * i / (n - 1) of the steps are done (a fault holds the
# region back, so the next one waits for it to catch up). Each fault
# therefore lands on the running load, with at least a fifth of it still to
# come, however fast this machine runs the region. Process faults are also
# GAP seconds apart at least; network faults are held for GAP seconds and
# only a second apart (a fixed pause after each let a fast region finish
# before the last one: CI, 2026-12-05).
fault_index=0
for target in "${TARGETS[@]}"; do
  if [[ $FAULTS == network ]]; then sleep 1; else sleep "$GAP"; fi
  wait_progress $((5 + 75 * fault_index / (${#TARGETS[@]} > 1 ? ${#TARGETS[@]} - 1 : 1)))
  fault_index=$((fault_index + 1))
  kill -0 "$region_pid" 2>/dev/null && ((faults_during_load += 1))
  log "$target: at $(region_progress)% of the region's steps"
  if [[ $FAULTS == network ]]; then
    # Held for GAP seconds; recovery from the end of the fault until the
    # namespace reaches the services again.
    log "$target: on"
    link_fault "$target" on
    sleep "$GAP"
    link_fault "$target" off
    t0=$(now)
    if ! link_serves 60; then
      log "$target: the link did not serve again within 60 s"
      recoveries+=("\"$target\":null")
      continue
    fi
  else
    t0=$(now)
    hard_kill "$target"
    log "killed $target"
    "$CTL" start "$target" >>"$OUT/restarts.log" 2>&1
    if ! wait_healthy 180; then
      log "$target: the platform did not recover within 180 s"
      recoveries+=("\"$target\":null")
      continue
    fi
  fi
  recoveries+=("$(awk -v t="$target" -v a="$t0" -v b="$(now)" 'BEGIN { printf "\"%s\":%.2f", t, b - a }')")
  log "$target: recovered"
done

region_rc=0
wait "$region_pid" || region_rc=$?
log "region finished (exit $region_rc)"
# The bytes that crossed the faulty link (network faults: all the region's).
link_bytes=0
if [[ $FAULTS == network ]]; then
  link_bytes=$(($(<"/sys/class/net/$HOST_IF/statistics/rx_bytes") +
    $(<"/sys/class/net/$HOST_IF/statistics/tx_bytes")))
fi

# What the region was told it wrote.
read -r steps unexpected encounters prescribed lab_reports lab_results registrations \
  region_seconds retries < <(
  python3 - "$OUT/region.json" <<'PYEOF'
import json, sys
o = json.load(open(sys.argv[1]))
print(o["steps"], o["outcomes"]["unexpected_error"], o["records"]["encounters"],
      o["prescriptions"]["issued"], o["labs"]["reports"], o["labs"]["results"],
      o["registrations"], o["seconds"], o["retries"])
PYEOF
)

# Stored exactly once: the run's rows (local IDs start with the run tag).
stored_enc=$(sql "SELECT count(*) FROM records.record WHERE kind = 1 AND local_id LIKE '$RUN-%'")
stored_rx=$(sql "SELECT count(*) FROM prescriptions.prescription WHERE local_id LIKE '$RUN-%'")
stored_lab=$(sql "SELECT count(*) FROM lab_results.lab_report WHERE local_id LIKE '$RUN-%'")
stored_reg=$(sql "SELECT count(*) FROM patient_index.source_record WHERE local_id LIKE '$RUN-%'")

# until_zero COMMAND...: runs COMMAND every 0.2 s for up to 120 s, until it
# prints 0; prints what it printed last.
until_zero() {
  local n=-1
  for _ in $(seq 600); do
    n=$("$@")
    [[ $n == 0 ]] && break
    sleep 0.2
  done
  echo "$n"
}

# Every outbox drained (events above each relay's watermark), within 120 s.
pending=$(until_zero pending_events)

# Every registration reached every service that keeps identity links
# (records, consent, prescriptions, lab-results: a row in each one's xref,
# keyed by organisation and local ID), within 120 s. An event below the
# watermark that never reached Kafka shows here and nowhere else (the outbox
# check above only sees what is still above it).
XREF_SCHEMAS=(records consent prescriptions lab_results)
xrefs=$(printf 'SELECT organisation_id, local_id FROM %s.xref UNION ALL ' "${XREF_SCHEMAS[@]}")
unlinked_sql="SELECT count(*) FROM patient_index.source_record s
  WHERE s.local_id LIKE '$RUN-%' AND (SELECT count(*) FROM (${xrefs% UNION ALL }) x
    WHERE (x.organisation_id, x.local_id) = (s.organisation_id, s.local_id)) < ${#XREF_SCHEMAS[@]}"
unlinked=$(until_zero sql "$unlinked_sql")

# Analytics: its counts grow by the run's recount from source, within 300 s.
# What analytics counts (services/analytics/facts.cc): an encounter's first
# version unless entered in error, every prescription issued, every result of
# a lab report's first version. Consent may withhold a patient's records from
# the de-identified stream (the region's refusals "to everyone" cover it),
# depending on when the stream meets the event, so encounters are bounded:
# at least those of patients without any directive, at most all. The run's
# directives never cover prescriptions or labs: those counts are exact.
encounters_sql="WITH directed AS (
    SELECT DISTINCT s.organisation_id, s.local_id FROM consent.directive d
    JOIN patient_index.source_record s ON s.regional_id = d.regional_id)
  SELECT count(*) FILTER (WHERE x.local_id IS NULL), count(*) FROM (
    SELECT organisation_id, patient_local_id, entered_in_error FROM records.record
      WHERE kind = 1 AND version = 1 AND local_id LIKE '$RUN-%'
    UNION ALL SELECT organisation_id, patient_local_id, entered_in_error
      FROM records.record_history WHERE kind = 1 AND version = 1 AND local_id LIKE '$RUN-%') v
  LEFT JOIN directed x ON x.organisation_id = v.organisation_id
                      AND x.local_id = v.patient_local_id
  WHERE NOT v.entered_in_error"
IFS='|' read -r min_enc want_enc <<<"$(sql "$encounters_sql")"
want_rx=$stored_rx
want_lab=$(sql "SELECT coalesce(sum(cardinality(loinc_codes)), 0) FROM (
    SELECT loinc_codes FROM lab_results.lab_report WHERE version = 1 AND local_id LIKE '$RUN-%'
    UNION ALL SELECT loinc_codes FROM lab_results.lab_report_history
      WHERE version = 1 AND local_id LIKE '$RUN-%') v")
got_enc=0 got_rx=0 got_lab=0
analytics_seconds=0
t0=$(date +%s)
for _ in $(seq 1500); do
  read -r enc rx lab <<<"$(analytics_counts)"
  got_enc=$((enc - base_enc)) got_rx=$((rx - base_rx)) got_lab=$((lab - base_lab))
  analytics_seconds=$(($(date +%s) - t0))
  # Counted twice: no point waiting.
  ((got_enc > want_enc || got_rx > want_rx || got_lab > want_lab)) && break
  [[ $got_rx == "$want_rx" && $got_lab == "$want_lab" ]] && ((got_enc >= min_enc)) &&
    [[ $(dead_letters) == "$base_dlt" ]] && break
  sleep 0.2
done

failures=()
((region_rc == 0 && unexpected == 0)) || failures+=("\"region: $unexpected unexpected outcomes\"")
[[ $FAULTS != network ]] || ((link_bytes > 1000000)) ||
  failures+=("\"only $link_bytes bytes crossed the faulty link\"")
((faults_during_load == ${#TARGETS[@]})) ||
  failures+=("\"only $faults_during_load of ${#TARGETS[@]} faults hit the running load\"")
[[ $stored_enc == "$encounters" ]] || failures+=("\"encounters stored $stored_enc, acknowledged $encounters\"")
[[ $stored_rx == "$prescribed" ]] || failures+=("\"prescriptions stored $stored_rx, acknowledged $prescribed\"")
[[ $stored_lab == "$lab_reports" ]] || failures+=("\"lab reports stored $stored_lab, acknowledged $lab_reports\"")
[[ $pending == 0 ]] || failures+=("\"$pending events still in outboxes\"")
[[ $unlinked == 0 ]] ||
  failures+=("\"$unlinked registrations never reached the services that link identities\"")
((got_enc >= min_enc && got_enc <= want_enc)) ||
  failures+=("\"analytics encounters +$got_enc, recount $min_enc to $want_enc\"")
dlt=$(($(dead_letters) - base_dlt))
((dlt == 0)) || failures+=("\"$dlt events dead-lettered\"")
[[ $got_rx == "$want_rx" ]] || failures+=("\"analytics prescriptions +$got_rx, recount $want_rx\"")
[[ $got_lab == "$want_lab" ]] || failures+=("\"analytics lab results +$got_lab, recount $want_lab\"")
for r in "${recoveries[@]}"; do
  [[ $r == *null ]] && failures+=("\"${r%%:*} did not recover\"")
done

# Lost: acknowledged but not stored, or stored but not counted downstream.
short() { echo $(($1 > $2 ? $1 - $2 : 0)); }
lost=$(($(short "$encounters" "$stored_enc") + $(short "$prescribed" "$stored_rx") +
  $(short "$lab_reports" "$stored_lab")))
lost=$((lost + $(short "$min_enc" "$got_enc") + $(short "$want_rx" "$got_rx") +
  $(short "$want_lab" "$got_lab") + dlt + $(short "$unlinked" 0)))
# Duplicates: counted downstream more often than stored.
duplicates=$(($(short "$got_enc" "$want_enc") + $(short "$got_rx" "$want_rx") +
  $(short "$got_lab" "$want_lab")))
IFS=,
cat <<EOF | tee "$OUT/report.json"
{"run":"$RUN","faults":"$FAULTS","patients":$PATIENTS,"seed":$SEED,"steps":$steps,"unexpected":$unexpected,"region_seconds":$region_seconds,"retries":$retries,"registrations":$registrations,"registrations_stored":$stored_reg,"registrations_unlinked":$unlinked,"encounters":{"acknowledged":$encounters,"stored":$stored_enc,"recount_without_directives":$min_enc,"recount":$want_enc,"analytics":$got_enc},"prescriptions":{"acknowledged":$prescribed,"stored":$stored_rx,"analytics":$got_rx},"lab_reports":{"acknowledged":$lab_reports,"stored":$stored_lab,"results":$lab_results,"results_recount":$want_lab,"analytics_results":$got_lab},"outbox_pending":$pending,"link_bytes":$link_bytes,"dead_letters":$dlt,"analytics_caught_up_seconds":$analytics_seconds,"recovery_seconds":{${recoveries[*]}},"lost":$lost,"duplicates":$duplicates,"failures":[${failures[*]}]}
EOF
unset IFS
((${#failures[@]} == 0))
