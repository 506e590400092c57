#!/usr/bin/env python3
"""Reads one benchmark JSON line on stdin and fails unless it meets the goals."""
import argparse
import json
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--f1", type=float, required=True)
parser.add_argument("--pc", type=float, required=True)
parser.add_argument("--rr", type=float, required=True)
args = parser.parse_args()
result = json.loads(sys.stdin.read())
print(json.dumps(result))
failures = []
if result["f1"] < args.f1:
    failures.append(f"f1 {result['f1']} < {args.f1}")
if result["pairs_completeness"] < args.pc:
    failures.append(f"pairs_completeness {result['pairs_completeness']} < {args.pc}")
if result["reduction_ratio"] < args.rr:
    failures.append(f"reduction_ratio {result['reduction_ratio']} < {args.rr}")
if failures:
    print("FAILED: " + "; ".join(failures))
    sys.exit(1)
