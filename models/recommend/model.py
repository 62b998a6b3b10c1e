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
        self._candidates = np.flatnonzero([not i.startswith(SIDE_PREFIX) for i in self.item_ids])
        self._yty = self.item_factors.T @ self.item_factors

    def user_factors(self, items: list[str], strengths: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(x_u, A^-1, known item indices, confidences) for one customer; None when no signal is a known item."""
        pairs = [(self._index[i], s) for i, s in zip(items, strengths) if i in self._index and s > 0]
        if not pairs:
            return None
        idx = np.array([p[0] for p in pairs])
        conf = self.alpha * np.array([p[1] for p in pairs], dtype=np.float64)
        y = self.item_factors[idx]
        a = self._yty + self.regularization * np.eye(len(self._yty)) + (y.T * (conf - 1.0)) @ y
        a_inv = np.linalg.inv(a)
        b = (y.T * conf).sum(axis=1)
        return a_inv @ b, a_inv, idx, conf

    def _scores(self, items: list[str], strengths: list[float]):
        """(scores of every product, the reason items per product, their shares of the score), or None."""
        solved = self.user_factors(items, strengths)
        if solved is None:
            return None
        x, a_inv, idx, conf = solved
        y_c = self.item_factors[self._candidates]
        scores = y_c @ x
        contrib = (y_c @ a_inv @ self.item_factors[idx].T) * conf          # (candidates, signals)
        top = np.argsort(-contrib, axis=1)[:, : self.reasons]
        total = np.where(np.abs(scores) > 1e-12, scores, 1.0)
        names = np.array(self.item_ids, dtype=object)[idx]
        shares = np.round(np.take_along_axis(contrib, top, axis=1) / total[:, None], 4)
        return scores, [list(names[t]) for t in top], [list(r) for r in shares]

    def score(self, customer_id: str, items: list[str], strengths: list[float]) -> pd.DataFrame:
        """Every product's score for one customer with its strongest signals; empty for a cold-start customer."""
        return self.score_frame(pd.DataFrame({"customer_id": [customer_id], "items": [list(items)],
                                              "strengths": [list(strengths)]}))

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of (customer_id, items, strengths) -> OUTPUT_COLUMNS, one row per customer and product."""
        products = [self.item_ids[c] for c in self._candidates]
        ids, prods, scores, reasons, weights = [], [], [], [], []
        for r in frame.itertuples(index=False):
            got = self._scores(list(r.items), list(r.strengths))
            if got is None:
                continue
            ids.extend([r.customer_id] * len(products))
            prods.extend(products)
            scores.append(got[0])
            reasons.extend(got[1])
            weights.extend(got[2])
        return pd.DataFrame({"customer_id": pd.Series(ids, dtype=object), "product_id": pd.Series(prods, dtype=object),
                             "score": np.concatenate(scores) if scores else np.array([], dtype=np.float64),
                             "reason_items": pd.Series(reasons, dtype=object),
                             "reason_weights": pd.Series(weights, dtype=object)})

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
