"""Shared by the baseline scripts: FEBRL loading, truth and pairwise metrics.

The entity of a record is the number in its rec_id (rec-1496-org and
rec-1496-dup-3 are the same person).
"""
import re
from collections import Counter

import numpy as np
import pandas as pd

ENTITY_RE = re.compile(r"rec-(\d+)-")


def load(path, missing):
    """The CSV with stripped values; empty values become `missing`."""
    df = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    df.columns = [c.strip() for c in df.columns]
    return df.apply(lambda s: s.str.strip()).replace("", missing)


def entity(rec_ids):
    return np.array([ENTITY_RE.match(r).group(1) for r in rec_ids])


def truth(dfs):
    """(records, true_pairs, total_pairs) for one file (dedupe) or two (link)."""
    if len(dfs) == 2:
        a, b = dfs
        ca, cb = Counter(entity(a["rec_id"])), Counter(entity(b["rec_id"]))
        return len(a) + len(b), sum(n * cb[e] for e, n in ca.items()), len(a) * len(b)
    (a,) = dfs
    counts = Counter(entity(a["rec_id"]))
    return len(a), sum(n * (n - 1) // 2 for n in counts.values()), len(a) * (len(a) - 1) // 2


def metrics(true_pairs, total_pairs, candidate_pairs, true_in_candidates,
            predicted_pairs, true_predicted):
    """The JSON fields the Meridian benchmark reports, for comparison."""
    precision = true_predicted / predicted_pairs if predicted_pairs else 0.0
    recall = true_predicted / true_pairs if true_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "true_pairs": true_pairs,
        "candidate_pairs": candidate_pairs,
        "pairs_completeness": round(true_in_candidates / true_pairs, 6) if true_pairs else None,
        "reduction_ratio": round(1 - candidate_pairs / total_pairs, 6),
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
    }
