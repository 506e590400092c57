#!/usr/bin/env python3
"""Runs a load command and prints its JSON output plus the CPU each part of
the local platform spent per registration while it ran.

  python3 tools/bench/cpu_by_process.py build/tools/load/meridian_load \
      --csv=/tmp/p1m.csv --shuffle_seed=7 --offset=0 --limit=10000 --concurrency=8

CPU time (user + system) is read from /proc/PID/stat of every process before
and after the command and grouped: PostgreSQL (every backend and the
postmaster's helpers), patient-index (with its relay and Kafka producer
threads), the Kafka broker (java) and everything else; the command itself
(the load generator, which has exited by the second reading) is
"load_generator", as the command reports it (meridian_load's
"client_cpu_ms_per_registration": its CPU while registering, not reading
its CSV). Prints one JSON object:
the command's last "total" line, and "cpu_ms_per_registration" by group.
"""
import json
import os
import subprocess
import sys

TICKS = os.sysconf("SC_CLK_TCK")


def group_of(name, cmdline):
    if "postgres" in name or "postgres" in cmdline:
        return "postgres"
    if "patient-index" in cmdline:
        return "patient_index"
    if name == "java":
        return "kafka"
    return "other"


def cpu_ticks():
    totals = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline") as f:
                cmdline = f.read()
        except OSError:
            continue  # exited meanwhile
        close = stat.rfind(")")
        fields = stat[close + 2:].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        group = group_of(stat[stat.find("(") + 1:close], cmdline)
        totals[group] = totals.get(group, 0) + ticks
    return totals


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    before = cpu_ticks()
    run = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    after = cpu_ticks()
    total = None
    for line in run.stdout.splitlines():
        if '"total"' in line:
            total = json.loads(line)
    if run.returncode != 0 or total is None or total.get("registrations", 0) == 0:
        sys.stderr.write(run.stdout + run.stderr)
        sys.exit(f"cpu_by_process: the command failed (exit {run.returncode})")
    n = total["registrations"]
    per = {g: round((after.get(g, 0) - before.get(g, 0)) * 1000.0 / TICKS / n, 3)
           for g in sorted(after)}
    if "client_cpu_ms_per_registration" in total:
        per["load_generator"] = total.pop("client_cpu_ms_per_registration")
    total["cpu_ms_per_registration"] = per
    print(json.dumps(total))


if __name__ == "__main__":
    main()
