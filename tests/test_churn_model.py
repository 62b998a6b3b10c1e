"""Churn model core on a synthetic bank: beats the recency baseline forward in time, calibrated on the latest
dates, explains a customer by the feature that is off, pickles, and refuses bad input clearly. No Spark."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pandas as pd
import pytest

from models.lifecycle.churn import (ChurnModel, ChurnParams, calibration_curve, evaluate, fit_churn, plot_calibration,
                                    plot_pr_roc, recency_baseline, top_decile_lift)

FEATURES = ["recency_days", "aum", "aum_change_90d", "complaints_open", "tenure_months", "txn_count_30d",
            "products_held", "noise_1", "noise_2", "noise_3"]
DATES = pd.date_range("2024-01-31", periods=6, freq="ME")
# One OpenMP thread: the test machine is shared, and OpenMP workers spin-wait many times slower under contention.
PARAMS = ChurnParams(fit_threads=1)


def synthetic_frame(customers: int = 3000, seed: int = 7) -> pd.DataFrame:
    """Monthly as-of dates x customers; churn rises steeply past ~45 days of inactivity, with a large AUM drop
    and with open complaints for young relationships; recency alone ranks well but misses the other two."""
    rng = np.random.default_rng(seed)
    parts = []
    for as_of in DATES:
        n = customers
        recency = rng.exponential(30.0, n).round()
        change = rng.normal(0.0, 0.08, n)
        drop = rng.random(n) < 0.08
        change[drop] = rng.uniform(-0.9, -0.3, drop.sum())
        complaints = rng.poisson(0.25, n)
        tenure = rng.integers(1, 241, n)
        products = rng.integers(1, 7, n)
        noise = rng.normal(size=(n, 3))
        logit = (-3.9 + 1.8 / (1 + np.exp(-(recency - 45) / 6)) + 2.6 * (change < -0.3)
                 + 1.0 * np.minimum(complaints, 3) * (tenure < 24) + 0.6 * (products == 1))
        never = rng.random(n) < 0.03           # no activity seen: null recency, and more likely to leave
        logit = logit + 1.2 * never
        recency[never] = np.nan
        change[rng.random(n) < 0.05] = np.nan
        noise[rng.random((n, 3)) < 0.1] = np.nan
        complaints_col = pd.array(complaints, dtype="Int64")
        complaints_col[rng.random(n) < 0.02] = pd.NA
        parts.append(pd.DataFrame({
            "customer_id": np.arange(n), "as_of_date": as_of, "recency_days": recency,
            "aum": rng.lognormal(9.0, 1.2, n), "aum_change_90d": change, "complaints_open": complaints_col,
            "tenure_months": tenure, "txn_count_30d": rng.poisson(12 * np.exp(-np.nan_to_num(recency, nan=365) / 60)),
            "products_held": products, "noise_1": noise[:, 0], "noise_2": noise[:, 1], "noise_3": noise[:, 2],
            "churned": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_frame()


@pytest.fixture(scope="module")
def train(frame) -> pd.DataFrame:
    return frame[frame["as_of_date"] < DATES[-1]].reset_index(drop=True)


@pytest.fixture(scope="module")
def holdout(frame) -> pd.DataFrame:
    return frame[frame["as_of_date"] == DATES[-1]].reset_index(drop=True)


@pytest.fixture(scope="module")
def model(train) -> ChurnModel:
    return fit_churn(train, FEATURES, params=PARAMS)


def test_beats_recency_baseline_on_a_later_date(model, holdout):
    p = model.predict_proba(holdout)
    m = evaluate(holdout["churned"], p, baseline_score=recency_baseline(holdout))
    print(f"\nholdout {DATES[-1].date()}: PR-AUC model {m['pr_auc']:.3f} vs recency {m['baseline_pr_auc']:.3f}; "
          f"ROC-AUC {m['roc_auc']:.3f} vs {m['baseline_roc_auc']:.3f}; lift@10% {m['lift_top_decile']:.2f} vs "
          f"{m['baseline_lift_top_decile']:.2f}; Brier {m['brier']:.4f}")
    assert m["rows"] == len(holdout) and m["positives"] == int(holdout["churned"].sum())
    assert m["baseline_pr_auc"] > 1.5 * m["positives"] / m["rows"]   # recency alone is informative ...
    assert m["pr_auc"] > m["baseline_pr_auc"] + 0.03                    # ... but the model sees more
    assert m["roc_auc"] > m["baseline_roc_auc"]
    assert m["lift_top_decile"] > 2.0
    assert 0.0 < m["brier"] < 0.1


def test_calibrated_on_a_later_date(model, holdout):
    y = holdout["churned"].to_numpy()
    p = model.predict_proba(holdout)
    gap = float(p.mean() - y.mean())
    print(f"\nmean predicted {p.mean():.4f}, observed {y.mean():.4f}, gap {gap:+.4f}")
    assert abs(gap) <= 0.03
    for strategy in ("quantile", "uniform"):
        curve = calibration_curve(y, p, bins=10, strategy=strategy)
        assert list(curve.columns) == ["bin", "mean_predicted", "observed_rate", "count"]
        assert int(curve["count"].sum()) == len(holdout)
        assert 1 <= len(curve) <= 10 and (curve["count"] > 0).all()
        assert curve["mean_predicted"].is_monotonic_increasing
    # The top bin churns far more than the bottom one.
    curve = calibration_curve(y, p)
    assert curve["observed_rate"].iloc[-1] > 3 * curve["observed_rate"].iloc[0]


def test_calibrator_fitted_on_the_latest_dates(model, train):
    assert model.split == "time"
    assert model.calibration_from == DATES[-2]            # 1 of 5 dates = calibration_share 0.2
    assert model.calibration_rows == int((train["as_of_date"] == DATES[-2]).sum())
    assert model.fit_rows == len(train)                   # refitted on every date once calibrated
    earlier = fit_churn(train, FEATURES, params=ChurnParams(refit=False, max_iter=20, fit_threads=1))
    assert earlier.fit_rows == int((train["as_of_date"] < DATES[-2]).sum())
    wider = fit_churn(train, FEATURES, params=ChurnParams(calibration_share=0.4, max_iter=20, fit_threads=1))
    assert wider.calibration_from == DATES[-3]
    assert wider.calibration_rows == int((train["as_of_date"] >= DATES[-3]).sum())


def test_single_date_splits_by_hash(holdout):
    params = ChurnParams(calibration="sigmoid", max_iter=50, fit_threads=1)
    a = fit_churn(holdout, FEATURES, params=params)
    b = fit_churn(holdout.sample(frac=1.0, random_state=1), FEATURES, params=params)  # same rows, shuffled
    assert a.split == "hash" and a.calibration_from is None
    assert 0.1 < a.calibration_rows / len(holdout) < 0.3
    assert a.calibration_rows == b.calibration_rows
    # Same calibration rows; the fit sees them in another order, so sums differ in the last bit at most.
    np.testing.assert_allclose(a.predict_proba(holdout), b.predict_proba(holdout), rtol=0, atol=1e-9)
    assert fit_churn(holdout, FEATURES, time_col=None, params=params).split == "hash"


def test_drivers(model, holdout):
    typical = pd.DataFrame([model.reference])
    dropped = typical.assign(aum_change_90d=-0.6)
    quiet, fell = model.drivers(pd.concat([typical, dropped], ignore_index=True), top=3)
    assert all(effect < 0.01 for _, effect in quiet)
    name, effect = fell[0]
    assert name == "aum_change_90d" and effect > 0.05, fell
    print(f"\nAUM drop of 60%: {fell}")
    batch = model.drivers(holdout.head(500), top=3)
    assert len(batch) == 500
    for row in batch:
        assert len(row) <= 3
        effects = [e for _, e in row]
        assert all(e > 0 for e in effects) and effects == sorted(effects, reverse=True)
        assert all(n in FEATURES for n, _ in row)
    eff = model.effects(holdout.head(50))
    assert list(eff.columns) == FEATURES and eff.shape == (50, len(FEATURES))


def test_probabilities_deterministic_and_picklable(model, train, holdout):
    p = model.predict_proba(holdout)
    assert p.shape == (len(holdout),) and np.all((p >= 0) & (p <= 1))
    again = fit_churn(train, FEATURES, params=PARAMS)
    np.testing.assert_array_equal(again.predict_proba(holdout), p)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(holdout), p)
    assert restored.drivers(holdout.head(20)) == model.drivers(holdout.head(20))
    # A mapInPandas batch: other columns, another order, empty batches.
    shuffled = holdout[["customer_id", *reversed(FEATURES)]].head(100)
    np.testing.assert_array_equal(model.predict_proba(shuffled), p[:100])
    assert model.predict_proba(holdout.head(0)).shape == (0,)


def test_metrics_helpers():
    y = np.array([1, 0] * 50)
    assert top_decile_lift(y, np.zeros(100)) == pytest.approx(1.0)      # all tied: the cut is shared pro rata
    assert top_decile_lift(y, y.astype(float)) == pytest.approx(2.0)
    frame = pd.DataFrame({"recency_days": [3.0, np.nan, 40.0]})
    np.testing.assert_array_equal(recency_baseline(frame), [3.0, 40.0, 40.0])
    with pytest.raises(ValueError, match="y_true must be 0/1"):
        evaluate([0, 2], [0.1, 0.2])


def test_figures(model, holdout):
    y = holdout["churned"].to_numpy()
    p = model.predict_proba(holdout)
    fig = plot_pr_roc(y, p, recency_baseline(holdout))
    assert len(fig.axes) == 2
    cal = plot_calibration(calibration_curve(y, p))
    for f in (fig, cal):
        buf = io.BytesIO()
        f.savefig(buf, format="png")
        assert buf.getvalue()[:4] == b"\x89PNG"


def test_clear_errors(model, train):
    small = train.head(400)
    with pytest.raises(ValueError, match=r"missing from the frame: \['aum'\]"):
        model.predict_proba(small.drop(columns=["aum"]))
    with pytest.raises(ValueError, match=r"missing from the frame: \['nope'\]"):
        fit_churn(small, [*FEATURES, "nope"], params=PARAMS)
    with pytest.raises(ValueError, match=r"must be numeric.*segment"):
        fit_churn(small.assign(segment="retail"), [*FEATURES, "segment"], params=PARAMS)
    with pytest.raises(ValueError, match="must be 0/1"):
        fit_churn(small.assign(churned=small["churned"] * 2), FEATURES, params=PARAMS)
    with pytest.raises(ValueError, match="must be 0/1"):
        fit_churn(small.assign(churned=np.where(small["churned"] == 1, "yes", "no")), FEATURES, params=PARAMS)
    with pytest.raises(ValueError, match="at least 2 positives"):
        fit_churn(small.assign(churned=0), FEATURES, params=PARAMS)
    with pytest.raises(ValueError, match="calibration must be one of"):
        ChurnParams(calibration="beta")
