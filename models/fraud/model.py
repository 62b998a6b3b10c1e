"""Card-fraud scoring on pandas: an unsupervised anomaly scorer, a supervised boosting on confirmed fraud, the
blend of the two, the rules baseline, and the evaluation at a daily alert budget.

The caller (Spark) builds the point-in-time frame (one row per transaction, numeric features from
`features.txn`, and for training a 0/1 label that only counts fraud confirmed before the cut-off); this module
fits, scores and evaluates. Nothing here imports Spark or MLflow: `FraudModel` pickles and `score` is vectorised
over a pandas batch, so it runs inside `mapInPandas`.

- The anomaly scorer (Isolation Forest) needs no labels, so a bank without a fraud-label feed still gets
  scores. Its raw score is turned into a percentile of the training transactions (0 = most ordinary, 1 = more
  unusual than any training transaction), which the blend can weigh against a probability.
- The supervised model (gradient boosting) learns the confirmed fraud. Fraud is rare, so the negatives may be a
  sample: `negative_weight` (1 / sampling rate) restores the true balance, so its probabilities stay honest.
- The blend: `(1 - anomaly_weight) * p_supervised + anomaly_weight * anomaly_percentile`; without a supervised
  model (no labels yet) the score is the anomaly percentile alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.metrics import average_precision_score, precision_recall_curve

from models.tabular import as_matrix, binary, check_classes, check_features, figure, labels, threads


@dataclass(frozen=True)
class FraudParams:
    """Hyper-parameters of both scorers and the blend (all from `conf/`, models.fraud)."""

    learning_rate: float = 0.05
    max_iter: int = 200
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    l2_regularization: float = 1.0
    n_estimators: int = 200          # Isolation Forest trees
    max_samples: int = 512           # rows per tree
    anomaly_weight: float = 0.2
    random_state: int = 42
    fit_threads: int | None = None
    score_threads: int | None = 1

    def __post_init__(self):
        if not 0.0 <= self.anomaly_weight <= 1.0:
            raise ValueError(f"anomaly_weight must be in [0, 1], got {self.anomaly_weight}")
        for name in ("fit_threads", "score_threads"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be None or >= 1")


@dataclass
class FraudModel:
    """A fitted fraud scorer. `supervised` is None when it was trained without (enough) labels."""

    features: tuple[str, ...]
    anomaly: IsolationForest
    anomaly_reference: np.ndarray            # sorted raw anomaly scores of the training transactions
    supervised: HistGradientBoostingClassifier | None
    params: FraudParams = field(default_factory=FraudParams)
    fit_rows: int = 0
    fit_positives: int = 0

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        check_features(frame, self.features)
        return as_matrix(frame, self.features)

    def _anomaly(self, x: np.ndarray) -> np.ndarray:
        # Isolation Forest cannot take NaN: a missing feature (no history yet) counts as 0
        raw = -self.anomaly.score_samples(np.nan_to_num(x, nan=0.0))
        return np.searchsorted(self.anomaly_reference, raw, side="right") / max(1, len(self.anomaly_reference))

    def parts(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per row: anomaly percentile, supervised probability (NaN without a supervised model) and the blend."""
        if len(frame) == 0:
            return pd.DataFrame({"anomaly_score": [], "supervised_score": [], "score": []}, dtype=float)
        x = self.matrix(frame)
        with threads(self.params.score_threads):
            a = self._anomaly(x)
            if self.supervised is None:
                return pd.DataFrame({"anomaly_score": a, "supervised_score": np.nan, "score": a})
            p = self.supervised.predict_proba(x)[:, 1]
        w = self.params.anomaly_weight
        return pd.DataFrame({"anomaly_score": a, "supervised_score": p, "score": (1 - w) * p + w * a})

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.parts(frame)["score"].to_numpy()


def fit_fraud(frame: pd.DataFrame, features: Sequence[str], label: str | None = "is_fraud",
              params: FraudParams | None = None, negative_weight: float = 1.0) -> FraudModel:
    """Fit the anomaly scorer on every row and, when `label` is given and both classes are present, the boosting.

    `negative_weight` is the inverse of the rate at which the negatives were sampled (1.0: not sampled)."""
    params = params or FraudParams()
    features = tuple(features)
    if not features:
        raise ValueError("fraud needs at least one feature")
    if len(frame) == 0:
        raise ValueError("fraud: no training transactions")
    check_features(frame, features)
    x = as_matrix(frame, features)
    forest = IsolationForest(n_estimators=params.n_estimators, max_samples=min(params.max_samples, len(frame)),
                             random_state=params.random_state)
    filled = np.nan_to_num(x, nan=0.0)
    y = labels(frame, label) if label is not None else None
    with threads(params.fit_threads):
        # the forest learns what ordinary looks like, so confirmed fraud is left out of it
        normal = filled if y is None or (y == 0).sum() < 2 else filled[y == 0]
        forest.fit(normal)
        reference = np.sort(-forest.score_samples(normal))
        supervised = None
        positives = int(y.sum()) if y is not None else 0
        if y is not None:
            check_classes(y, "the supervised fraud model")
            supervised = HistGradientBoostingClassifier(
                learning_rate=params.learning_rate, max_iter=params.max_iter, max_leaf_nodes=params.max_leaf_nodes,
                min_samples_leaf=params.min_samples_leaf, l2_regularization=params.l2_regularization,
                early_stopping=False, random_state=params.random_state)
            weights = np.where(y == 1, 1.0, float(negative_weight))
            supervised.fit(x, y, sample_weight=weights)
    return FraudModel(features, forest, reference, supervised, params, len(frame), positives)


