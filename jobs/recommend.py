"""`crm train --model recommender` and `crm score --model recommender`: the cross-sell recommender's shell.

Training reads the lake as known at the cut-off (the latest business date minus the holdout), fits every
candidate with `implicit`, scores the holdout customers with the same Spark path production uses, and
registers the best candidate in MLflow; `champion` moves only if it beats the champion on this holdout.
Scoring loads `models:/<name>@champion` and writes serving.next_best_offer for one business date.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.catalog import Catalog
from jobs.config import RecommenderSettings, Settings
from jobs.errors import CrmError
from jobs.features import DAILY, PointInTime, latest_business_date, scoring_date
from jobs.logs import Phases
from jobs.tables import NEXT_BEST_OFFER, build_catalog
from jobs.tracking import champion_model, tracking_from_settings
from models import registry
from models.recommend import baseline as popularity
from models.recommend.interactions import InteractionWeights, interactions, opened_between
from models.recommend.metrics import ranking_metrics
from models.recommend.model import FactorModel, RecommenderModel, input_example
from models.recommend.score import ContactRules, contactable, eligible_products, recommend
from models.recommend.train import FITTERS, matrix, params_dict

log = logging.getLogger(__name__)

FAMILY = "recommender"
OFFERS = NEXT_BEST_OFFER.name
# What the logged model needs to load elsewhere (stated, so MLflow need not infer it in a subprocess).
REQUIREMENTS = ["mlflow==3.17.2", "numpy==2.3.5", "pandas==2.3.3", "crm-lakehouse"]
INPUTS = ("silver.accounts_versions", "silver.customers_versions", "silver.products", "silver.campaign_responses",
          DAILY)
# the landing sources behind INPUTS (customer_daily's e-commerce side comes from the orders)
SOURCES = ("customers", "products", "accounts", "campaign_responses", "ecommerce_orders")



def weights_of(cfg: RecommenderSettings) -> InteractionWeights:
    return InteractionWeights(**cfg.weights.model_dump())


@dataclass
class Snapshot:
    """What the recommender reads about one as-of date."""
    as_of: date
    customers: DataFrame
    accounts: DataFrame
    products: DataFrame
    responses: DataFrame
    interactions: DataFrame
    labels: dict[str, str] = field(default_factory=dict)


def snapshot(spark: SparkSession, settings: Settings, catalog: Catalog, pit: PointInTime, as_of: date) -> Snapshot:
    for name in ("silver.customers", "silver.accounts", "silver.products"):
        if not catalog.exists(spark, name):
            raise CrmError(f"the recommender needs {name}; run `crm ingest` first")
    customers = pit.known("customers", [as_of])
    accounts = pit.known("accounts", [as_of])
    products = pit.known("products", [as_of])
    responses = pit.arrived("silver.campaign_responses", "offer_ts")
    daily = catalog.read(spark, DAILY) if catalog.exists(spark, DAILY) else None
    if daily is None:
        raise CrmError(f"the recommender needs {DAILY}; run `crm features` first")
    inter = interactions(accounts, responses, daily, as_of, weights_of(settings.models.recommender)).cache()
    labels = {r["product_id"]: r["product_name"] for r in products.select("product_id", "product_name").collect()}
    return Snapshot(as_of, customers, accounts, products, responses, inter, labels)


def _top_lists(offers: DataFrame) -> dict[str, list[str]]:
    rows = offers.select("customer_id", "rank", "product_id").collect()   # holdout customers x k: small
    out: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        out.setdefault(r["customer_id"], []).append((r["rank"], r["product_id"]))
    return {c: [p for _, p in sorted(v)] for c, v in out.items()}


@dataclass
class Holdout:
    snap: Snapshot
    relevant: dict[str, set[str]]
    customers: DataFrame          # the holdout customers, as known at the cut-off
    interactions: DataFrame       # their signals at the cut-off
    eligible: DataFrame
    catalogue: set[str]
    ks: list[int]

    def evaluate(self, model: FactorModel | None, baseline: dict | None = None) -> dict[str, float]:
        """Metrics of `model` (or, with None, of `baseline` alone) on the holdout, scored the production way."""
        offers = recommend(self.customers, self.interactions, self.eligible, model, self.snap.labels,
                           max(self.ks), baseline=baseline)
        lists = _top_lists(offers)
        out: dict[str, float] = {}
        for k in self.ks:
            out.update(ranking_metrics(lists, self.relevant, k, self.catalogue))
        return out


def holdout(spark: SparkSession, settings: Settings, catalog: Catalog, pit: PointInTime, cutoff: date,
            end: date) -> Holdout:
    cfg = settings.models.recommender
    snap = snapshot(spark, settings, catalog, pit, cutoff)
    later = pit.known("accounts", [end])
    opened = opened_between(later, cutoff, end).collect()
    relevant: dict[str, set[str]] = {}
    for r in opened:
        relevant.setdefault(r["customer_id"], set()).add(r["item"])
    if not relevant:
        raise CrmError(f"no product was opened between the cut-off {cutoff} and {end}: nothing to evaluate on; "
                       "lower models.recommender.holdout_days or ingest more days")
    ids = spark.createDataFrame([(c,) for c in relevant], "customer_id string")
    customers = snap.customers.where(F.col("status") == "ACTIVE").join(F.broadcast(ids), "customer_id").cache()
    # customers who came after the cut-off cannot be scored at it: they are not part of the holdout
    known = {r[0] for r in customers.select("customer_id").collect()}
    relevant = {c: items for c, items in relevant.items() if c in known}
    signals = snap.interactions.join(F.broadcast(ids), "customer_id").cache()
    eligible = eligible_products(customers, snap.products, snap.accounts, cutoff).cache()
    catalogue = {r[0] for r in snap.products.where((F.col("status") == "ACTIVE") & (F.col("launch_date") <= F.lit(cutoff)))
                 .select("product_id").collect()}
    return Holdout(snap, relevant, customers, signals, eligible, catalogue, list(cfg.k))


@dataclass
class TrainResult:
    cutoff: date
    end: date
    customers: int
    holdout_customers: int
    candidates: dict[str, dict[str, float]]
    baseline: dict[str, float]
    chosen: str
    promotion: registry.Promotion
    run_id: str
    seconds: float

    def lines(self) -> list[str]:
        out = [f"recommender: trained on {self.customers:,} customers known at {self.cutoff}, evaluated on "
               f"{self.holdout_customers:,} who opened products until {self.end}"]
        metrics = [k for k in self.baseline if k != "holdout_customers"]
        out.append(f"  {'metric':<16}" + "".join(f"{n:>12}" for n in [*self.candidates, "baseline"]))
        for k in metrics:
            out.append(f"  {k:<16}" + "".join(f"{self.candidates[c].get(k, float('nan')):>12.4f}"
                                               for c in self.candidates) + f"{self.baseline[k]:>12.4f}")
        out.append(f"  registered {self.promotion.model_name} v{self.promotion.version} ({self.chosen}); "
                   f"{self.promotion.reason}; run {self.run_id} in {self.seconds:.0f}s")
        return out


def _candidate_params(cfg: RecommenderSettings, algorithm: str, tune: bool) -> list:
    base = getattr(cfg, algorithm).model_dump()
    cls = FITTERS[algorithm][0]
    grid = cfg.tune.get(algorithm, []) if tune else []
    return [cls(**{**base, **g}) for g in grid] or [cls(**base)]


def _plots(run: registry.TrainingRun, results: dict[str, dict[str, float]], ks: list[int]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for metric in ("precision", "recall", "map", "ndcg"):
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for name, values in results.items():
            ax.plot(ks, [values[f"{metric}_at_{k}"] for k in ks], marker="o", label=name)
        ax.set_xlabel("k")
        ax.set_ylabel(f"{metric}@k")
        ax.set_title(f"{metric}@k on the time-based holdout")
        ax.legend()
        fig.tight_layout()
        run.log_figure(fig, f"plots/{metric}_at_k.png")


def train_recommender(spark: SparkSession, settings: Settings, *, cutoff: date | None = None,
                      tune: bool = False) -> TrainResult:
    started = time.monotonic()
    phase = Phases(log, "train recommender")
    cfg = settings.models.recommender
    catalog = build_catalog(settings)
    end = latest_business_date(spark, catalog)
    if end is None:
        raise CrmError("nothing ingested yet; run `crm ingest` (or `crm demo`) first")
    cutoff = cutoff or end - timedelta(days=cfg.holdout_days)
    if cutoff >= end:
        raise CrmError(f"the cut-off {cutoff} must be before the latest business date {end}")
    pit = PointInTime(spark, settings, catalog)
    hold = holdout(spark, settings, catalog, pit, cutoff, end)
    train_rows = hold.snap.interactions.select("customer_id", "item", "strength").toPandas()
    user_items, customers, items = matrix(train_rows)
    base = popularity.as_mapping(popularity.popularity_by_segment(
        hold.snap.accounts, hold.snap.customers, cutoff, cfg.baseline_window_days))
    phase("holdout and matrix")
    ks = list(cfg.k)
    tracking = tracking_from_settings(settings)
    with registry.TrainingRun(tracking, family=FAMILY, run_name=f"recommender cutoff {cutoff}") as run:
        run.log_params({"cutoff": cutoff.isoformat(), "holdout_end": end.isoformat(), "holdout_days": cfg.holdout_days,
                        "k": ks, "promotion_metric": cfg.promotion_metric, "weights": cfg.weights.model_dump(),
                        "customers": len(customers), "items": len(items), "nonzeros": int(user_items.nnz),
                        "tune": tune})
        run.log_input_tables({name: catalog.version(spark, name) for name in INPUTS})
        baseline = hold.evaluate(None, base)
        run.log_baseline(popularity.NAME, baseline)
        results: dict[str, dict[str, float]] = {}
        best: tuple[float, str, FactorModel] | None = None
        for algorithm in cfg.candidates:
            fit = FITTERS[algorithm][1]
            for i, params in enumerate(_candidate_params(cfg, algorithm, tune)):
                label = algorithm if not tune else f"{algorithm}_{i + 1}"
                with run.nested(label) as child:
                    t0 = time.monotonic()
                    model = fit(user_items, items, params, base)
                    model.reasons = cfg.reasons
                    fit_s = time.monotonic() - t0
                    metrics = hold.evaluate(model)
                    child.log_params({"algorithm": algorithm, **params_dict(params)})
                    child.log_metrics({**metrics, "fit_seconds": fit_s})
                results[label] = metrics
                value = metrics[cfg.promotion_metric]
                log.info("recommender %s: %s = %.4f (fit %.1fs)", label, cfg.promotion_metric, value, fit_s)
                if best is None or value > best[0]:
                    best = (value, label, model)
        phase("fit and evaluate")
        value, chosen, model = best
        run.log_params({"algorithm": model.algorithm, "chosen_candidate": chosen})
        run.log_metrics(results[chosen])
        _plots(run, {**results, popularity.NAME: baseline}, ks)
        run.log_table(_metrics_table(results, baseline), "metrics.json")
        with TemporaryDirectory() as tmp:
            artifacts = model.save(Path(tmp) / "model")
            version = run.log_model(cfg.model_name, RecommenderModel(), artifacts, input_example(),
                                    pip_requirements=REQUIREMENTS)
        promotion = registry.promote_on_holdout(tracking, cfg.model_name, version, cfg.promotion_metric, value,
                                                lambda old: hold.evaluate(old)[cfg.promotion_metric], run=run)
        phase("register")
        return TrainResult(cutoff, end, len(customers), len(hold.relevant), results, baseline, chosen, promotion,
                           run.run_id, time.monotonic() - started)


def _metrics_table(results: dict[str, dict[str, float]], baseline: dict[str, float]):
    import pandas as pd

    rows = [{"model": name, **metrics} for name, metrics in results.items()]
    rows.append({"model": popularity.NAME, **baseline})
    return pd.DataFrame(rows)


@dataclass
class ScoreResult:
    run_date: date
    model_version: str
    customers: int
    offered: int
    offers: int
    cold_start: int
    seconds: float

    def line(self) -> str:
        return (f"{OFFERS:<24} {self.run_date}: {self.offers:,} offers to {self.offered:,} of {self.customers:,} "
                f"customers ({self.cold_start:,} cold start), model v{self.model_version}, {self.seconds:.0f}s")


def score_recommender(spark: SparkSession, settings: Settings, *, as_of: date | None = None) -> ScoreResult:
    started = time.monotonic()
    phase = Phases(log, "score recommender")
    cfg = settings.models.recommender
    catalog = build_catalog(settings)
    as_of = scoring_date(spark, catalog, as_of)
    model, version = champion_model(settings, cfg.model_name)
    model = replace(model, reasons=cfg.reasons)
    phase("load champion")
    pit = PointInTime(spark, settings, catalog)
    snap = snapshot(spark, settings, catalog, pit, as_of)
    phase("snapshot")
    rules = ContactRules(**cfg.contact.model_dump())
    reachable = contactable(snap.customers, snap.responses, as_of, rules)
    customers = snap.customers.join(reachable, "customer_id")
    eligible = eligible_products(customers, snap.products, snap.accounts, as_of)
    offers = recommend(customers, snap.interactions, eligible, model, snap.labels, cfg.top_k)
    info = snap.products.select("product_id", "product_name", "category")
    who = snap.customers.select("customer_id", "account_manager_id", "branch_id", "segment")
    out = (offers.join(F.broadcast(info), "product_id", "left").join(who, "customer_id", "left")
           .select(F.lit(as_of).alias("run_date"), "customer_id", "account_manager_id", "branch_id", "segment",
                   F.col("rank").cast("int").alias("rank"), "product_id", "product_name", "category", "score",
                   "reason", "reason_items", "is_cold_start", F.lit(cfg.model_name).alias("model_name"),
                   F.lit(str(version)).alias("model_version"), F.current_timestamp().alias("scored_at")))
    catalog.replace_where(spark, OFFERS, out, f"run_date = DATE'{as_of}'")
    phase("score and write")
    written = catalog.read(spark, OFFERS).where(F.col("run_date") == F.lit(as_of))
    stats = written.agg(F.count(F.lit(1)).alias("offers"), F.countDistinct("customer_id").alias("offered"),
                        F.countDistinct(F.when(F.col("is_cold_start"), F.col("customer_id"))).alias("cold")).first()
    snap.interactions.unpersist()
    return ScoreResult(as_of, str(version), snap.customers.count(), stats["offered"], stats["offers"], stats["cold"],
                       time.monotonic() - started)
