"""AML end to end on the shared generated bank: typology features for the training and evaluation dates, the
model trained with label delay and tracked, recall of every injected typology reported and beating the
threshold-rules baseline at a budget of 1% of customers, and aml_alerts whose evidence exists in silver."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from jobs.aml import CASES, FEATURES_TABLE, TRANSACTIONS, score_aml, train_aml
from jobs.tables import AML_ALERTS, build_catalog
from jobs.tracking import tracking_from_settings
from pipelines.generator.context import AML_TYPOLOGIES
from tests.conftest import BANK_SETTINGS, settings_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def aml(spark, ingested_bank):
    _, _, root = ingested_bank
    # 6 training dates (not 12) keep the feature backfill short
    settings = settings_for(root, *BANK_SETTINGS, f"models.aml.evaluation_truth={root}/truth",
                            "models.aml.training_days=42")
    trained = train_aml(spark, settings)
    scored = score_aml(spark, settings)
    return settings, build_catalog(settings), trained, scored


def test_training_is_tracked_with_metrics_per_typology_plots_and_a_champion(aml):
    settings, _, trained, _ = aml
    client = tracking_from_settings(settings).client()
    run = client.get_run(trained.run_id)
    assert "metrics_table.json" in {a.path for a in client.list_artifacts(trained.run_id)}
    assert "plots/recall_by_typology.png" in {a.path for a in client.list_artifacts(trained.run_id, "plots")}
    for metric in ("recall_at_budget", "precision_at_budget", "alerts_per_1000", "baseline_recall_at_budget",
                   "baseline_precision_at_budget", "baseline_alerts_per_1000", "cases_recall_at_budget"):
        assert metric in run.data.metrics, metric
    assert run.data.params["labels_known_before"] == str(trained.split.cutoff)
    assert trained.promotion.promoted


def test_recall_of_every_injected_typology_is_reported_and_beats_the_rules_baseline(aml):
    settings, _, trained, _ = aml
    m = trained.metrics
    assert trained.labels == "the injected typologies"
    assert m["cases"] >= 6
    held = {k.removeprefix("recall_at_budget_") for k in m if k.startswith("recall_at_budget_")}
    assert held <= {t.lower() for t in AML_TYPOLOGIES} and len(held) >= 4
    assert {k.removeprefix("baseline_recall_at_budget_") for k in m if k.startswith("baseline_recall_at_budget_")} == held
    assert m["recall_at_budget"] > m["baseline_recall_at_budget"]
    # the budget: at most 1% of the customers scored on each date
    assert m["alerts_per_1000"] <= 10.0 + 1e-9
    assert settings.models.aml.alert_budget == 0.01


def test_training_labels_only_cases_reported_before_the_cutoff(spark, aml):
    _, catalog, trained, _ = aml
    cutoff = F.lit(trained.split.cutoff).cast("timestamp")
    reported = catalog.read(spark, CASES).where(F.col("outcome") == "REPORTED")
    assert reported.where(F.col("updated_at") >= cutoff).count() > 0      # some were reported after it
    assert trained.positives <= reported.where(F.col("updated_at") < cutoff).count() * len(trained.split.train_dates)


def test_features_exist_for_every_training_and_evaluation_date(spark, aml):
    _, catalog, trained, _ = aml
    dates = {r[0] for r in catalog.read(spark, FEATURES_TABLE).select("as_of_date").distinct().collect()}
    assert set(trained.split.train_dates + trained.split.eval_dates) <= dates


def test_alerts_carry_their_typology_and_evidence_that_exists_in_silver(spark, aml):
    _, catalog, _, scored = aml
    alerts = catalog.read(spark, AML_ALERTS.name).where(F.col("run_date") == F.lit(scored.run_date))
    assert scored.alerts == alerts.count() > 0
    assert alerts.select("customer_id").distinct().count() <= max(1, scored.customers // 100)
    assert alerts.where(F.col("model_version") != scored.model_version).count() == 0
    assert alerts.where(F.size("evidence_txn_ids") == 0).count() == 0
    ids = alerts.select(F.explode("evidence_txn_ids").alias("txn_id")).distinct()
    missing = ids.join(catalog.read(spark, TRANSACTIONS), "txn_id", "left_anti").count()
    assert missing == 0
    # each evidence transaction belongs to the alerted customer, except a cycle's hops through others
    rows = alerts.where(F.col("typology") != "ROUND_TRIPPING").select(
        "customer_id", F.explode("evidence_txn_ids").alias("txn_id"))
    owners = rows.join(catalog.read(spark, TRANSACTIONS).select("txn_id", F.col("customer_id").alias("owner")), "txn_id")
    assert owners.where(F.col("owner") != F.col("customer_id")).count() == 0
    cycles = alerts.where(F.col("typology") == "ROUND_TRIPPING").collect()
    for c in cycles:
        assert c["cycle_path"][0] == c["cycle_path"][-1] == c["customer_id"]