# --- the rules baseline ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FraudRules:
    """The threshold rules a bank runs before any model: each hit adds one point."""

    amount_ratio: float = 5.0        # amount at least this many times the customer's usual
    count_1h: int = 5                # at least this many transactions in the hour before
    amount_24h: float = 20_000.0     # at least this much spent in the 24 hours before (CNY)
    small_auths: int = 3             # at least this many small authorisations in the card-testing window


def rules_score(frame: pd.DataFrame, rules: FraudRules, columns: dict[str, str]) -> np.ndarray:
    """Rule hits per row (ties broken by the amount ratio, so the budget takes the biggest outliers first).

    `columns` names the frame's column for each rule input: amount_ratio, count_1h, amount_24h, small_auths."""
    def col(name: str) -> np.ndarray:
        return frame[columns[name]].astype("float64").to_numpy(dtype="float64", na_value=np.nan)

    ratio = col("amount_ratio")
    hits = ((ratio >= rules.amount_ratio).astype(float) + (col("count_1h") >= rules.count_1h)
            + (col("amount_24h") >= rules.amount_24h) + (col("small_auths") >= rules.small_auths))
    tie = np.clip(np.nan_to_num(ratio, nan=0.0), 0, 1e6) / 1e6 * 0.5
    return hits + tie


# --- evaluation at the alert budget ----------------------------------------------------------------------------

def alerts_at_budget(day: Any, score: Any, budget: float) -> np.ndarray:
    """True for the top `budget` share (rounded up, at least one) of each day's transactions by score."""
    s = pd.Series(np.nan_to_num(np.asarray(score, dtype=float), nan=-np.inf))
    d = pd.Series(np.asarray(day))
    rank = s.groupby(d).rank(method="first", ascending=False)
    size = d.map(d.value_counts())
    cap = np.ceil(size.to_numpy() * budget).clip(min=1)
    return (rank.to_numpy() <= cap)


def at_budget(y_true: Any, day: Any, score: Any, budget: float, kind: Any = None) -> dict[str, float]:
    """Recall and precision of the daily top-`budget` alerts, alerts per day, and recall per fraud kind."""
    y = binary(y_true)
    flagged = alerts_at_budget(day, score, budget)
    hits = float((flagged & (y == 1)).sum())
    out = {"recall_at_budget": hits / y.sum() if y.sum() else float("nan"),
           "precision_at_budget": hits / flagged.sum() if flagged.sum() else float("nan"),
           "alerts": int(flagged.sum())}
    if kind is not None:
        k = pd.Series(np.asarray(kind, dtype=object))
        for name in sorted(k[y == 1].dropna().unique()):
            mine = (k == name).to_numpy() & (y == 1)
            out[f"recall_at_budget_{str(name).lower()}"] = float((flagged & mine).sum() / mine.sum())
    return out


def evaluate(y_true: Any, day: Any, score: Any, baseline: Any, budget: float, kind: Any = None) -> dict[str, float]:
    """PR-AUC and the alert-budget figures of the model and (prefixed `baseline_`) of the rules baseline."""
    y = binary(y_true)
    both = 0 < y.sum() < len(y)
    out: dict[str, float] = {"rows": int(len(y)), "positives": int(y.sum())}
    for prefix, s in (("", score), ("baseline_", baseline)):
        s = np.nan_to_num(np.asarray(s, dtype=float), nan=-np.inf)
        out[f"{prefix}pr_auc"] = float(average_precision_score(y, s)) if both else float("nan")
        out.update({f"{prefix}{k}": v for k, v in at_budget(y, day, s, budget, kind).items()})
    return out


def plot_pr(y: Any, curves: dict[str, Any], budget_points: dict[str, tuple[float, float]] | None = None):
    """Precision-recall curves of several scores on one panel, with each score's point at the alert budget."""
    yb = binary(y)
    fig = figure(6, 4.5)
    ax = fig.subplots()
    for name, s in curves.items():
        s = np.nan_to_num(np.asarray(s, dtype=float), nan=-np.inf)
        prec, rec, _ = precision_recall_curve(yb, s)
        line, = ax.plot(rec, prec, label=f"{name} (AP {average_precision_score(yb, s):.3f})")
        if budget_points and name in budget_points:
            r, p = budget_points[name]
            if not (math.isnan(r) or math.isnan(p)):
                ax.plot([r], [p], marker="o", color=line.get_color())
    ax.axhline(yb.mean(), color="grey", linestyle=":", label=f"fraud rate {yb.mean():.4f}")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (dots: at the daily alert budget)",
           xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="upper right", fontsize="small")
    return fig
