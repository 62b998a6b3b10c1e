"""The recommender as a model: item factors and the segment baseline, scoring any customer's current signals.

A customer's factors are solved from their signals at scoring time (the ALS user step, "fold-in"), so a
customer who opened a product yesterday is scored on it tonight without retraining, and customers unseen at
training are scored too. Because the user step is a least-squares solve, each score splits exactly into one
contribution per signal (score_i = sum_j c_j * y_i' A^-1 y_j): the largest contributions are the reasons.
For BPR factors the same solve is a projection onto the item space rather than BPR's own user step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from models.recommend.interactions import SIDE_PREFIX

OUTPUT_COLUMNS = ("customer_id", "product_id", "score", "reason_items", "reason_weights")


@dataclass
class FactorModel:
    algorithm: str                      # "als" or "bpr"
    item_ids: list[str]
    item_factors: np.ndarray            # (items, factors)
    regularization: float
    alpha: float                        # confidence = alpha * strength
    baseline: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # segment -> [(product, share)]
    reasons: int = 2                    # signals named per offer

    def __post_init__(self):
        self.item_factors = np.asarray(self.item_factors, dtype=np.float64)
        self._index = {item: i for i, item in enumerate(self.item_ids)}
        # offerable items (not side items), in product-id order so that equal scores rank the lower id first
        self._candidates = np.array(sorted((i for i, item in enumerate(self.item_ids)
                                            if not item.startswith(SIDE_PREFIX)), key=lambda i: self.item_ids[i]),
                                    dtype=np.int64)
        self._position = {self.item_ids[c]: n for n, c in enumerate(self._candidates)}
        self._names = np.array(self.item_ids, dtype=object)
        self._base = self.item_factors.T @ self.item_factors + self.regularization * np.eye(self.item_factors.shape[1])

    def signals(self, items_col, strengths_col) -> tuple[np.ndarray, np.ndarray]:
        """Each customer's known signals as padded (customers, widest) item indices and confidences
        (alpha x strength); unknown items and non-positive strengths are left out, padding has confidence 0."""
        rows = [[(self._index[i], float(s)) for i, s in zip(items, strengths) if s > 0 and i in self._index]
                for items, strengths in zip(items_col, strengths_col)]
        width = max((len(r) for r in rows), default=0) or 1
        idx, conf = np.zeros((len(rows), width), dtype=np.int64), np.zeros((len(rows), width))
        for n, r in enumerate(rows):
            if r:
                idx[n, : len(r)], conf[n, : len(r)] = zip(*r)
        return idx, self.alpha * conf

    def solve(self, idx: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ALS user step for a batch of customers: factors x (n, f) and A^-1 (n, f, f), where
        A = Y'Y + reg I + sum_j (c_j - 1) y_j y_j' and x = A^-1 sum_j c_j y_j over each customer's signals."""
        y = self.item_factors[idx]                                           # (n, signals, f)
        w = np.where(conf > 0, conf - 1.0, 0.0)
        a_inv = np.linalg.inv(self._base + np.einsum("nm,nmf,nmg->nfg", w, y, y, optimize=True))
        return np.einsum("nfg,ng->nf", a_inv, np.einsum("nm,nmf->nf", conf, y)), a_inv

    def user_factors(self, items: list[str], strengths: list[float]):
        """(x_u, A^-1, known item indices, confidences) for one customer; None when no signal is a known item."""
        idx, conf = self.signals([items], [strengths])
        known = conf[0] > 0
        if not known.any():
            return None
        x, a_inv = self.solve(idx, conf)
        return x[0], a_inv[0], idx[0][known], conf[0][known]

    def score(self, customer_id: str, items: list[str], strengths: list[float]) -> pd.DataFrame:
        """Every product's score for one customer with its strongest signals; empty for a cold-start customer."""
        return self.score_frame(pd.DataFrame({"customer_id": [customer_id], "items": [list(items)],
                                              "strengths": [list(strengths)]}))

    def score_frame(self, frame: pd.DataFrame, k: int | None = None, chunk: int = 2048) -> pd.DataFrame:
        """Rows of (customer_id, items, strengths[, eligible]) -> OUTPUT_COLUMNS: each customer's `k` best
        products (all when None), best first, among the row's `eligible` products when that column is given.
        Customers none of whose signals the model knows (cold start) get no rows. Solved in batches of `chunk`."""
        parts = [self._rank(frame.iloc[lo: lo + chunk], k) for lo in range(0, len(frame), chunk)]
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame({c: pd.Series([], dtype=np.float64 if c == "score" else object)
                                 for c in OUTPUT_COLUMNS})
        return pd.concat(parts, ignore_index=True)

    def _rank(self, frame: pd.DataFrame, k: int | None) -> pd.DataFrame:
        idx, conf = self.signals(frame["items"], frame["strengths"])
        warm = conf.max(axis=1) > 0
        if not warm.any():
            return pd.DataFrame()
        frame, idx, conf = frame[warm], idx[warm], conf[warm]
        x, a_inv = self.solve(idx, conf)
        y_c = self.item_factors[self._candidates]
        scores = x @ y_c.T                                                    # (n, candidates)
        if "eligible" in frame:
            allowed = np.zeros(scores.shape, dtype=bool)
            for n, products in enumerate(frame["eligible"]):
                allowed[n, [self._position[p] for p in products if p in self._position]] = True
            scores = np.where(allowed, scores, -np.inf)
        take = len(self._candidates) if k is None else min(k, len(self._candidates))
        order = np.argsort(-scores, axis=1, kind="stable")[:, :take]         # ties: lower product id first
        top = np.take_along_axis(scores, order, axis=1)
        # each offered product's score split into one contribution per signal: y_i' A^-1 y_j c_j
        contrib = np.einsum("nkf,nfg,nmg->nkm", y_c[order], a_inv, self.item_factors[idx], optimize=True)
        contrib = np.where(conf[:, None, :] > 0, contrib * conf[:, None, :], -np.inf)
        strongest = np.argsort(-contrib, axis=2, kind="stable")[:, :, : self.reasons]
        part = np.take_along_axis(contrib, strongest, axis=2)
        total = np.where(np.abs(top) > 1e-12, top, 1.0)[:, :, None]
        shares = np.round(part / np.where(np.isfinite(total), total, 1.0), 4)
        names = self._names[np.take_along_axis(np.broadcast_to(idx[:, None, :], contrib.shape), strongest, axis=2)]
        n, j = np.nonzero(np.isfinite(top))
        real = np.isfinite(part[n, j])                                        # (rows, reasons): fewer signals than reasons
        return pd.DataFrame({
            "customer_id": frame["customer_id"].to_numpy()[n],
            "product_id": self._names[self._candidates[order[n, j]]],
            "score": top[n, j],
            "reason_items": [r[m].tolist() for r, m in zip(names[n, j], real)],
            "reason_weights": [r[m].tolist() for r, m in zip(shares[n, j], real)]})

    # --- persistence: one .npz for the factors, one JSON for the rest ------------------------------------
    def save(self, folder: Path) -> dict[str, str]:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "item_factors.npz", item_factors=self.item_factors)
        meta = {"algorithm": self.algorithm, "item_ids": self.item_ids, "regularization": self.regularization,
                "alpha": self.alpha, "reasons": self.reasons,
                "baseline": {s: [[i, float(v)] for i, v in items] for s, items in self.baseline.items()}}
        (folder / "recommender.json").write_text(json.dumps(meta, indent=1))
        return {"factors": str(folder / "item_factors.npz"), "meta": str(folder / "recommender.json")}

    @classmethod
    def load(cls, factors: str, meta: str) -> "FactorModel":
        m = json.loads(Path(meta).read_text())
        with np.load(factors) as z:
            f = z["item_factors"]
        return cls(m["algorithm"], m["item_ids"], f, m["regularization"], m["alpha"],
                   {s: [(i, v) for i, v in items] for s, items in m["baseline"].items()}, m.get("reasons", 2))


class RecommenderModel(mlflow.pyfunc.PythonModel):
    """MLflow wrapper: input rows (customer_id, items, strengths) -> product scores with their reasons."""

    def __init__(self, factor_model: FactorModel | None = None):
        self.model = factor_model

    def load_context(self, context):
        self.model = FactorModel.load(context.artifacts["factors"], context.artifacts["meta"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.score_frame(model_input)


def input_example() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["C00000001"], "items": [["P0001", "ecom:TRAVEL"]],
                         "strengths": [[1.5, 0.4]]})
