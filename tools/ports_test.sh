#!/usr/bin/env bash
# The local platform's ports (tools/meridian's defaults and deploy/services.tsv)
# lie outside this machine's ephemeral port range: a port in that range can be
# held by any outgoing connection (a Kafka client, a PostgreSQL session) when
# a component starts, and its bind then fails with "Address already in use".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
read -r low high </proc/sys/net/ipv4/ip_local_port_range

ports=()
while read -r name value; do
  ports+=("$name=$value")
done < <(sed -nE 's/^([A-Z_]+_PORT)="\$\{MERIDIAN_[A-Z_]+:-([0-9]+)\}"$/\1 \2/p' "$root/tools/meridian")
ROOT=$root
# shellcheck source=lib/services.sh
source "$root/tools/lib/services.sh"
while read -r name grpc metrics; do
  ports+=("$name.grpc=$grpc" "$name.metrics=$metrics")
done < <(services_list)

# The parse found tools/meridian's five defaults and the services' rows.
(( ${#ports[@]} >= 5 + 2 * 7 )) || { echo "found only ${#ports[@]} ports: ${ports[*]}" >&2; exit 1; }

bad=0
for entry in "${ports[@]}"; do
  port=${entry#*=}
  if (( port >= low && port <= high )); then
    echo "$entry lies in the ephemeral range $low-$high" >&2
    bad=1
  fi
done
(( bad == 0 )) && echo "${#ports[@]} ports outside $low-$high"
