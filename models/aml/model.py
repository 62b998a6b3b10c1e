"""The AML customer risk score on pandas: rule severity, an Isolation Forest over the typology features, and a
boosting on reported cases when there are enough, blended with the weights in conf/ (models.aml.weights).

- The rules score comes with the frame (models.aml.rules, applied in Spark): explainable, and enough alone.
- The anomaly part needs no labels: an Isolation Forest fitted on the training snapshots, its raw score turned
  into a percentile of them (1 = more unusual than any).
- The supervised part learns which snapshots preceded a case later reported (labels known at the cut-off
  only); without min_positives of them it is left out and the weights are renormalised over the other two.
Nothing here imports Spark or MLflow: `AmlModel` pickles and scores a pandas batch inside `mapInPandas`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest

from models.tabular import as_matrix, check_classes, check_features, labels, threads


@dataclass(frozen=True)
class AmlParams:
    rules_weight: float = 0.6
    anomaly_weight: float = 0.2
    supervised_weight: float = 0.2
    learning_rate: float = 0.05
    max_iter: int = 150
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 10
    l2_regularization: float = 1.0
    n_estimators: int = 200
    max_samples: int = 512
    random_state: int = 42
    score_threads: int | None = 1

    def __post_init__(self):
        if min(self.rules_weight, self.anomaly_weight, self.supervised_weight) < 0:
            raise ValueError("AML weights must be >= 0")
        if self.rules_weight + self.anomaly_weight <= 0:
            raise ValueError("AML weights: rules and anomaly cannot both be 0 (the supervised part may be absent)")


@dataclass
class AmlModel:
    features: tuple[str, ...]
    anomaly: IsolationForest
    anomaly_reference: np.ndarray      # sorted raw anomaly scores of the training snapshots
    supervised: HistGradientBoostingClassifier | None
    params: AmlParams
    fit_rows: int = 0
    fit_positives: int = 0

    @property
    def weights(self) -> tuple[float, float, float]:
        p = self.params
        s = p.supervised_weight if self.supervised is not None else 0.0
        total = p.rules_weight + p.anomaly_weight + s
        return p.rules_weight / total, p.anomaly_weight / total, s / total

    def parts(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per row: anomaly percentile, supervised probability (NaN without that part) and the risk score.
        `frame` holds the model's features and `rules_score`."""
        if len(frame) == 0:
            return pd.DataFrame({"anomaly_score": [], "supervised_score": [], "risk_score": []}, dtype=float)
        check_features(frame, self.features)
        x = as_matrix(frame, self.features)
        rules = frame["rules_score"].astype("float64").fillna(0.0).to_numpy()
        with threads(self.params.score_threads):
            raw = -self.anomaly.score_samples(np.nan_to_num(x, nan=0.0))
            a = np.searchsorted(self.anomaly_reference, raw, side="right") / max(1, len(self.anomaly_reference))
            p = self.supervised.predict_proba(x)[:, 1] if self.supervised is not None else np.full(len(x), np.nan)
        wr, wa, ws = self.weights
        risk = wr * rules + wa * a + (ws * p if self.supervised is not None else 0.0)
        return pd.DataFrame({"anomaly_score": a, "supervised_score": p, "risk_score": risk})


def fit_aml(frame: pd.DataFrame, features: Sequence[str], label: str | None, params: AmlParams,
            min_positives: int) -> AmlModel:
    """The anomaly part on every row; the supervised part when `label` has at least `min_positives` positives."""
    features = tuple(features)
    if len(frame) == 0:
        raise ValueError("aml: no training snapshots")
    check_features(frame, features)
    x = as_matrix(frame, features)
    filled = np.nan_to_num(x, nan=0.0)
    forest = IsolationForest(n_estimators=params.n_estimators, max_samples=min(params.max_samples, len(frame)),
                             random_state=params.random_state)
    forest.fit(filled)
    reference = np.sort(-forest.score_samples(filled))
    supervised, positives = None, 0
    if label is not None:
        y = labels(frame, label)
        positives = int(y.sum())
        if positives >= min_positives:
            check_classes(y, "the supervised AML model")
            supervised = HistGradientBoostingClassifier(
                learning_rate=params.learning_rate, max_iter=params.max_iter, max_leaf_nodes=params.max_leaf_nodes,
                min_samples_leaf=params.min_samples_leaf, l2_regularization=params.l2_regularization,
                class_weight="balanced", random_state=params.random_state)
            supervised.fit(x, y)
    return AmlModel(features, forest, reference, supervised, params, len(frame), positives)
