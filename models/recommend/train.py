"""Fitting the factor models with `implicit`: ALS on confidences, BPR on the same matrix as a second candidate.

The matrix is one row per customer and item with a signal (customers x a few dozen items), small enough for
the driver at any bank size this lakehouse targets: 100k customers with ~10 signals each is 1M non-zeros.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from models.recommend.model import FactorModel


@dataclass(frozen=True)
class AlsParams:
    factors: int = 32
    regularization: float = 0.1
    alpha: float = 5.0
    iterations: int = 15
    random_state: int = 42
    num_threads: int = 0                # 0: every core
    use_cg: bool = False                # False: exact least squares per row (Cholesky); True: 3 conjugate-gradient steps


@dataclass(frozen=True)
class BprParams:
    factors: int = 32
    learning_rate: float = 0.05
    regularization: float = 0.01
    iterations: int = 200
    random_state: int = 42
    fold_in_alpha: float = 5.0          # the scoring-time user solve (see models.recommend.model)
    fold_in_regularization: float = 0.1
    num_threads: int = 0                # BPR's parallel updates race: only 1 thread repeats a run exactly


def params_dict(params) -> dict:
    return asdict(params)


def matrix(interactions: pd.DataFrame, items: list[str] | None = None) -> tuple[csr_matrix, list[str], list[str]]:
    """(customers x items CSR of strengths, customer ids, item ids) from rows of customer_id, item, strength."""
    customers = sorted(interactions["customer_id"].unique())
    items = items or sorted(interactions["item"].unique())
    c_index = {c: i for i, c in enumerate(customers)}
    i_index = {it: i for i, it in enumerate(items)}
    known = interactions[interactions["item"].isin(i_index)]
    rows = known["customer_id"].map(c_index).to_numpy()
    cols = known["item"].map(i_index).to_numpy()
    m = csr_matrix((known["strength"].to_numpy(dtype=np.float32), (rows, cols)),
                   shape=(len(customers), len(items)))
    m.sum_duplicates()
    return m, customers, items


def fit_als(user_items: csr_matrix, items: list[str], p: AlsParams,
            baseline: dict | None = None) -> FactorModel:
    from implicit.cpu.als import AlternatingLeastSquares

    with threadpool_limits(1, "blas"):  # implicit runs its own threads; BLAS threads on top only contend
        model = AlternatingLeastSquares(factors=p.factors, regularization=p.regularization, alpha=p.alpha,
                                        iterations=p.iterations, random_state=p.random_state,
                                        num_threads=p.num_threads, use_cg=p.use_cg)
        model.fit(user_items, show_progress=False)
    return FactorModel("als", items, np.asarray(model.item_factors), p.regularization, p.alpha, baseline or {})


def fit_bpr(user_items: csr_matrix, items: list[str], p: BprParams,
            baseline: dict | None = None) -> FactorModel:
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    with threadpool_limits(1, "blas"):
        model = BayesianPersonalizedRanking(factors=p.factors, learning_rate=p.learning_rate,
                                            regularization=p.regularization, iterations=p.iterations,
                                            random_state=p.random_state, num_threads=p.num_threads)
        model.fit(user_items, show_progress=False)
    return FactorModel("bpr", items, np.asarray(model.item_factors), p.fold_in_regularization, p.fold_in_alpha,
                       baseline or {})


FITTERS = {"als": (AlsParams, fit_als), "bpr": (BprParams, fit_bpr)}
