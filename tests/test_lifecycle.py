"""Lifecycle rules on inline rows: the stage rules, stage_since across runs, churn label dates and labels."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import functions as F

from jobs.churn import driver_words, split_dates
from jobs.config import load_settings
from jobs.errors import CrmError
from features.profile.relationship import Rule, RuleError
from models.lifecycle.labels import ChurnLabel, churn_features, churn_labels, feature_columns, label_dates
from models.lifecycle.stages import STAGES, assign_stage, with_stage_since

D = date(2026, 6, 30)
STAGE_COLUMNS = ("customer_id string, relationship_status string, accounts_open int, "
                 "months_since_last_new_product int, days_since_last_txn int, tenure_months int, "
                 "spend_trend_30d_vs_prior_90d double, active_days_30d int, active_days_90d int, "
                 "categories_held int, p_alive double, churn_probability double, run_date date")


def _configured_rules() -> list[Rule]:
    return [Rule(r.rule, r.assigns, r.condition, r.explanation) for r in load_settings().models.lifecycle.stages]


def test_configured_stage_rules_assign_each_stage_with_its_reason(spark):
    rows = [
        # id, status, open, months since new product, days quiet, tenure, trend, active days 30/90, categories,
        # p_alive, churn p
        ("prospect", "ACTIVE", 0, None, None, 1, None, 0, 0, 0, None, None),
        ("closed", "CLOSED", 0, 30, 200, 40, None, 0, 0, 0, 0.1, None),
        ("all_closed", "ACTIVE", 0, 12, 10, 40, 1.0, 3, 9, 0, 0.9, 0.1),
        ("quiet", "ACTIVE", 2, 20, 120, 40, None, 0, 0, 2, 0.3, 0.2),
        ("new", "ACTIVE", 1, 2, 3, 4, 1.0, 10, 30, 1, 0.95, 0.6),         # new wins over a high churn probability
        ("at_risk", "ACTIVE", 3, 30, 5, 50, 1.0, 10, 30, 3, 0.9, 0.35),
        ("fading", "ACTIVE", 3, 30, 5, 50, 0.3, 3, 30, 3, 0.9, None),    # no churn model: the other tests decide
        ("dip", "ACTIVE", 3, 30, 5, 50, 0.3, 9, 30, 3, 0.9, 0.1),        # spend dipped, but still active: not yet
        ("low_alive", "ACTIVE", 3, 30, 5, 50, 1.0, 10, 30, 3, 0.2, 0.1),
        ("opened", "ACTIVE", 4, 3, 2, 50, 1.0, 10, 30, 3, 0.9, 0.1),
        ("spending", "ACTIVE", 4, 30, 2, 50, 1.6, 10, 30, 3, 0.9, 0.1),
        ("steady", "ACTIVE", 4, 30, 2, 50, 1.0, 10, 30, 1, 0.9, 0.1),    # long tenure
        ("broad", "ACTIVE", 4, 12, 2, 14, 1.0, 10, 30, 3, 0.9, 0.1),     # three categories in just over a year
        ("building", "ACTIVE", 2, 12, 2, 14, 1.0, 10, 30, 2, 0.9, 0.1),  # a year in, two categories
        ("no_models", "ACTIVE", 4, 30, 2, 50, 1.0, 10, 30, 3, None, None),
    ]
    df = spark.createDataFrame([(*r, D) for r in rows], STAGE_COLUMNS)
    got = {r["customer_id"]: r for r in assign_stage(df, _configured_rules()).collect()}
    want = {"prospect": "prospect", "closed": "churned", "all_closed": "churned", "quiet": "dormant", "new": "new",
            "at_risk": "declining", "fading": "declining", "dip": "mature", "low_alive": "declining",
            "opened": "growing", "spending": "growing", "steady": "mature", "broad": "mature", "building": "growing",
            "no_models": "mature"}
    assert {c: r["lifecycle_stage"] for c, r in got.items()} == want
    assert got["at_risk"]["stage_rule"] == "slipping" and "churn probability" in got["at_risk"]["stage_explanation"]
    assert set(want.values()) == set(STAGES)


def test_a_bad_stage_rule_is_named(spark):
    df = spark.createDataFrame([("a", "ACTIVE", 1, 1, 1, 1, 1.0, 1, 3, 1, 0.5, 0.5, D)], STAGE_COLUMNS)
    with pytest.raises(RuleError, match="'bad'.*loyal"):
        assign_stage(df, [Rule("bad", "loyal", "true")])
    with pytest.raises(RuleError, match="'typo'"):
        assign_stage(df, [Rule("typo", "mature", "p_alvie > 0.5")])


def test_stage_since_carries_an_unbroken_stage_and_restarts_on_a_change(spark):
    today = spark.createDataFrame([("a", "mature", D), ("b", "declining", D), ("c", "new", D)],
                                  "customer_id string, lifecycle_stage string, run_date date")
    before = spark.createDataFrame([("a", "mature", date(2026, 3, 1)), ("b", "mature", date(2026, 1, 1))],
                                   "customer_id string, lifecycle_stage string, stage_since date")
    got = {r["customer_id"]: r for r in with_stage_since(today, before).collect()}
    assert got["a"]["stage_since"] == date(2026, 3, 1) and got["a"]["previous_stage"] == "mature"
    assert got["b"]["stage_since"] == D and got["b"]["previous_stage"] == "mature"
    assert got["c"]["stage_since"] == D and got["c"]["previous_stage"] is None
    first = {r["customer_id"]: r["stage_since"] for r in with_stage_since(today, None).collect()}
    assert set(first.values()) == {D}


def test_label_dates_pick_the_snapshot_nearest_the_horizon():
    month_ends = [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31)]
    rule = ChurnLabel(horizon_days=90, tolerance_days=7)
    assert label_dates(month_ends, rule) == [(date(2026, 1, 31), date(2026, 4, 30)),
                                             (date(2026, 2, 28), date(2026, 5, 31))]
    assert label_dates(month_ends, ChurnLabel(horizon_days=90, tolerance_days=0)) == []
    weekly = [date(2026, 1, 4) + (date(2026, 1, 11) - date(2026, 1, 4)) * i for i in range(10)]
    assert label_dates(weekly, ChurnLabel(horizon_days=28, tolerance_days=0))[0] == (weekly[0], weekly[4])


def test_split_keeps_training_outcomes_before_the_evaluation_date():
    cfg = load_settings(overrides=["models.churn.horizon_days=30", "models.churn.evaluation_dates=1"]).models.churn
    month_ends = [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    split = split_dates(month_ends, cfg)
    assert split.evaluation == [(date(2026, 3, 31), date(2026, 4, 30))]
    assert split.train == [(date(2026, 1, 31), date(2026, 2, 28)), (date(2026, 2, 28), date(2026, 3, 31))]
    with pytest.raises(CrmError, match="churn needs 2 or more profile snapshots"):
        split_dates(month_ends[:2], cfg)


PROFILE_COLUMNS = ("customer_id string, as_of_date date, relationship_status string, accounts_open int, "
                   "days_since_last_txn int, aum double, segment string, customer_type string, "
                   "txn_count_30d bigint, risk_mismatch boolean, potential_value double")


def test_churn_labels_on_inline_snapshots(spark):
    d0, d1 = date(2026, 1, 31), date(2026, 4, 30)
    rows = [
        # at risk on d0, and what d1 shows
        ("stays", d0, "ACTIVE", 2, 3, 50_000.0), ("stays", d1, "ACTIVE", 2, 5, 48_000.0),
        ("closes", d0, "ACTIVE", 1, 3, 5_000.0), ("closes", d1, "ACTIVE", 0, 40, 0.0),
        ("leaves", d0, "ACTIVE", 1, 3, 5_000.0), ("leaves", d1, "CLOSED", 1, 40, 0.0),
        ("quiet", d0, "ACTIVE", 2, 10, 20_000.0), ("quiet", d1, "ACTIVE", 2, 61, 20_000.0),
        ("drains", d0, "ACTIVE", 2, 1, 100_000.0), ("drains", d1, "ACTIVE", 2, 1, 40_000.0),
        ("small", d0, "ACTIVE", 2, 1, 5_000.0), ("small", d1, "ACTIVE", 2, 1, 100.0),   # under min_aum
        # not at risk on d0: already dormant, or no open account
        ("dormant", d0, "ACTIVE", 1, 61, 1_000.0), ("dormant", d1, "ACTIVE", 1, 150, 1_000.0),
        ("empty", d0, "ACTIVE", 0, 5, 0.0), ("empty", d1, "ACTIVE", 0, 5, 0.0),
        ("gone", d0, "ACTIVE", 1, 2, 1_000.0),                                            # not in d1's snapshot
    ]
    profile = spark.createDataFrame([(*r, "MASS", "RETAIL", 1, False, None) for r in rows], PROFILE_COLUMNS)
    got = {r["customer_id"]: (r["churned"], r["churn_kind"])
           for r in churn_labels(profile, [(d0, d1)], ChurnLabel(dormant_days=60, aum_loss_share=0.5)).collect()}
    assert got == {"stays": (0, None), "closes": (1, "closed"), "leaves": (1, "closed"), "quiet": (1, "dormant"),
                   "drains": (1, "aum_loss"), "small": (0, None)}
    without_aum = {r["customer_id"]: r["churn_kind"] for r in churn_labels(
        profile, [(d0, d1)], ChurnLabel(dormant_days=60, aum_loss_share=0.5), aum_loss=False).collect()}
    assert without_aum["drains"] is None and without_aum["closes"] == "closed"
    names = feature_columns(profile)
    assert "potential_value" not in names and {"txn_count_30d", "risk_mismatch", "segment_sme", "is_sme"} <= set(names)
    feats = churn_features(profile.where(F.col("customer_id") == "stays")).collect()[0]
    assert feats["segment_mass"] == 1.0 and feats["is_sme"] == 0.0 and feats["aum"] in (50_000.0, 48_000.0)


def test_drivers_read_as_words():
    assert driver_words("days_since_last_txn", 75.0, 3.0) == "days since last txn 75 (typical 3)"
    assert driver_words("spend_trend_30d_vs_prior_90d", 0.25, 1.0) == "spend trend 30d vs prior 90d 0.25 (typical 1)"
    assert driver_words("aum", float("nan"), 12500.0) == "aum unknown (typical 12,500)"
