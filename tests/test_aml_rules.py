"""AML typology rules on inline feature rows (hits, severity, explanations, bad rules named), the blended risk
model, and the evaluation at an alert budget (pandas, exact counts)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.conditions import ConditionError
from models.aml.evaluate import alerted, evaluate_alerts
from models.aml.model import AmlParams, fit_aml
from models.aml.rules import TypologyRule, check_rules, with_rule_hits

RULES = [
    TypologyRule("STRUCTURING", "near >= 3 AND near > 2 * over", "near / 3",
                 "{near} deposits just under the threshold ({cny} CNY)", "near_threshold"),
    TypologyRule("FAN_IN", "senders >= 8", "senders / 8", "{senders} new senders", "new_senders"),
]
BASELINE = ["cny >= 100000", "senders >= 10"]


@pytest.fixture(scope="module")
def features(spark):
    rows = [("C1", 6, 0, 2, 48_000.0 * 6, 10_000.0), ("C2", 3, 0, 16, 150_000.0, 5.0), ("C3", 3, 2, 0, 0.0, 1e6),
            ("C4", None, None, None, None, None)]
    return spark.createDataFrame(rows, "customer_id string, near int, over int, senders int, cny double, "
                                       "inflow_cny_30d double")


def test_rule_hits_severity_and_explanations(features):
    out = {r["customer_id"]: r for r in with_rule_hits(features, RULES, BASELINE).collect()}
    c1 = out["C1"]["rule_hits"]
    assert [h["typology"] for h in c1] == ["STRUCTURING"]
    assert c1[0]["severity"] == pytest.approx(1 - 0.5 / 2)            # strength 6 / 3
    assert c1[0]["explanation"] == "6 deposits just under the threshold (288,000 CNY)"
    assert c1[0]["evidence"] == "near_threshold"
    # two hits, strongest first: FAN_IN strength 2 beats STRUCTURING at its threshold (strength 1)
    assert [h["typology"] for h in out["C2"]["rule_hits"]] == ["FAN_IN", "STRUCTURING"]
    assert out["C2"]["rules_score"] == pytest.approx(0.75)
    assert out["C2"]["rule_hits"][1]["severity"] == pytest.approx(0.5)
    # near > 2 x over fails for C3; nulls never hit
    assert out["C3"]["rule_hits"] == [] and out["C3"]["rules_score"] == 0.0
    assert out["C4"]["rule_hits"] == [] and out["C4"]["rules_score"] == 0.0
    # baseline: one point per condition, ties broken by the 30-day inflow (below one point)
    assert out["C2"]["baseline_score"] == pytest.approx(2.0, abs=1e-6)
    assert 1.0 < out["C1"]["baseline_score"] < 2.0
    assert out["C3"]["baseline_score"] < 1.0


def test_a_bad_rule_is_named(features):
    with pytest.raises(ConditionError, match=r"models.aml.rules\[FAN_IN\].*no_such_column"):
        check_rules(features, [TypologyRule("FAN_IN", "no_such_column > 1", "1", "x", "new_senders")], [])
    with pytest.raises(ConditionError, match=r"models.aml.rules\[FAN_IN\]: explanation names unknown column"):
        check_rules(features, [TypologyRule("FAN_IN", "senders > 1", "1", "{nope}", "new_senders")], [])
    with pytest.raises(ConditionError, match=r"strength .* not a number"):
        check_rules(features, [TypologyRule("FAN_IN", "senders > 1", "'a'", "x", "new_senders")], [])
    with pytest.raises(ConditionError, match=r"models.aml.baseline\[1\]"):
        check_rules(features, RULES, ["cny > 1", "cny"])


def _scored():
    d1, d2 = date(2026, 4, 1), date(2026, 4, 8)
    rows = []
    for d in (d1, d2):
        for k in range(200):
            rows.append({"as_of_date": d, "customer_id": f"C{k:03d}", "risk_score": (200 - k) / 200,
                         "baseline_score": float(k % 7), "typologies": ["FAN_IN"] if k == 0 else []})
    return pd.DataFrame(rows)


def test_alerts_respect_the_budget_and_the_minimum_score():
    s = _scored()
    mask = alerted(s, "risk_score", budget=0.01, min_score=0.0)
    assert mask.groupby(s["as_of_date"]).sum().tolist() == [2, 2]         # 1% of 200
    assert set(s[mask]["customer_id"]) == {"C000", "C001"}
    assert alerted(s, "risk_score", budget=0.01, min_score=0.999).sum() == 2 * 1


def test_recall_per_typology_precision_and_alerts_per_1000():
    s = _scored()
    cases = pd.DataFrame({"customer_id": ["C000", "C001", "C150", "C003"],
                          "typology": ["FAN_IN", "STRUCTURING", "STRUCTURING", "FAN_OUT"],
                          "period_start": [date(2026, 3, 30), date(2026, 4, 5), date(2026, 3, 25), date(2026, 5, 1)],
                          "period_end": [date(2026, 4, 2), date(2026, 4, 10), date(2026, 4, 10), date(2026, 5, 9)]})
    m = evaluate_alerts(s, cases, "risk_score", 0.01, 0.0)
    # C003's case has no as-of date in its period: not evaluated
    assert m["cases"] == 3
    assert m["recall_at_budget"] == pytest.approx(2 / 3)
    assert m["recall_at_budget_fan_in"] == 1.0 and m["recall_at_budget_structuring"] == 0.5
    assert "recall_at_budget_fan_out" not in m
    # 4 alerts (2 a date): C000 on d1 and C001 on d2 fall in their cases' periods
    assert m["alerts"] == 4 and m["precision_at_budget"] == pytest.approx(0.5)
    assert m["alerts_per_1000"] == pytest.approx(10.0)
    assert m["typology_match"] == pytest.approx(0.5)


def test_the_risk_score_blends_rules_anomaly_and_supervised_parts():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    frame["rules_score"] = 0.0
    frame["is_case"] = 0
    frame.loc[:19, ["a", "b"]] += 4
    frame.loc[:19, "is_case"] = 1
    params = AmlParams()
    model = fit_aml(frame, ["a", "b"], "is_case", params, min_positives=10)
    assert model.supervised is not None and model.fit_positives == 20
    parts = model.parts(frame.assign(rules_score=0.8))
    wr, wa, ws = model.weights
    assert (wr, wa, ws) == pytest.approx((0.6, 0.2, 0.2))
    expected = wr * 0.8 + wa * parts["anomaly_score"] + ws * parts["supervised_score"]
    assert np.allclose(parts["risk_score"], expected)
    assert parts.loc[:19, "supervised_score"].mean() > parts.loc[20:, "supervised_score"].mean()
    # too few positives: no supervised part, the weights renormalised over rules and anomaly
    alone = fit_aml(frame, ["a", "b"], "is_case", params, min_positives=50)
    assert alone.supervised is None and alone.weights == pytest.approx((0.75, 0.25, 0.0))
    assert alone.parts(frame)["supervised_score"].isna().all()
