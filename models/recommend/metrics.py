"""Top-k ranking metrics on a time-based holdout: what a customer opened after the cut-off vs. what we offered."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

METRICS = ("precision", "recall", "map", "ndcg")


def ranking_metrics(recommended: Mapping[str, Sequence[str]], relevant: Mapping[str, set[str]], k: int,
                    catalogue: set[str]) -> dict[str, float]:
    """precision@k, recall@k, MAP@k, NDCG@k averaged over the customers in `relevant` (each opened at least one
    product), and catalogue coverage@k: the share of `catalogue` recommended to at least one of them.

    A customer with no recommendation counts as all misses; AP@k divides by min(k, |relevant|) so a perfect
    list scores 1 even for customers who opened more than k products.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    users = [u for u, items in relevant.items() if items]
    sums = dict.fromkeys(METRICS, 0.0)
    shown: set[str] = set()
    for u in users:
        rel = relevant[u]
        recs = list(recommended.get(u, ()))[:k]
        shown.update(recs)
        hits = [1.0 if r in rel else 0.0 for r in recs]
        n_hit = sum(hits)
        sums["precision"] += n_hit / k
        sums["recall"] += n_hit / len(rel)
        running, ap = 0.0, 0.0
        for i, h in enumerate(hits, start=1):
            if h:
                running += 1
                ap += running / i
        sums["map"] += ap / min(k, len(rel))
        dcg = sum(h / math.log2(i + 1) for i, h in enumerate(hits, start=1))
        ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(k, len(rel)) + 1))
        sums["ndcg"] += dcg / ideal
    n = len(users)
    out = {f"{m}_at_{k}": (sums[m] / n if n else float("nan")) for m in METRICS}
    out[f"coverage_at_{k}"] = len(shown & catalogue) / len(catalogue) if catalogue else float("nan")
    out["holdout_customers"] = float(n)
    return out
