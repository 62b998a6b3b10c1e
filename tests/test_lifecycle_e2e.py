"""The lifecycle end to end on a generated bank: CLV and churn trained and tracked, lifecycle_scores written,
the profile's value filled, churn beating the recency baseline, and stages that agree with the generator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pyspark.sql import functions as F

from jobs.churn import train_churn
from jobs.features import PROFILE, run_features
from jobs.lifecycle import SCORES, score_lifecycle, train_clv
from jobs.tables import build_catalog
from jobs.tracking import tracking_from_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bank(spark, ingested_bank):
    settings, summary, _ = ingested_bank
    start, end = settings.generator.start_date, settings.generator.start_date + timedelta(days=149)
    assert str(end) == summary["end_date"]
    run_features(spark, settings, start=start + timedelta(days=28), end=end)
    clv = train_clv(spark, settings)
    churn = train_churn(spark, settings)
    scored = score_lifecycle(spark, settings)
    return settings, build_catalog(settings), clv, churn, scored


def test_clv_and_churn_runs_are_tracked_with_their_parameters_metrics_and_plots(spark, bank):
    settings, _, clv, churn, _ = bank
    client = tracking_from_settings(settings).client()
    run = client.get_run(clv.run_id)
    assert {"bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b", "gg_p", "gg_q", "gg_v"} <= set(run.data.params)
    assert run.data.params["baseline"] == "run_rate"
    # BG/NBD predicts the holdout's purchases per customer better than each customer's own run rate
    assert clv.metrics["mae_purchases"] < clv.baseline["mae_purchases"]
    run = client.get_run(churn.run_id)
    plots = {a.path for a in client.list_artifacts(churn.run_id, "plots")}
    assert {"plots/pr_roc.png", "plots/calibration.png"} <= plots
    for metric in ("pr_auc", "roc_auc", "lift_top_decile", "brier", "baseline_pr_auc", "baseline_roc_auc"):
        assert metric in run.data.metrics, metric
    assert churn.promotion.promoted


def test_churn_beats_the_recency_baseline_on_pr_auc_on_a_later_window(bank):
    _, _, _, churn, _ = bank
    m = churn.metrics
    assert m["positives"] >= 20
    assert m["pr_auc"] > m["baseline_pr_auc"], m
    assert max(churn.train_dates) < min(churn.evaluation_dates)


def test_lifecycle_scores_cover_every_customer_and_fill_the_profile_value(spark, bank):
    settings, catalog, _, _, scored = bank
    rows = catalog.read(spark, SCORES).where(F.col("run_date") == F.lit(scored.run_date))
    profile = catalog.read(spark, PROFILE).where(F.col("as_of_date") == F.lit(scored.run_date))
    assert rows.count() == profile.count() == scored.customers
    assert rows.where(F.col("churn_probability").isNull() | ~F.col("churn_probability").between(0, 1)).count() == 0
    assert rows.where(F.size("churn_drivers") > 0).count() > 0
    assert rows.where(F.col("potential_value").isNull()).count() == 0
    assert profile.where(F.col("potential_value").isNull()).count() == 0
    joined = rows.alias("s").join(profile.alias("p"), "customer_id")
    assert joined.where(F.abs(F.col("s.customer_value") - F.col("p.customer_value")) > 1e-6).count() == 0
    assert joined.where(F.col("s.value_tier") != F.col("p.value_tier")).count() == 0
    assert len([s for s, n in scored.stages.items() if n > 0]) >= 4


def test_customers_who_closed_every_account_are_churned_and_lapsed_ones_score_higher(spark, bank):
    settings, catalog, _, _, scored = bank
    truth = spark.read.parquet(settings.path(settings.lake.truth) + "/churn")
    rows = catalog.read(spark, SCORES).where(F.col("run_date") == F.lit(scored.run_date))
    gone = rows.join(truth.where((F.col("kind") == "CLOSED") & (F.col("churn_date") < F.lit(scored.run_date))),
                     "customer_id")
    assert gone.count() > 0
    assert gone.where(F.col("lifecycle_stage") != "churned").count() == 0
    winding_down = truth.where((F.col("churn_start_date") <= F.lit(scored.run_date))
                               & (F.col("churn_date") > F.lit(scored.run_date)))
    at_risk = rows.join(winding_down, "customer_id").agg(F.avg("churn_probability")).first()[0]
    others = rows.join(truth, "customer_id", "left_anti").where(F.col("lifecycle_stage") != "churned") \
        .agg(F.avg("churn_probability")).first()[0]
    assert at_risk is None or at_risk > others


def test_rescoring_the_same_date_replaces_it_and_a_later_date_carries_stage_since(spark, bank):
    settings, catalog, _, _, scored = bank
    again = score_lifecycle(spark, settings, as_of=scored.run_date)
    assert again.customers == scored.customers
    rows = catalog.read(spark, SCORES).where(F.col("run_date") == F.lit(scored.run_date))
    assert rows.count() == scored.customers
    earlier = catalog.read(spark, PROFILE).where(F.col("as_of_date") < F.lit(scored.run_date)) \
        .agg(F.max("as_of_date")).first()[0]
    score_lifecycle(spark, settings, as_of=earlier)
    latest = score_lifecycle(spark, settings, as_of=scored.run_date)
    assert latest.customers == scored.customers
    both = (catalog.read(spark, SCORES).where(F.col("run_date") == F.lit(scored.run_date)).alias("n")
            .join(catalog.read(spark, SCORES).where(F.col("run_date") == F.lit(earlier)).alias("o"), "customer_id"))
    same = both.where(F.col("n.lifecycle_stage") == F.col("o.lifecycle_stage"))
    assert same.count() > 0
    assert same.where(F.col("n.stage_since") != F.col("o.stage_since")).count() == 0
    changed = both.where(F.col("n.lifecycle_stage") != F.col("o.lifecycle_stage"))
    assert changed.where((F.col("n.stage_since") != F.lit(scored.run_date))
                         | (F.col("n.previous_stage") != F.col("o.lifecycle_stage"))).count() == 0
