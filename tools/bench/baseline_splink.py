#!/usr/bin/env python3
"""Baseline: Splink (DuckDB backend, one thread) on FEBRL files.

Usage:
    python3 tools/bench/baseline_splink.py --febrl dataset3.csv            # dedupe
    python3 tools/bench/baseline_splink.py --febrl 4a.csv --febrl 4b.csv   # link

Prints ONE JSON line. Runs fully offline (reads the given CSVs; does not use
splink_datasets, which would download). Written against the installed Splink
(5.x API: DuckDBAPI(connection=...), db_api.register(...), Linker(sdfs, settings)).

Configuration follows Splink's own FEBRL tutorials (docs/demos/examples/duckdb/
febrl3 for dedupe, febrl4 for link), not tuned on the truth:
  * Load: strings, values stripped, empty -> NULL (Splink's null level).
  * DuckDB: `SET threads TO 1`, so pairs_per_second is per core ("threads": 1).
  * Blocking rules for prediction: dedupe = the febrl3 tutorial's
    soc_sec_id | given_name | surname | date_of_birth | postcode;
    link = the febrl4 tutorial's given_name+surname | swapped names |
    date_of_birth | soc_sec_id | state+address_1 | street_number+address_1 |
    postcode.
  * Comparisons: the febrl4 tutorial's "detailed model" (NameComparison with
    term-frequency adjustments on given_name/surname, DateOfBirthComparison
    with invalid dates -> null, Damerau-Levenshtein [1,2] on soc_sec_id and
    postcode (TF), exact street_number (TF)), plus address_1 and suburb
    (Jaro-Winkler >= 0.9) and exact state, so that Splink sees the same nine
    fields as the recordlinkage baseline.
  * Training (unsupervised, the usual Splink recipe): lambda from the
    tutorials' deterministic rules (recall 0.9 dedupe / 0.8 link); u by random
    sampling (max_pairs=1e7, seed 42: Splink's docstring calls 1e7 "often
    adequate" and warns at its 1e6 default; override with --u-max-pairs); m by
    EM on block_on(date_of_birth) then block_on(postcode), as in both tutorials.
  * Classify: match if match_probability >= --threshold (default 0.99, i.e.
    match weight ~6.6; the febrl4 tutorial clusters at 0.99).

Timing: `seconds` = load + register + train + predict (wall clock).
`pairs_per_second` = candidate pairs / wall time of linker.inference.predict()
(comparison vectors + match weights/probabilities for every candidate pair).
Blocking is done first with linker.inference.compute_blocked_pairs_for_predict(),
which predict() then reuses from Splink's cache, so, as in the recordlinkage
baseline, the blocking join is excluded from pairs_per_second (not from seconds).
"""
import argparse
import json
import logging
import time

import duckdb
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from febrl_truth import entity, load, metrics, truth


DEDUPE_RULES = [block_on("soc_sec_id"), block_on("given_name"), block_on("surname"),
                block_on("date_of_birth"), block_on("postcode")]
LINK_RULES = [block_on("given_name", "surname"),
              "l.given_name = r.surname and l.surname = r.given_name",
              block_on("date_of_birth"), block_on("soc_sec_id"),
              block_on("state", "address_1"), block_on("street_number", "address_1"),
              block_on("postcode")]
DETERMINISTIC_RULES = [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")]


def comparisons():
    return [
        cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
        cl.NameComparison("surname").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True,
                                 datetime_format="%Y%m%d", invalid_dates_as_null=True),
        cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.JaroWinklerAtThresholds("address_1", [0.9]),
        cl.JaroWinklerAtThresholds("suburb", [0.9]),
        cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
            term_frequency_adjustments=True),
        cl.ExactMatch("state"),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--febrl", action="append", required=True,
                    help="FEBRL CSV; once = dedupe, twice = link file1 -> file2")
    ap.add_argument("--threshold", type=float, default=0.99,
                    help="match_probability threshold (default 0.99)")
    ap.add_argument("--u-max-pairs", type=float, default=1e7)
    args = ap.parse_args()
    if len(args.febrl) not in (1, 2):
        ap.error("give --febrl once (dedupe) or twice (link)")
    link = len(args.febrl) == 2

    t0 = time.perf_counter()
    dfs = [load(p, None) for p in args.febrl]
    con = duckdb.connect()
    con.execute("SET threads TO 1")
    db_api = DuckDBAPI(connection=con)
    sdfs = [db_api.register(df, dataset_display_name=f"df{i}") for i, df in enumerate(dfs)]

    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only" if link else "dedupe_only",
        blocking_rules_to_generate_predictions=LINK_RULES if link else DEDUPE_RULES,
        comparisons=comparisons(),
    )
    linker = Linker(sdfs if link else sdfs[0], settings, log_level=logging.WARNING)

    # Train (unsupervised).
    linker.training.estimate_probability_two_random_records_match(
        DETERMINISTIC_RULES, recall=0.8 if link else 0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=args.u_max_pairs, seed=42)
    for rule in (block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=link)

    # Block (materialised and cached by Splink), then predict = compare + score
    # every candidate pair; predict() reuses the cached blocked pairs.
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    candidate_pairs = blocked.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0]
    t_pred = time.perf_counter()
    pred = linker.inference.predict()
    pred_s = time.perf_counter() - t_pred
    seconds = time.perf_counter() - t0

    # Evaluate (outside timed region).
    scored = pred.as_duckdbpyrelation().select("rec_id_l, rec_id_r, match_probability").df()
    same = entity(scored["rec_id_l"]) == entity(scored["rec_id_r"])
    is_pred = scored["match_probability"].to_numpy() >= args.threshold
    records, true_pairs, total_pairs = truth(dfs)
    threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    out = {"tool": "splink", "mode": "link" if link else "dedupe", "records": records}
    out.update(metrics(true_pairs, total_pairs, int(candidate_pairs), int(same.sum()),
                       int(is_pred.sum()), int((same & is_pred).sum())))
    out.update({
        "seconds": round(seconds, 3),
        "pairs_per_second": round(candidate_pairs / pred_s, 1),
        "threshold": args.threshold,
        "threads": int(threads),
        "cores_used": int(threads),
    })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
