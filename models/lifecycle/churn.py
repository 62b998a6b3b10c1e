"""Churn propensity on pandas: a gradient-boosted classifier, a time-ordered calibrator, per-customer drivers,
and the evaluation against the recency baseline.

The caller (Spark) builds the point-in-time frame — one row per (customer_id, as_of_date), numeric features,
a 0/1 label — and decides what "churned" means; this module only fits, calibrates, explains and evaluates.
Nothing here imports Spark or MLflow: `ChurnModel` pickles, and `predict_proba` / `drivers` are vectorised
over a pandas batch so they run inside `mapInPandas`. Features may hold NaN (the boosting handles it natively).

Calibration is fitted on the latest as-of dates, never on a random sample, because the model is applied
forward in time: the calibrator learns the most recent base rate and corrects the drift the boosting (fitted
on older dates) cannot see. The boosting is then refitted on every date (`refit`), the latest included: they
are the most like the dates it will score, and with a short history they are a large share of the positives.
The calibrator, fitted on scores the first boosting had not seen, maps the refitted boosting's scores of
unseen customers alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from models.tabular import as_matrix, binary, check_classes, check_features, figure, labels, threads

CALIBRATIONS = ("isotonic", "sigmoid")


@dataclass(frozen=True)
class ChurnParams:
    """Boosting hyper-parameters (sklearn HistGradientBoostingClassifier) and the calibration set-up.

    `early_stopping` is off by default: with a fixed learning rate and `max_iter` the fit is reproducible and
    uses all of the earlier dates; when on, the boosting holds out `validation_fraction` of the fitting rows
    (a random, seeded split inside the fitting dates) and stops after `n_iter_no_change` rounds without gain.
    `calibration_share` is the share of rows, taken from the latest as-of dates, that fits the calibrator.

    Threads: the boosting runs on OpenMP, whose workers spin-wait and slow down many-fold when the cores are
    shared. `fit_threads` caps the fit (None = the OpenMP default, all cores: right for a driver of its own);
    `score_threads` caps scoring, 1 by default because Spark already runs one Python worker per task slot.
    """

    learning_rate: float = 0.05
    max_iter: int = 300
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 50
    l2_regularization: float = 1.0
    early_stopping: bool = False
    validation_fraction: float = 0.1
    n_iter_no_change: int = 20
    random_state: int = 42
    calibration: str = "sigmoid"
    calibration_share: float = 0.2
    refit: bool = True
    fit_threads: int | None = None
    score_threads: int | None = 1

    def __post_init__(self):
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {self.calibration!r}")
        if not 0.0 < self.calibration_share < 1.0:
            raise ValueError(f"calibration_share must be in (0, 1), got {self.calibration_share}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        for name in ("fit_threads", "score_threads"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be None or >= 1")

    def estimator(self) -> HistGradientBoostingClassifier:
        """An unfitted classifier with these hyper-parameters."""
        return HistGradientBoostingClassifier(
            learning_rate=self.learning_rate, max_iter=self.max_iter, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
            early_stopping=self.early_stopping, validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change, random_state=self.random_state)


@dataclass
class ChurnModel:
    """A fitted churn model: boosting on raw features, then a calibrator on its raw score (log-odds).

    `split` is "time" (the calibrator saw the as-of dates from `calibration_from` on, scored by a boosting of the
    dates before) or "hash" (a single as-of date: rows split by a hash of their values). `fit_rows` counts the
    rows `estimator` was fitted on: all of them when `params.refit`. `reference` holds the
    per-feature medians of the training frame, the "typical customer" the drivers compare against.
    """

    features: tuple[str, ...]
    estimator: HistGradientBoostingClassifier
    calibrator: Any
    calibration: str
    reference: dict[str, float]
    split: str
    calibration_from: Any = None
    fit_rows: int = 0
    calibration_rows: int = 0
    params: ChurnParams = field(default_factory=ChurnParams)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The feature matrix (float64, NaN for nulls) in the model's column order; extra columns are ignored."""
        check_features(frame, self.features)
        return as_matrix(frame, self.features)

    def raw_score(self, x: np.ndarray) -> np.ndarray:
        """The boosting's log-odds for a feature matrix."""
        return np.asarray(self.estimator.decision_function(x), dtype=float).ravel()

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        if self.calibration == "isotonic":
            p = self.calibrator.predict(raw)
        else:
            p = self.calibrator.predict_proba(raw.reshape(-1, 1))[:, 1]
        return np.clip(np.asarray(p, dtype=float), 0.0, 1.0)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        return self._calibrate(self.raw_score(x))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probability per row, in [0, 1]."""
        if len(frame) == 0:
            return np.empty(0, dtype=float)
        x = self.matrix(frame)
        with threads(self.params.score_threads):
            return self._proba(x)

    def effects(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per row and feature: p(x) - p(x with that feature alone set to its reference median).

        Positive = the customer's value of the feature pushes the churn probability up versus a typical value.
        One batched predict per feature (rows x features scores in all). This is a one-at-a-time perturbation,
        not SHAP: interactions are not shared out, and an isotonic calibrator's flat steps can hide small moves.
        """
        x = self.matrix(frame)
        out = np.zeros_like(x)
        if len(x) == 0:
            return pd.DataFrame(out, columns=list(self.features), index=frame.index)
        with threads(self.params.score_threads):
            base = self._proba(x)
            for j, name in enumerate(self.features):
                kept = x[:, j].copy()
                x[:, j] = self.reference[name]
                out[:, j] = base - self._proba(x)
                x[:, j] = kept
        return pd.DataFrame(out, columns=list(self.features), index=frame.index)

    def drivers(self, frame: pd.DataFrame, top: int = 3, min_effect: float = 0.0) -> list[list[tuple[str, float]]]:
        """Per row, up to `top` (feature, effect) pairs with effect > `min_effect`, largest first (see `effects`)."""
        eff = self.effects(frame).to_numpy()
        names = self.features
        order = np.argsort(-eff, axis=1, kind="stable")[:, :max(top, 0)]
        result: list[list[tuple[str, float]]] = []
        for i in range(eff.shape[0]):
            row = [(names[j], float(eff[i, j])) for j in order[i] if eff[i, j] > min_effect]
            result.append(row)
        return result


