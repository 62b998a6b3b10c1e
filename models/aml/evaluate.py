"""AML evaluation at an alert budget, on pandas: which known cases the alerts of each as-of date catch.

A case is (customer_id, typology, period_start, period_end): a reported investigation (period: the days
before it opened) or, on a synthetic bank, an injected typology (period: while it ran and the step after).
On each as-of date the top `budget` share of the customers scored there, by score, are alerted (only those at
or above `min_score`). A case counts as detected when its customer is alerted on an as-of date inside its
period; only cases whose period holds an as-of date are evaluated. Precision is the share of alerts
(customer, date) that fall inside a case period of their customer.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def alerted(scored: pd.DataFrame, score: str, budget: float, min_score: float) -> pd.Series:
    """True for the rows alerted on their as-of date: rank within the day's budget and score >= min_score."""
    n = scored.groupby("as_of_date")["customer_id"].transform("size")
    cap = np.maximum(1, np.floor(n * budget))     # at most the budget's share (one alert at the least)
    rank = scored.groupby("as_of_date")[score].rank(method="first", ascending=False)
    return (rank <= cap) & (scored[score] >= min_score)


def _in_period(alerts: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
    """Pairs of an alert and a case of the same customer whose period holds the alert's date."""
    pairs = alerts.merge(cases.rename(columns={"typology": "case_typology"}), on="customer_id")
    return pairs[(pairs["as_of_date"] >= pairs["period_start"]) & (pairs["as_of_date"] <= pairs["period_end"])]


def evaluate_alerts(scored: pd.DataFrame, cases: pd.DataFrame, score: str, budget: float, min_score: float,
                    prefix: str = "") -> dict[str, float]:
    """recall_at_budget (overall and per typology), precision_at_budget, alerts_per_1000, cases, alerts, and
    typology_match (share of detected cases alerted under their own typology, when `scored` has `typologies`)."""
    dates = pd.Series(sorted(scored["as_of_date"].unique()))
    held = cases[[bool(((dates >= s) & (dates <= e)).any()) for s, e in zip(cases["period_start"], cases["period_end"])]]
    held = held.reset_index(drop=True).assign(_case=lambda c: np.arange(len(c)))
    mask = alerted(scored, score, budget, min_score)
    alerts = scored[mask]
    pairs = _in_period(alerts, held)
    detected = set(pairs["_case"])
    out = {"cases": float(len(held)), "alerts": float(len(alerts)),
           "recall_at_budget": len(detected) / len(held) if len(held) else math.nan,
           "precision_at_budget": (pairs[["as_of_date", "customer_id"]].drop_duplicates().shape[0] / len(alerts)
                                   if len(alerts) else math.nan),
           "alerts_per_1000": 1000.0 * len(alerts) / max(1, len(scored))}
    for typology, group in held.groupby("typology"):
        out[f"recall_at_budget_{typology.lower()}"] = len(set(group["_case"]) & detected) / len(group)
    if "typologies" in scored.columns and len(detected):
        matched = pairs[[t in list(ts) for t, ts in zip(pairs["case_typology"], pairs["typologies"])]]
        out["typology_match"] = len(set(matched["_case"])) / len(detected)
    return {f"{prefix}{k}": v for k, v in out.items()}
