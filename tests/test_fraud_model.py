"""The fraud model on pandas: anomaly scorer, supervised boosting, blend, rules baseline, alert budget."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from models.fraud.model import (FraudParams, FraudRules, alerts_at_budget, at_budget, evaluate, fit_fraud, plot_pr,
                                rules_score)

FEATURES = ("amount_ratio", "count_1h", "is_new_country")
PARAMS = FraudParams(max_iter=50, n_estimators=50, fit_threads=1)


def _frame(n: int = 4000, frauds: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"amount_ratio": rng.lognormal(0, 0.5, n), "count_1h": rng.poisson(0.3, n).astype(float),
                       "is_new_country": (rng.random(n) < 0.01).astype(int), "is_fraud": 0,
                       "day": np.repeat(np.arange(n // 100), 100)})
    idx = rng.choice(n, frauds, replace=False)
    df.loc[idx, "amount_ratio"] = rng.uniform(8, 20, frauds)
    df.loc[idx, "is_new_country"] = 1
    df.loc[idx, "is_fraud"] = 1
    return df


def test_supervised_blend_ranks_fraud_first_and_pickles():
    train, test = _frame(seed=1), _frame(seed=2)
    model = fit_fraud(train, FEATURES, params=PARAMS)
    assert model.supervised is not None and model.fit_positives == 40
    parts = model.parts(test)
    assert list(parts.columns) == ["anomaly_score", "supervised_score", "score"]
    assert parts["anomaly_score"].between(0, 1).all() and parts["score"].between(0, 1).all()
    expected = 0.8 * parts["supervised_score"] + 0.2 * parts["anomaly_score"]
    assert np.allclose(parts["score"], expected)
    m = evaluate(test["is_fraud"], test["day"], parts["score"], np.zeros(len(test)), 0.05)
    assert m["pr_auc"] > 0.9 and m["recall_at_budget"] > 0.9
    again = pickle.loads(pickle.dumps(model))
    assert np.allclose(again.score(test), parts["score"])


def test_without_labels_the_anomaly_percentile_is_the_score():
    train = _frame(seed=3)
    model = fit_fraud(train, FEATURES, label=None, params=PARAMS)
    assert model.supervised is None
    parts = model.parts(_frame(seed=4))
    assert parts["supervised_score"].isna().all()
    assert np.allclose(parts["score"], parts["anomaly_score"])
    # the injected outliers (huge amount ratio, new country) look more unusual than the ordinary rows
    test = _frame(seed=4)
    assert parts["score"][test["is_fraud"] == 1].mean() > parts["score"][test["is_fraud"] == 0].quantile(0.95)


def test_negative_weight_restores_the_base_rate():
    train = _frame(n=8000, frauds=80, seed=5)
    kept = train[(train["is_fraud"] == 1) | (np.arange(len(train)) % 4 == 0)]
    model = fit_fraud(kept, FEATURES, params=PARAMS, negative_weight=4.0)
    unweighted = fit_fraud(kept, FEATURES, params=PARAMS)
    ordinary = _frame(seed=6)
    ordinary = ordinary[ordinary["is_fraud"] == 0]
    # legitimate rows sampled 1 in 4: without the weight the model believes fraud is four times as common
    assert model.parts(ordinary)["supervised_score"].mean() < unweighted.parts(ordinary)["supervised_score"].mean()


def test_alert_budget_is_per_day_rounded_up():
    day = np.array([1] * 10 + [2] * 3)
    score = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0.5, 0.9, 0.1])
    flagged = alerts_at_budget(day, score, 0.15)
    # day 1: ceil(10 x 0.15) = 2 alerts, the two highest; day 2: ceil(0.45) = 1, the highest of that day
    assert flagged.tolist() == [True, True] + [False] * 8 + [False, True, False]
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])
    kind = np.array(["CT", None, "ATO", None, None, None, None, None, None, None, None, "CT", None], dtype=object)
    m = at_budget(y, day, score, 0.15, kind)
    assert m["recall_at_budget"] == pytest.approx(2 / 3) and m["precision_at_budget"] == pytest.approx(2 / 3)
    assert m["recall_at_budget_ct"] == 1.0 and m["recall_at_budget_ato"] == 0.0 and m["alerts"] == 3


def test_rules_score_counts_hits_and_breaks_ties_by_amount_ratio():
    df = pd.DataFrame({"r": [6.0, 1.0, 12.0, np.nan], "c1": [5, 6, 0, 0], "a24": [0, 30000, 0, 0],
                       "sa": [0, 0, 3, 0]})
    s = rules_score(df, FraudRules(), {"amount_ratio": "r", "count_1h": "c1", "amount_24h": "a24",
                                       "small_auths": "sa"})
    assert np.floor(s).tolist() == [2, 2, 2, 0]
    assert s[2] > s[0] > s[1] and s[3] == 0


def test_fit_errors_are_clear():
    with pytest.raises(ValueError, match="positives"):
        fit_fraud(_frame(frauds=1), FEATURES, params=PARAMS)
    with pytest.raises(ValueError, match="missing"):
        fit_fraud(_frame(), ("nope",), params=PARAMS)
    with pytest.raises(ValueError, match="anomaly_weight"):
        FraudParams(anomaly_weight=1.5)


def test_pr_plot():
    df = _frame(seed=7)
    fig = plot_pr(df["is_fraud"], {"model": df["amount_ratio"], "rules": df["count_1h"]},
                  {"model": (0.5, 0.4)})
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 4   # two curves, one budget point, the base-rate line