def _row_hash_share(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """A deterministic value in [0, 1) per row from its contents (independent of row order and index)."""
    h = pd.util.hash_pandas_object(frame[list(columns)], index=False).to_numpy(dtype=np.uint64)
    return (h % np.uint64(1_000_003)).astype(float) / 1_000_003.0


def _time_split(times: pd.Series, share: float) -> tuple[np.ndarray, Any]:
    """Mask of calibration rows: the latest as-of dates whose row share is closest to `share` (at least one date,
    never all of them), and the first date of that part."""
    counts = times.value_counts().sort_index()
    tail = counts.iloc[::-1].cumsum().to_numpy() / len(times)  # share of rows from the k latest dates, k = 1..n
    k = int(np.argmin(np.abs(tail[:-1] - share))) + 1
    boundary = counts.index[-k]
    return (times >= boundary).to_numpy(), boundary


def fit_churn(frame: pd.DataFrame, features: Sequence[str], label: str = "churned",
              time_col: str | None = "as_of_date", params: ChurnParams | None = None) -> ChurnModel:
    """Fit the boosting on the earlier as-of dates and the calibrator on the latest `calibration_share` of rows,
    then (with `params.refit`) the boosting again on every row.

    With a single as-of date (or `time_col=None`) the calibration rows are chosen by a deterministic hash of
    each row instead, and the model records `split="hash"`. Raises ValueError for a missing or non-numeric
    feature, a label that is not 0/1, or too few positives / negatives in either part.
    """
    params = params or ChurnParams()
    features = tuple(features)
    if not features:
        raise ValueError("features must name at least one column")
    if len(set(features)) != len(features):
        raise ValueError("features contain duplicates")
    check_features(frame, features)
    y = labels(frame, label)
    check_classes(y, "the training frame")
    x = as_matrix(frame, features)

    times = None
    if time_col is not None:
        if time_col not in frame.columns:
            raise ValueError(f"time column {time_col!r} missing from the frame (pass time_col=None to split by hash)")
        times = frame[time_col]
        if times.isna().any():
            raise ValueError(f"time column {time_col!r} has null(s)")
    boundary = None
    if times is not None and times.nunique() > 1:
        calib, boundary = _time_split(times, params.calibration_share)
        split = "time"
    else:
        calib = _row_hash_share(frame, [*features, label]) < params.calibration_share
        split = "hash"
    fit_rows = ~calib
    check_classes(y[fit_rows], f"the boosting part ({split} split)")
    check_classes(y[calib], f"the calibration part ({split} split)")

    with threads(params.fit_threads):
        estimator = params.estimator().fit(x[fit_rows], y[fit_rows])
        raw = np.asarray(estimator.decision_function(x[calib]), dtype=float).ravel()
        if params.refit:
            estimator = params.estimator().fit(x, y)
    if params.calibration == "isotonic":
        calibrator: Any = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y[calib])
    else:  # Platt scaling: a (barely regularised) logistic regression on the log-odds
        calibrator = LogisticRegression(C=1e4).fit(raw.reshape(-1, 1), y[calib])

    with warnings.catch_warnings():  # an all-null feature has a NaN median: its driver effect is vs. "missing"
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nanmedian(x, axis=0)
    reference = {f: float(m) for f, m in zip(features, medians)}
    return ChurnModel(features=features, estimator=estimator, calibrator=calibrator, calibration=params.calibration,
                      reference=reference, split=split, calibration_from=boundary,
                      fit_rows=len(y) if params.refit else int(fit_rows.sum()),
                      calibration_rows=int(calib.sum()), params=params)


