"""The recommender end to end on a small generated bank: train, register, score, and the serving rules checked
over the whole next_best_offer table."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from jobs.features import PointInTime, latest_business_date, update_customer_daily
from jobs.generate import generate
from jobs.ingest import ingest
from jobs.recommend import OFFERS, SOURCES, score_recommender, train_recommender
from jobs.tables import build_catalog
from jobs.tracking import tracking_from_settings
from models import registry
from models.registry import experiment_name
from tests.conftest import settings_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bank(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("recommender")
    settings = settings_for(root, "generator.daily_extract_days=20", "models.recommender.holdout_days=30")
    generate(spark, settings, customers=400, days=75, seed=11, sources=list(SOURCES))
    ingest(spark, settings, sources=list(SOURCES))
    catalog = build_catalog(settings)
    update_customer_daily(spark, catalog)
    first = train_recommender(spark, settings)
    scored = score_recommender(spark, settings)
    return settings, catalog, first, scored


def test_training_is_tracked_registered_and_made_champion(spark, bank):
    settings, _, first, _ = bank
    tracking = tracking_from_settings(settings)
    client = tracking.client()
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    for metric in ("map_at_5", "precision_at_5", "recall_at_10", "ndcg_at_10", "coverage_at_5",
                   "baseline_map_at_5", "baseline_precision_at_5"):
        assert metric in run.data.metrics, metric
    assert run.data.params["baseline"] == "popularity_by_segment"
    assert int(run.data.params["input.silver.accounts_versions.version"]) >= 0
    plots = {a.path for a in client.list_artifacts(first.run_id, "plots")}
    assert "plots/map_at_k.png" in plots and "plots/precision_at_k.png" in plots
    assert set(first.candidates) == {"als", "bpr"}
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{first.run_id}'")
    assert {c.info.run_name for c in children} == {"als", "bpr"}
    assert first.promotion.promoted and registry.champion_version(tracking, "crm_recommender") == first.promotion.version
    assert client.get_experiment(run.info.experiment_id).name == experiment_name("recommender")


def test_offers_obey_suitability_eligibility_consent_and_the_cap_over_the_whole_table(spark, bank):
    settings, catalog, first, scored = bank
    cfg = settings.models.recommender
    offers = catalog.read(spark, OFFERS).where(F.col("run_date") == F.lit(scored.run_date))
    assert scored.offers == offers.count() > 0
    pit = PointInTime(spark, settings, catalog)
    d = scored.run_date
    customers = pit.known("customers", [d]).select("customer_id", "marketing_consent", "risk_tolerance", "segment",
                                                    "status", "customer_type", "birth_date")
    products = pit.known("products", [d]).select("product_id", "risk_level", "eligible_segments", "min_age",
                                                  "max_age", F.col("status").alias("product_status"))
    held = (pit.known("accounts", [d]).where((F.col("open_date") <= F.lit(d))
                                             & (F.col("close_date").isNull() | (F.col("close_date") > F.lit(d))))
            .select("customer_id", "product_id", F.lit(True).alias("held")).distinct())
    rows = offers.drop("segment").join(customers, "customer_id", "left").join(products, "product_id", "left") \
        .join(held, ["customer_id", "product_id"], "left")
    age = F.floor(F.months_between(F.lit(d), F.col("birth_date")) / 12)
    broken = {
        "no consent": ~F.col("marketing_consent"),
        "too risky": F.substring("risk_level", 2, 1).cast("int") > F.substring("risk_tolerance", 2, 1).cast("int"),
        "segment": ~F.array_contains(F.split("eligible_segments", r"\|"), F.col("segment")),
        "age": (F.col("customer_type") == "RETAIL") & ((age < F.col("min_age")) | (age > F.col("max_age"))),
        "held": F.col("held").isNotNull(),
        "inactive": (F.col("status") != "ACTIVE") | (F.col("product_status") != "ACTIVE"),
        "rank": (F.col("rank") < 1) | (F.col("rank") > cfg.top_k),
        "stamp": (F.col("model_version") != first.promotion.version) | (F.col("model_name") != cfg.model_name),
        "reason": F.col("reason").isNull() | (F.length("reason") < 10),
    }
    counts = rows.agg(*[F.count(F.when(cond, True)).alias(name) for name, cond in broken.items()]).first().asDict()
    assert counts == dict.fromkeys(broken, 0)
    per_customer = offers.groupBy("customer_id").agg(F.count(F.lit(1)).alias("n"), F.countDistinct("product_id").alias("p"))
    assert per_customer.where((F.col("n") > cfg.top_k) | (F.col("n") != F.col("p"))).count() == 0
    cold = offers.where("is_cold_start").where(~F.col("reason").startswith("popular with ")).count()
    assert cold == 0


def test_rescoring_a_date_replaces_its_offers(spark, bank):
    settings, catalog, _, scored = bank
    again = score_recommender(spark, settings, as_of=scored.run_date)
    assert again.offers == scored.offers
    assert catalog.read(spark, OFFERS).where(F.col("run_date") == F.lit(scored.run_date)).count() == scored.offers
    assert latest_business_date(spark, catalog) == scored.run_date


def test_a_retrained_model_that_does_not_beat_the_champion_stays_challenger(spark, bank):
    settings, _, first, _ = bank
    # a --tune grid of starved parameter sets (one factor, one pass): worse on the same holdout, so the new
    # version becomes challenger and the champion stays
    starved = {"als": [{"factors": 1, "iterations": 1}], "bpr": [{"factors": 1, "iterations": 1}]}
    cfg = settings.models.recommender.model_copy(update={"tune": starved})
    tuned = settings.model_copy(update={"models": settings.models.model_copy(update={"recommender": cfg})})
    second = train_recommender(spark, tuned, tune=True)
    assert set(second.candidates) == {"als_1", "bpr_1"}
    tracking = tracking_from_settings(settings)
    assert second.promotion.champion_version == first.promotion.version
    assert second.promotion.challenger_value < second.promotion.champion_value
    assert not second.promotion.promoted
    assert registry.champion_version(tracking, "crm_recommender") == first.promotion.version
    client = tracking.client()
    assert str(client.get_model_version_by_alias("crm_recommender", "challenger").version) == second.promotion.version
