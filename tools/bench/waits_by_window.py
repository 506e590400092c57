#!/usr/bin/env python3
"""Runs a load command while sampling PostgreSQL's wait events, and prints
what the backends were waiting for around each slow window of the run.

  eval "$(tools/meridian env)"
  python3 tools/bench/waits_by_window.py --slow_ms=10 -- \
      build/tools/load/meridian_load --csv=/tmp/p1m.csv --shuffle_seed=7 \
      --offset=0 --limit=60000 --concurrency=64 --rate=1000 --report_every=250

The command must print meridian_load's JSON lines: one per window
(--report_every), one "total". Meanwhile psql samples pg_stat_activity every
5 ms (\\watch 0.005): every backend in a wait other than Client, Activity or
a timeout, with the start of its statement. For each window whose p99 is
above --slow_ms, the waits sampled during it and the quarter second before
are printed, most frequent first; then the waits of the whole run. A wait
that shows in every slow window and rarely elsewhere is where the tail
comes from (in the twelfth session: WALInitWrite/WALInitSync, a commit
creating a WAL segment; Lock/relation on the outbox, a partition drop;
IO/WALSync, the commit's flush).

The database is MERIDIAN_PG_URI's server (any database on it: the view
shows every backend).
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

SAMPLE = (
    "SELECT extract(epoch FROM clock_timestamp()), backend_type, wait_event_type,"
    " wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 40)"
    " FROM pg_stat_activity WHERE wait_event_type NOT IN ('Client', 'Activity', 'Timeout')"
    " \\watch 0.005\n")


def main():
    parser = argparse.ArgumentParser(usage=__doc__)
    parser.add_argument("--slow_ms", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=6)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = [c for c in args.command if c != "--"]
    uri = os.environ.get("MERIDIAN_PG_URI")
    if not command or not uri:
        sys.exit(__doc__)

    # Into a file: a pipe read only at the end fills within seconds, and
    # psql then blocks and samples no more.
    with tempfile.TemporaryFile(mode="w+") as out:
        sampler = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-F", "|", uri], stdin=subprocess.PIPE,
            stdout=out, stderr=subprocess.DEVNULL, text=True)
        sampler.stdin.write(SAMPLE)
        sampler.stdin.flush()
        time.sleep(0.3)
        run = subprocess.run(command, capture_output=True, text=True)
        sampler.terminate()
        sampler.wait()
        out.seek(0)
        samples = out.read()
    if run.returncode != 0:
        sys.stderr.write(run.stdout + run.stderr)
        sys.exit(f"waits_by_window: the command failed (exit {run.returncode})")

    waits = []  # (time, "backend/type/event/statement")
    for line in samples.splitlines():
        parts = line.split("|")
        if len(parts) < 5:
            continue
        try:
            t = float(parts[0])
        except ValueError:
            continue
        waits.append((t, "/".join(p.strip() for p in parts[1:5])))

    windows = []
    total = None
    for line in run.stdout.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get("window") == "window":
            windows.append(d)
        elif d.get("window") == "total":
            total = d
    start = None
    for d in windows:
        end = d["ended_unix_ms"] / 1000.0
        begin = end - d["seconds"]
        if start is None:
            start = begin
        if d["p99_ms"] <= args.slow_ms:
            continue
        seen = collections.Counter(w for t, w in waits if begin - 0.25 <= t <= end)
        print(f"{begin - start:8.2f}-{end - start:.2f} s: p50 {d['p50_ms']:.2f} p99 "
              f"{d['p99_ms']:.2f} max {d['max_ms']:.1f} ms")
        for wait, n in seen.most_common(args.top):
            print(f"    {n:5d}  {wait}")
    print("whole run:")
    for wait, n in collections.Counter(w for _, w in waits).most_common(args.top * 2):
        print(f"    {n:5d}  {wait}")
    if total is not None:
        print(json.dumps(total))


if __name__ == "__main__":
    main()
