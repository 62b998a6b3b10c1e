"""Helpers every tabular (pandas + scikit-learn) model family shares: feature matrices, 0/1 labels, OpenMP
thread caps and matplotlib figures made without pyplot. No Spark, no MLflow."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

MIN_CLASS_ROWS = 2  # fewer positives (or negatives) than this and there is nothing to learn


def threads(n: int | None) -> AbstractContextManager:
    """Cap OpenMP threads (the boosting's) for a block; None leaves the library default."""
    return nullcontext() if n is None else threadpool_limits(limits=n, user_api="openmp")


def check_features(frame: pd.DataFrame, features: Sequence[str]) -> None:
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise ValueError(f"feature column(s) missing from the frame: {missing}")
    bad = [f"{f} ({frame[f].dtype})" for f in features
           if not (pd.api.types.is_numeric_dtype(frame[f]) or pd.api.types.is_bool_dtype(frame[f]))]
    if bad:
        raise ValueError(f"feature column(s) must be numeric (int, float or bool), got: {bad}")


def as_matrix(frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """float64 matrix; pd.NA (nullable Int64 / Float64 / boolean) and +-inf (e.g. a ratio over zero) become NaN,
    which the boosting treats as missing."""
    x = np.empty((len(frame), len(features)), dtype="float64")
    for j, f in enumerate(features):
        x[:, j] = frame[f].astype("float64").to_numpy(dtype="float64", na_value=np.nan)
    x[np.isinf(x)] = np.nan
    return x


def labels(frame: pd.DataFrame, label: str) -> np.ndarray:
    if label not in frame.columns:
        raise ValueError(f"label column {label!r} missing from the frame")
    y = frame[label]
    if y.isna().any():
        raise ValueError(f"label column {label!r} has {int(y.isna().sum())} null(s); it must be 0/1")
    try:
        values = y.astype("float64").to_numpy()
    except (TypeError, ValueError):
        raise ValueError(f"label column {label!r} must be 0/1, got dtype {y.dtype}") from None
    odd = set(np.unique(values)) - {0.0, 1.0}
    if odd:
        raise ValueError(f"label column {label!r} must be 0/1, found other values: {sorted(odd)[:5]}")
    return values.astype(np.int8)


def check_classes(y: np.ndarray, where: str) -> None:
    pos = int(y.sum())
    neg = int(len(y) - pos)
    if pos < MIN_CLASS_ROWS or neg < MIN_CLASS_ROWS:
        raise ValueError(f"{where} needs at least {MIN_CLASS_ROWS} positives and {MIN_CLASS_ROWS} negatives, "
                         f"got {pos} positive(s) and {neg} negative(s) in {len(y)} rows")


def binary(y_true: Any) -> np.ndarray:
    y = np.asarray(y_true, dtype=float).ravel()
    if np.isnan(y).any() or not set(np.unique(y)) <= {0.0, 1.0}:
        raise ValueError("y_true must be 0/1 without nulls")
    return y


def figure(width: float, height: float):
    """A Figure on the Agg canvas, made without pyplot: no global backend switch, nothing left open in pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig
