"""Customer lifetime value as a model: fitted BG/NBD and Gamma-Gamma parameters with the time unit they are in.

`fit_clv` fits both on a repeat-purchase summary (`models.lifecycle.summary`), `ClvModel.score` turns any
customer's summary into P(alive), expected purchases and the present value of expected spend over a horizon,
and `holdout_metrics` compares predicted with actual purchases after calibration, next to the run-rate
baseline (each customer keeps buying at their calibration-period rate: frequency / T).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.lifecycle.btyd import BgNbd, GammaGamma, discounted_value
from models.lifecycle.summary import unit_days

BASELINE = "run_rate"
INPUT_COLUMNS = ("frequency", "recency", "T", "monetary_value")
OUTPUT_COLUMNS = ("p_alive", "expected_purchases", "expected_spend", "discounted_spend")


@dataclass(frozen=True)
class Horizon:
    """How far ahead to predict and how to discount, in calendar terms; `periods` converts to the model's unit."""
    months: int = 12
    annual_discount_rate: float = 0.10

    def periods(self, unit: str) -> tuple[float, float]:
        """(horizon in time units, discount rate per time unit)."""
        days = unit_days(unit)
        return self.months * 365.25 / 12 / days, (1 + self.annual_discount_rate) ** (days / 365.25) - 1


@dataclass(frozen=True)
class ClvModel:
    bgnbd: BgNbd
    gamma_gamma: GammaGamma
    time_unit: str
    horizon: Horizon = Horizon()

    def params(self) -> dict[str, float]:
        """The MLflow parameter names every CLV run logs."""
        b, g = self.bgnbd, self.gamma_gamma
        return {"bgnbd_r": b.r, "bgnbd_alpha": b.alpha, "bgnbd_a": b.a, "bgnbd_b": b.b,
                "gg_p": g.p, "gg_q": g.q, "gg_v": g.v}

    def score(self, frame: pd.DataFrame, horizon: Horizon | None = None) -> pd.DataFrame:
        """Rows with INPUT_COLUMNS (in this model's time unit) -> OUTPUT_COLUMNS, in the same order: P(alive),
        purchases expected over the horizon, expected spend per purchase, present value of the expected spend."""
        horizon = horizon or self.horizon
        t, rate = horizon.periods(self.time_unit)
        x, t_x, age, m = (frame[c].to_numpy(dtype=np.float64) for c in INPUT_COLUMNS)
        spend = self.gamma_gamma.expected_spend(x, m)
        purchases = self.bgnbd.expected_purchases(t, x, t_x, age)
        # each step is one time unit, except that a monthly model steps by month and a daily one by week
        step = 7.0 if self.time_unit == "day" else 1.0
        value = discounted_value(self.bgnbd, self.gamma_gamma, x, t_x, age, m, t, (1 + rate) ** step - 1, step)
        return pd.DataFrame({"p_alive": self.bgnbd.p_alive(x, t_x, age), "expected_purchases": purchases,
                             "expected_spend": spend, "discounted_spend": value})

    def save(self, folder: Path) -> dict[str, str]:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "clv.json"
        path.write_text(json.dumps({"bgnbd": asdict(self.bgnbd), "gamma_gamma": asdict(self.gamma_gamma),
                                    "time_unit": self.time_unit, "horizon": asdict(self.horizon)}, indent=1))
        return {"clv": str(path)}

    @classmethod
    def load(cls, path: str) -> "ClvModel":
        m = json.loads(Path(path).read_text())
        return cls(BgNbd(**m["bgnbd"]), GammaGamma(**m["gamma_gamma"]), m["time_unit"], Horizon(**m["horizon"]))


def fit_clv(summary: pd.DataFrame, time_unit: str, horizon: Horizon = Horizon()) -> tuple[ClvModel, dict[str, float]]:
    """Fit BG/NBD on every customer's (frequency, recency, T) and Gamma-Gamma on the repeat buyers' spend.
    Returns the model and fit statistics (log-likelihoods, customers, repeat buyers)."""
    if summary.empty:
        raise ValueError("no customers with a purchase in the calibration period: nothing to fit CLV on")
    counts = summary.groupby(["frequency", "recency", "T"], sort=False).size().reset_index(name="n")
    bg = BgNbd.fit_with_ll(counts["frequency"], counts["recency"], counts["T"], weights=counts["n"])
    repeat = summary[summary["frequency"] > 0]
    gg = GammaGamma.fit_with_ll(repeat["frequency"], repeat["monetary_value"])
    stats = {"bgnbd_log_likelihood": bg.log_likelihood, "gg_log_likelihood": gg.log_likelihood,
             "customers": float(len(summary)), "repeat_buyers": float(len(repeat))}
    return ClvModel(bg.model, gg.model, time_unit, horizon), stats


def holdout_metrics(model: ClvModel, frame: pd.DataFrame) -> tuple[dict[str, float], dict[str, float], pd.DataFrame]:
    """Predicted vs actual purchases (and spend) after calibration, for the model and the run-rate baseline.

    `frame`: INPUT_COLUMNS, frequency_holdout, value_holdout and duration_holdout (time units). Returns the
    model's metrics, the baseline's (same names) and the conditional-expectation table: mean actual and
    predicted holdout purchases by calibration frequency (0 .. 7, 8+), the papers' chart."""
    x, t_x, age, m = (frame[c].to_numpy(dtype=np.float64) for c in INPUT_COLUMNS)
    duration = float(frame["duration_holdout"].iloc[0])
    actual = frame["frequency_holdout"].to_numpy(dtype=np.float64)
    predicted = model.bgnbd.expected_purchases(duration, x, t_x, age)
    run_rate = np.where(age > 0, x / np.maximum(age, 1e-9), 0.0) * duration
    spend_actual = frame["value_holdout"].to_numpy(dtype=np.float64)
    spend_model = predicted * model.gamma_gamma.expected_spend(x, m)
    spend_base = run_rate * np.where(x > 0, m, np.nan)
    spend_base = np.where(np.isnan(spend_base), 0.0, spend_base)

    def metrics(pred: np.ndarray, spend: np.ndarray) -> dict[str, float]:
        total = actual.sum()
        return {"mae_purchases": float(np.mean(np.abs(pred - actual))),
                "rmse_purchases": float(np.sqrt(np.mean((pred - actual) ** 2))),
                "total_purchases_ratio": float(pred.sum() / total) if total > 0 else float("nan"),
                "corr_purchases": float(np.corrcoef(pred, actual)[0, 1]) if len(actual) > 1 else float("nan"),
                "mae_spend": float(np.mean(np.abs(spend - spend_actual)))}

    bins = np.minimum(x, 8).astype(int)
    table = (pd.DataFrame({"frequency": bins, "actual": actual, "bgnbd": predicted, BASELINE: run_rate})
             .groupby("frequency").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                       bgnbd=("bgnbd", "mean"), run_rate=(BASELINE, "mean")).reset_index())
    table["frequency"] = table["frequency"].map(lambda f: f"{f}+" if f == 8 else str(f))
    return metrics(predicted, spend_model), metrics(run_rate, spend_base), table