# --- evaluation -------------------------------------------------------------------------------------------------

def top_decile_lift(y_true: Any, score: Any, share: float = 0.1) -> float:
    """Positive rate among the top `share` of rows by score, over the overall positive rate.

    Ties at the cut are shared out pro rata (the expected value under a random tie-break), so a coarse score
    such as recency in days is not flattered or penalised by the row order.
    """
    y = binary(y_true)
    s = np.asarray(score, dtype=float).ravel()
    n = len(y)
    if n == 0 or y.sum() == 0:
        return float("nan")
    k = max(1, int(np.ceil(share * n)))
    s = np.where(np.isnan(s), -np.inf, s)
    cut = np.sort(s)[::-1][k - 1]
    above = s > cut
    at = s == cut
    taken = (y[above].sum() + y[at].sum() * (k - above.sum()) / at.sum()) / k
    return float(taken / y.mean())


def evaluate(y_true: Any, p: Any, baseline_score: Any = None) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), top-decile lift, Brier score, positives and rows for the model's
    probabilities `p`; with `baseline_score` also the baseline's ROC-AUC, PR-AUC and lift (a ranking score, not a
    probability, so no Brier). AUCs are NaN when `y_true` holds a single class."""
    y = binary(y_true)
    p = np.asarray(p, dtype=float).ravel()
    if len(p) != len(y):
        raise ValueError(f"y_true has {len(y)} rows but p has {len(p)}")
    both = 0 < y.sum() < len(y)
    out: dict[str, float] = {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "lift_top_decile": top_decile_lift(y, p),
        "brier": float(np.mean((p - y) ** 2)) if len(y) else float("nan"),
        "positives": int(y.sum()),
        "rows": int(len(y)),
    }
    if baseline_score is not None:
        b = np.asarray(baseline_score, dtype=float).ravel()
        if len(b) != len(y):
            raise ValueError(f"y_true has {len(y)} rows but baseline_score has {len(b)}")
        b = np.where(np.isnan(b), -np.inf, b)
        out["baseline_roc_auc"] = float(roc_auc_score(y, b)) if both else float("nan")
        out["baseline_pr_auc"] = float(average_precision_score(y, b)) if both else float("nan")
        out["baseline_lift_top_decile"] = top_decile_lift(y, b)
    return out


def calibration_curve(y_true: Any, p: Any, bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """(bin, mean_predicted, observed_rate, count) per non-empty bin of predicted probability.

    "quantile" (default) bins hold about equal row counts — churn probabilities bunch near zero, so uniform
    bins would leave the tail with a handful of rows; ties can merge quantile edges, giving fewer bins.
    "uniform" cuts [0, 1] into `bins` equal widths. Counts sum to the number of rows.
    """
    y = binary(y_true)
    p = np.asarray(p, dtype=float).ravel()
    if len(p) != len(y):
        raise ValueError(f"y_true has {len(y)} rows but p has {len(p)}")
    if bins < 1:
        raise ValueError("bins must be >= 1")
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1))) if len(p) else np.array([0.0, 1.0])
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, bins + 1)
    else:
        raise ValueError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
    idx = np.searchsorted(edges[1:-1], p, side="right")
    table = (pd.DataFrame({"bin": idx, "p": p, "y": y})
             .groupby("bin", sort=True)
             .agg(mean_predicted=("p", "mean"), observed_rate=("y", "mean"), count=("y", "size"))
             .reset_index())
    table["count"] = table["count"].astype(int)
    return table[["bin", "mean_predicted", "observed_rate", "count"]]


def recency_baseline(frame: pd.DataFrame, recency_col: str = "recency_days") -> np.ndarray:
    """The named baseline: days since the last activity as the churn score (higher = more likely to churn);
    a null (no activity seen) scores as the largest observed recency."""
    if recency_col not in frame.columns:
        raise ValueError(f"recency column {recency_col!r} missing from the frame")
    r = frame[recency_col].astype("float64").to_numpy(dtype="float64", na_value=np.nan)
    seen = r[~np.isnan(r)]
    return np.where(np.isnan(r), seen.max() if len(seen) else 0.0, r)


# --- figures (matplotlib imported lazily: scoring workers need not have it) --------------------------------------

def plot_pr_roc(y: Any, p: Any, p_baseline: Any = None):
    """Two panels, precision-recall and ROC, the model against the baseline (if given). Returns the Figure."""
    yb = binary(y)
    fig = figure(10, 4.2)
    ax_pr, ax_roc = fig.subplots(1, 2)
    curves = [("model", np.asarray(p, dtype=float))]
    if p_baseline is not None:
        b = np.asarray(p_baseline, dtype=float)
        curves.append(("recency baseline", np.where(np.isnan(b), -np.inf, b)))
    for name, s in curves:
        prec, rec, _ = precision_recall_curve(yb, s)
        ax_pr.plot(rec, prec, label=f"{name} (AP {average_precision_score(yb, s):.3f})")
        fpr, tpr, _ = roc_curve(yb, s)
        ax_roc.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(yb, s):.3f})")
    ax_pr.axhline(yb.mean(), color="grey", linestyle=":", label=f"base rate {yb.mean():.3f}")
    ax_pr.set(xlabel="recall", ylabel="precision", title="Precision-recall", xlim=(0, 1), ylim=(0, 1.02))
    ax_roc.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC", xlim=(0, 1), ylim=(0, 1.02))
    ax_pr.legend(loc="upper right", fontsize="small")
    ax_roc.legend(loc="lower right", fontsize="small")
    return fig


def plot_calibration(curve: pd.DataFrame):
    """Reliability diagram from `calibration_curve`: observed rate against mean predicted probability per bin."""
    fig = figure(5, 5)
    ax = fig.subplots()
    top = float(max(curve["mean_predicted"].max(), curve["observed_rate"].max(), 0.05)) if len(curve) else 1.0
    top = min(1.0, top * 1.05)
    ax.plot([0, top], [0, top], color="grey", linestyle=":", label="perfect calibration")
    ax.plot(curve["mean_predicted"], curve["observed_rate"], marker="o", label="model")
    ax.set(xlabel="mean predicted probability", ylabel="observed churn rate", title="Calibration",
           xlim=(0, top), ylim=(0, top))
    ax.legend(loc="upper left", fontsize="small")
    return fig
