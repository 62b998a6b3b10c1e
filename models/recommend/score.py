"""Offers: each customer's top-k eligible products with score, rank and the reasons in words.

Eligibility is never traded for score: products already held, products above the customer's risk tolerance
(R-level > C-level), outside the product's age band or segments, retired or not yet launched are removed
before ranking. Contact rules (marketing consent, the contact cap) decide who may be offered anything at
all; evaluation scores without them, since they say nothing about what a customer wants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from features.profile.holdings import is_open
from models.recommend.interactions import SIDE_PREFIX
from models.recommend.model import FactorModel

_SCORED_SCHEMA = "customer_id string, product_id string, score double, reason string, reason_items array<string>"
_SIGNAL_WORDS = {"holds": "holds {}", "held": "used to hold {}", "responded": "responded to an offer of {}",
                 "converted": "took up an offer of {}", "shops": "shops for {} online"}


@dataclass(frozen=True)
class ContactRules:
    require_consent: bool = True
    contact_window_days: int = 30   # campaign offers counted toward the cap over this many days
    max_contacts: int = 3           # a customer offered this many times in the window is not offered again yet


def _level(code) -> F.Column:
    return F.substring(code, 2, 1).cast("int")


def eligible_products(customers_known: DataFrame, products: DataFrame, accounts_known: DataFrame,
                      as_of: date) -> DataFrame:
    """(customer_id, product_id) pairs a customer may be offered on `as_of`."""
    d = F.lit(as_of)
    cust = customers_known.where(F.col("status") == "ACTIVE").select(
        "customer_id", "segment", "risk_tolerance", "customer_type",
        F.floor(F.months_between(d, F.col("birth_date")) / 12).cast("int").alias("age"))
    prod = products.where((F.col("status") == "ACTIVE") & (F.col("launch_date") <= d)).select(
        "product_id", "risk_level", "min_age", "max_age", F.split("eligible_segments", r"\|").alias("segments"))
    held = accounts_known.where((F.col("open_date") <= d) & is_open(d)).select("customer_id", "product_id").distinct()
    age_ok = (F.col("customer_type") == "SME") | (
        (F.col("age").isNull() | ((F.col("age") >= F.coalesce("min_age", F.lit(0)))
                                  & (F.col("age") <= F.coalesce("max_age", F.lit(200))))))
    pairs = cust.crossJoin(F.broadcast(prod)).where(
        F.array_contains("segments", F.col("segment")) & (_level(F.col("risk_level")) <= _level(F.col("risk_tolerance")))
        & age_ok)
    return pairs.join(held, ["customer_id", "product_id"], "left_anti").select("customer_id", "product_id")


def contactable(customers_known: DataFrame, responses: DataFrame, as_of: date, rules: ContactRules) -> DataFrame:
    """Customers who may be offered something on `as_of`: consenting and under the contact cap."""
    d = F.lit(as_of)
    cust = customers_known.where(F.col("status") == "ACTIVE")
    if rules.require_consent:
        cust = cust.where(F.col("marketing_consent"))
    recent = responses.where((F.to_date("offer_ts") <= d) & (F.to_date("offer_ts") > F.date_sub(d, rules.contact_window_days))
                             & (F.col("_extract_date") <= d))
    capped = recent.groupBy("customer_id").agg(F.count(F.lit(1)).alias("n")).where(F.col("n") >= rules.max_contacts)
    return cust.select("customer_id").join(capped, "customer_id", "left_anti")


def _phrase(items: list[str], signals: dict[str, str], labels: dict[str, str]) -> str:
    """'customer holds Car Loan and Term Life Cover and shops for TRAVEL online': one verb per kind of signal."""
    by_kind: dict[str, list[str]] = {}
    for it in items:
        if it.startswith(SIDE_PREFIX):
            by_kind.setdefault("shops", []).append(it[len(SIDE_PREFIX):])
        else:
            by_kind.setdefault(signals.get(it, "holds"), []).append(labels.get(it, it))
    return "customer " + " and ".join(_SIGNAL_WORDS.get(kind, "{}").format(" and ".join(names))
                                      for kind, names in by_kind.items())


def model_scores(interactions: DataFrame, eligible: DataFrame, model: FactorModel, labels: dict[str, str],
                 k: int) -> DataFrame:
    """Each customer's `k` best eligible products by the model, for customers with signals the model knows, with
    the reasons in words. Runs on the executors (mapInPandas), one batched solve per Arrow batch; only the small
    item factors travel with the task, and only the offers leave it."""
    grouped = interactions.groupBy("customer_id").agg(
        F.collect_list(F.struct("item", "strength", "signal")).alias("s"))
    grouped = grouped.select("customer_id", F.col("s.item").alias("items"), F.col("s.strength").alias("strengths"),
                             F.col("s.signal").alias("signals"))
    offerable = eligible.groupBy("customer_id").agg(F.collect_list("product_id").alias("eligible"))
    grouped = grouped.join(offerable, "customer_id")

    def score(batches):
        for pdf in batches:
            out = model.score_frame(pdf, k)
            if out.empty:
                continue
            signals = {r.customer_id: dict(zip(r.items, r.signals)) for r in pdf.itertuples(index=False)}
            out["reason"] = [_phrase(items, signals[c], labels)
                             for c, items in zip(out["customer_id"], out["reason_items"])]
            yield out[["customer_id", "product_id", "score", "reason", "reason_items"]]

    return grouped.mapInPandas(score, _SCORED_SCHEMA)


def baseline_scores(customers_known: DataFrame, baseline: dict[str, list[tuple[str, float]]]) -> DataFrame:
    """The segment baseline for every customer: what cold-start customers are offered."""
    spark = customers_known.sparkSession
    rows = [(s, p, float(v)) for s, items in baseline.items() for p, v in items]
    base = spark.createDataFrame(pd.DataFrame(rows, columns=["segment", "product_id", "score"])
                                 if rows else pd.DataFrame({"segment": [], "product_id": [], "score": []}),
                                 "segment string, product_id string, score double")
    return customers_known.select("customer_id", "segment").join(F.broadcast(base), "segment").select(
        "customer_id", "product_id", "score",
        F.concat(F.lit("popular with "), F.col("segment"), F.lit(" customers")).alias("reason"),
        F.array().cast("array<string>").alias("reason_items"))


def recommend(customers_known: DataFrame, interactions: DataFrame, eligible: DataFrame, model: FactorModel | None,
              labels: dict[str, str], k: int, baseline: dict[str, list[tuple[str, float]]] | None = None) -> DataFrame:
    """Top-k eligible products per customer: customer_id, rank, product_id, score, reason, reason_items,
    is_cold_start. A customer none of whose signals the model knows falls back to the segment baseline
    (`baseline`, by default the model's own); with no model at all, everyone gets the baseline."""
    if k < 1:
        raise ValueError("k must be >= 1")
    if baseline is None:
        baseline = model.baseline if model is not None else {}
    base = baseline_scores(customers_known, baseline).withColumn("is_cold_start", F.lit(True))
    if model is None:
        offers = base.join(eligible, ["customer_id", "product_id"])
    else:
        warm = model_scores(interactions, eligible, model, labels, k).withColumn("is_cold_start", F.lit(False))
        cold = base.join(warm.select("customer_id").distinct(), "customer_id", "left_anti")
        offers = warm.unionByName(cold.join(eligible, ["customer_id", "product_id"]))
    w = Window.partitionBy("customer_id").orderBy(F.desc("score"), "product_id")
    return (offers.withColumn("rank", F.row_number().over(w)).where(F.col("rank") <= k)
            .select("customer_id", "rank", "product_id", "score", "reason", "reason_items", "is_cold_start"))
