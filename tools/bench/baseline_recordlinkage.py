#!/usr/bin/env python3
"""Baseline: Python Record Linkage Toolkit (`recordlinkage`) on FEBRL files.

Usage:
    python3 tools/bench/baseline_recordlinkage.py --febrl dataset3.csv            # dedupe
    python3 tools/bench/baseline_recordlinkage.py --febrl 4a.csv --febrl 4b.csv   # link

Prints ONE JSON line (see KEYS below). Runs fully offline.

Configuration (the toolkit's standard unsupervised recipe, not tuned on truth):
  * Load: CSV read as strings with skipinitialspace (the toolkit's own FEBRL
    loader does the same); values stripped, empty -> NaN so that missing values
    neither block together nor count as agreement.
  * Block: union of exact-key blocks on given_name, surname, soc_sec_id (the
    blocks in the toolkit's FEBRL examples dedup_deterministic.py /
    linking_deterministic.py) plus date_of_birth and postcode (the extra keys
    Splink's FEBRL3 example uses), so both baselines see a comparable, high
    pairs-completeness candidate set.
  * Compare: binary agreement features, because ECMClassifier's default
    'jaro' initialisation only accepts binary features. Names use Jaro-Winkler
    >= 0.85 (as in the toolkit's examples); date_of_birth and soc_sec_id use
    Damerau-Levenshtein similarity >= 0.85 (tolerates one typo in 7-8 chars);
    address_1 and suburb use Levenshtein >= 0.85 (the examples' default);
    street_number, postcode and state are exact. Missing -> 0 (the default).
  * Train: recordlinkage.ECMClassifier() with defaults (init='jaro',
    max_iter=100), i.e. unsupervised Fellegi-Sunter EM on the candidate pairs.
  * Classify: match if the ECM posterior P(match | comparison vector) >=
    --threshold (default 0.5, which is exactly what ECMClassifier.predict does).

Timing: `seconds` = load + block + compare + ECM fit + classify (wall clock).
`pairs_per_second` = candidate pairs / (compare time + classify time), i.e. the
scoring of the candidate pairs, excluding ECM fitting. Single process; pandas /
numpy may use a BLAS thread pool, but the hot path (string similarity) is
single-threaded Python/C (Compare runs with its default n_jobs=1).
"""
import argparse
import json
import time

import numpy as np
import recordlinkage as rl

from febrl_truth import entity, load, metrics, truth

BLOCK_KEYS = ["given_name", "surname", "soc_sec_id", "date_of_birth", "postcode"]


def build_compare():
    c = rl.Compare()
    c.string("given_name", "given_name", method="jarowinkler", threshold=0.85, label="given_name")
    c.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    c.string("date_of_birth", "date_of_birth", method="damerau_levenshtein", threshold=0.85,
             label="date_of_birth")
    c.string("soc_sec_id", "soc_sec_id", method="damerau_levenshtein", threshold=0.85,
             label="soc_sec_id")
    c.exact("street_number", "street_number", label="street_number")
    c.string("address_1", "address_1", method="levenshtein", threshold=0.85, label="address_1")
    c.string("suburb", "suburb", method="levenshtein", threshold=0.85, label="suburb")
    c.exact("postcode", "postcode", label="postcode")
    c.exact("state", "state", label="state")
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--febrl", action="append", required=True,
                    help="FEBRL CSV; once = dedupe, twice = link file1 -> file2")
    ap.add_argument("--threshold", type=float, default=0.5,
                    help="ECM posterior match probability threshold (default 0.5)")
    args = ap.parse_args()
    if len(args.febrl) not in (1, 2):
        ap.error("give --febrl once (dedupe) or twice (link)")
    link = len(args.febrl) == 2

    t0 = time.perf_counter()
    dfs = [load(p, np.nan) for p in args.febrl]
    dfs = [df.set_index("rec_id", drop=False) for df in dfs]

    # Block.
    indexer = rl.Index()
    for k in BLOCK_KEYS:
        indexer.block(k)
    cand = indexer.index(*dfs)

    # Score (compare), train (ECM), classify.
    t_cmp = time.perf_counter()
    features = build_compare().compute(cand, *dfs)
    cmp_s = time.perf_counter() - t_cmp

    ecm = rl.ECMClassifier()
    ecm.fit(features)

    t_cls = time.perf_counter()
    prob = ecm.prob(features)
    predicted = prob.index[prob.to_numpy() >= args.threshold]
    cls_s = time.perf_counter() - t_cls
    seconds = time.perf_counter() - t0

    # Evaluate (outside timed region).
    records, true_pairs, total_pairs = truth(dfs)
    cand_true = int((entity(cand.get_level_values(0)) == entity(cand.get_level_values(1))).sum())
    tp = int((entity(predicted.get_level_values(0)) ==
              entity(predicted.get_level_values(1))).sum())
    out = {"tool": "recordlinkage", "mode": "link" if link else "dedupe", "records": records}
    out.update(metrics(true_pairs, total_pairs, len(cand), cand_true, len(predicted), tp))
    out.update({
        "seconds": round(seconds, 3),
        "pairs_per_second": round(len(cand) / (cmp_s + cls_s), 1),
        "threshold": args.threshold,
    })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
