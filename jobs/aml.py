"""Anti-money laundering: `gold.aml_features`, `crm train --model aml` and `crm score --model aml`.

Features. `gold.aml_features` holds one row per customer active in the 90 days to an as-of date
(features.aml): built for the nightly date by `crm score --model aml`, and for the training and evaluation
as-of dates (every `step_days`) by `crm train --model aml`, many dates in one pass. Transactions count from the
day they became known (their extract date, or under the initial-load policy when they happened).

Training. The as-of dates in the last `holdout_days` are the evaluation window; training uses the dates of the
`training_days` before it. A training snapshot is positive when an investigation of the customer opened within
`label_horizon_days` after it and was REPORTED, as known before the cut-off (the first evaluation date): cases
close weeks after the alert, and a label from the future would flatter the model. The Isolation Forest needs no
labels; the boosting joins only with at least `min_positives` positives. On the evaluation dates the model's
risk score and the threshold-rules baseline each alert the top `alert_budget` of the customers of a date; the
run reports recall per typology, precision and alerts per 1,000 customers for both: against the investigations
not dismissed (reported, or still open: the latest weeks have few closed cases yet) and, on a synthetic bank (`evaluation_truth`), against the injected typologies. `champion` moves only when the
new version has the higher `promotion_metric` on the same evaluation dates.

Scoring. Each customer's rule hits (models.aml.rules), anomaly and supervised parts are blended into the risk
score on the executors; customers within the budget and over `min_risk_score` are alerted once per typology
hit (ANOMALY when none), with the evidence by id. An open alert for the same customer and typology (raised in
the last `reopen_after_days`, no investigation of the customer closed since it opened) is updated, never raised
twice. serving.aml_alerts keeps one slice per run date, computed from the slices before it, so a rerun of a date
replaces its slice with the same alert ids.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from features.aml import AML_FEATURES, NUMERIC, AmlFeatureBuild, aml_features
from features.aml.flows import near_threshold, paired
from features.aml.params import LOOKBACK_DAYS, AmlFeatureParams
from features.conditions import ConditionError
from jobs.catalog import Catalog
from jobs.config import AmlSettings, Settings
from jobs.errors import CrmError
from jobs.features import PointInTime, latest_business_date, scoring_date
from jobs.logs import Phases
from jobs.tables import AML_ALERTS, build_catalog
from jobs.tracking import champion_model, tracking_from_settings
from models import registry
from models.aml.evaluate import evaluate_alerts
from models.aml.model import AmlModel, AmlParams, fit_aml
from models.aml.pyfunc import AmlPyfunc, aml_example
from models.aml.rules import TypologyRule, check_rules, with_rule_hits
from models.tabular import figure

log = logging.getLogger(__name__)

AML = "aml"
TRANSACTIONS = "silver.transactions"
CASES = "silver.aml_cases"
FEATURES_TABLE = AML_FEATURES.name
BASELINE = "threshold_rules"
ANOMALY = "ANOMALY"
REQUIREMENTS = ["mlflow==3.17.2", "numpy==2.3.5", "pandas==2.3.3", "scikit-learn==1.9.1", "crm-lakehouse"]


def feature_params(cfg: AmlSettings) -> AmlFeatureParams:
    f = cfg.features
    return AmlFeatureParams(**{**f.model_dump(), "flow_types": tuple(f.flow_types),
                               "passive_types": tuple(f.passive_types),
                               "high_risk_countries": tuple(f.high_risk_countries)})


def aml_params(cfg: AmlSettings) -> AmlParams:
    g, f, w = cfg.gbm, cfg.isolation_forest, cfg.weights
    return AmlParams(rules_weight=w.rules, anomaly_weight=w.anomaly, supervised_weight=w.supervised,
                     learning_rate=g.learning_rate, max_iter=g.max_iter, max_leaf_nodes=g.max_leaf_nodes,
                     min_samples_leaf=g.min_samples_leaf, l2_regularization=g.l2_regularization,
                     n_estimators=f.n_estimators, max_samples=f.max_samples, random_state=g.random_state)


def typology_rules(cfg: AmlSettings) -> list[TypologyRule]:
    return [TypologyRule(**r.model_dump()) for r in cfg.rules]


# -- gold.aml_features ----------------------------------------------------------------------------------------

@dataclass
class AmlInputs:
    txns: DataFrame
    customers: DataFrame
    accounts: DataFrame
    cases: DataFrame


def _dates_frame(spark: SparkSession, dates: list[date]) -> DataFrame:
    return spark.createDataFrame([(d,) for d in dates], "as_of_date date")


def aml_inputs(spark: SparkSession, settings: Settings, catalog: Catalog, dates: list[date]) -> AmlInputs:
    """What the features read, as known on the as-of dates: the transactions of the 90 days up to the latest,
    the customers known on each date, the bank's accounts and the reported cases."""
    for name in (TRANSACTIONS, "silver.customers", "silver.accounts"):
        if not catalog.exists(spark, name):
            raise CrmError(f"AML features read {name}; run `crm ingest` first")
    pit = PointInTime(spark, settings, catalog)
    lo, hi = min(dates) - timedelta(LOOKBACK_DAYS - 1), max(dates) + timedelta(1)
    txns = (pit.arrived(TRANSACTIONS, "txn_ts")
            .where((F.col("txn_ts") >= F.lit(lo).cast("timestamp")) & (F.col("txn_ts") < F.lit(hi).cast("timestamp")))
            .withColumnRenamed("_extract_date", "known_date"))
    customers = pit.known("customers", dates, _dates_frame(spark, dates)).select(
        "as_of_date", "customer_id", "segment", "occupation", "onboarding_date", "address_token")
    accounts = catalog.read(spark, "silver.accounts").select("account_id", "customer_id")
    if catalog.exists(spark, CASES):
        cases = (pit.arrived(CASES, "updated_at").where(F.col("outcome") == "REPORTED")
                 .select("customer_id", F.col("_extract_date").alias("known_date")))
    else:
        cases = spark.createDataFrame([], "customer_id string, known_date date")
    return AmlInputs(txns, customers, accounts, cases)


@dataclass
class AmlFeatureRun:
    dates: list[date]
    rows: int
    seconds: float
    build: AmlFeatureBuild = field(repr=False)

    def line(self) -> str:
        span = f"{self.dates[0]}" if len(self.dates) == 1 else f"{len(self.dates)} dates {self.dates[0]}..{self.dates[-1]}"
        return f"{FEATURES_TABLE:<24} {span}: {self.rows:,} customer rows, {self.seconds:.0f}s"


def build_aml_features(spark: SparkSession, settings: Settings, dates: list[date], *,
                       catalog: Catalog | None = None) -> AmlFeatureRun:
    """gold.aml_features for the as-of dates (their slices replaced), in one pass."""
    started = time.monotonic()
    catalog = catalog or build_catalog(settings)
    dates = sorted(set(dates))
    inputs = aml_inputs(spark, settings, catalog, dates)
    try:
        build = aml_features(inputs.txns, inputs.customers, inputs.accounts, inputs.cases,
                             _dates_frame(spark, dates), feature_params(settings.models.aml))
    except ValueError as e:
        raise CrmError(f"aml features: {e}") from None
    cond = " OR ".join(f"as_of_date = DATE'{d}'" for d in dates)
    try:
        catalog.replace_where(spark, FEATURES_TABLE, build.features, cond)
    except Exception:
        build.release()
        raise
    rows = catalog.read(spark, FEATURES_TABLE).where(F.col("as_of_date").isin(dates)).count()
    run = AmlFeatureRun(dates, rows, time.monotonic() - started, build)
    log.info(run.line())
    return run


def _ruled(features: DataFrame, cfg: AmlSettings) -> DataFrame:
    rules = typology_rules(cfg)
    try:
        check_rules(features, rules, cfg.baseline)
    except ConditionError as e:
        raise CrmError(str(e)) from None
    return with_rule_hits(features, rules, cfg.baseline)


_PARTS_SCHEMA = "as_of_date date, customer_id string, anomaly_score double, supervised_score double, risk_score double"


def _model_inputs(ruled: DataFrame, keep: tuple[str, ...] = ()) -> DataFrame:
    return ruled.select("as_of_date", "customer_id", *keep, *[F.col(c).cast("double") for c in NUMERIC],
                        F.col("rules_score").cast("double"))


def scored_parts(ruled: DataFrame, model: AmlModel) -> DataFrame:
    """(as_of_date, customer_id, anomaly_score, supervised_score, risk_score), scored on the executors."""
    def score(batches):
        for pdf in batches:
            parts = model.parts(pdf)
            yield pd.DataFrame({"as_of_date": pdf["as_of_date"], "customer_id": pdf["customer_id"],
                                "anomaly_score": parts["anomaly_score"].to_numpy(),
                                "supervised_score": parts["supervised_score"].to_numpy(),
                                "risk_score": parts["risk_score"].to_numpy()})

    return _model_inputs(ruled).mapInPandas(score, _PARTS_SCHEMA)


# -- training -------------------------------------------------------------------------------------------------

@dataclass
class AmlSplit:
    train_dates: list[date]
    eval_dates: list[date]

    @property
    def cutoff(self) -> date:
        return self.eval_dates[0]


def split_dates(first: date, end: date, cfg: AmlSettings) -> AmlSplit:
    """As-of dates every step_days back from `end`: the evaluation ones within holdout_days, the training ones
    within training_days before them, none before 30 days of history."""
    earliest = first + timedelta(29)
    evals = [end - timedelta(k) for k in range(0, cfg.holdout_days, cfg.step_days)]
    cutoff = min(evals)
    trains = [cutoff - timedelta(k) for k in range(cfg.step_days, cfg.training_days + 1, cfg.step_days)]
    trains = [d for d in trains if d >= earliest]
    evals = [d for d in evals if d >= earliest]
    if not trains or not evals:
        raise CrmError(f"aml needs at least 30 days of transactions before its first training date (the first is "
                       f"on {first}, the evaluation starts {cutoff}); ingest more history or lower "
                       "models.aml.holdout_days")
    return AmlSplit(sorted(trains), sorted(evals))


def case_periods(spark: SparkSession, catalog: Catalog, cfg: AmlSettings) -> pd.DataFrame:
    """Investigations not dismissed (reported, or still open: a case takes weeks to close, so the latest window
    has few reported ones yet) as evaluation cases: the days up to case_lead_days before each opened."""
    if not catalog.exists(spark, CASES):
        return pd.DataFrame(columns=["customer_id", "typology", "period_start", "period_end"])
    rows = (catalog.read(spark, CASES).where(F.col("outcome") != "DISMISSED")
            .select("customer_id", "typology", F.date_sub("opened_date", cfg.case_lead_days).alias("period_start"),
                    F.col("opened_date").alias("period_end"))).toPandas()
    return rows


def truth_periods(spark: SparkSession, settings: Settings, cfg: AmlSettings) -> pd.DataFrame | None:
    """A synthetic bank's injected typologies as evaluation cases: while each ran and the step after it."""
    if not cfg.evaluation_truth:
        return None
    path = settings.path(cfg.evaluation_truth).rstrip("/") + "/aml_typologies"
    try:
        truth = spark.read.parquet(path)
    except Exception as e:  # noqa: BLE001 - a missing folder is a configuration mistake
        raise CrmError(f"models.aml.evaluation_truth: cannot read {path}: {str(e).splitlines()[0][:200]}") from None
    return truth.select("customer_id", "typology", F.to_date("window_start").alias("period_start"),
                        F.date_add(F.to_date("window_end"), cfg.step_days - 1).alias("period_end")).toPandas()


@dataclass
class AmlTrainResult:
    split: AmlSplit
    rows: int
    positives: int
    supervised: bool
    metrics: dict[str, float]
    promotion: registry.Promotion
    run_id: str
    seconds: float
    labels: str                                        # what the headline metrics are measured against
    evaluation: pd.DataFrame = field(repr=False, default=None)

    def lines(self) -> list[str]:
        m, s = self.metrics, self.split
        kinds = sorted(k.removeprefix("recall_at_budget_") for k in m
                       if k.startswith("recall_at_budget_") and not k.startswith("baseline_"))
        head = (f"aml: trained on {self.rows:,} customer snapshots ({len(s.train_dates)} dates "
                f"{s.train_dates[0]}..{s.train_dates[-1]}, {self.positives} before a reported case known by "
                f"{s.cutoff}" + ("" if self.supervised else "; too few for the supervised part")
                + f"); evaluated on {len(s.eval_dates)} dates {s.eval_dates[0]}..{s.eval_dates[-1]} against "
                f"{self.labels} ({m.get('cases', 0):.0f} cases)")
        rows = [("recall_at_budget", "recall@budget"), ("precision_at_budget", "precision@budget"),
                ("alerts_per_1000", "alerts per 1,000 customers")] + [
            (f"recall_at_budget_{k}", f"  recall {k}") for k in kinds]
        return [head, f"  {'metric':<30}{'model':>10}{'baseline':>10}",
                *[f"  {label:<30}{m.get(k, float('nan')):>10.4f}{m.get('baseline_' + k, float('nan')):>10.4f}"
                  for k, label in rows],
                f"  registered {self.promotion.model_name} v{self.promotion.version}; {self.promotion.reason}; "
                f"run {self.run_id} in {self.seconds:.0f}s"]


def _labelled(spark: SparkSession, catalog: Catalog, features: DataFrame, cfg: AmlSettings,
              known_before: date) -> DataFrame:
    """`features` with is_case: a REPORTED investigation opened within label_horizon_days after the as-of date,
    reported before `known_before`."""
    if not catalog.exists(spark, CASES):
        return features.withColumn("is_case", F.lit(0))
    cases = (catalog.read(spark, CASES).where((F.col("outcome") == "REPORTED")
                                              & (F.col("updated_at") < F.lit(known_before).cast("timestamp")))
             .select("customer_id", "opened_date"))
    hit = features.select("as_of_date", "customer_id").join(cases, "customer_id").where(
        (F.col("opened_date") > F.col("as_of_date"))
        & (F.col("opened_date") <= F.date_add("as_of_date", cfg.label_horizon_days)))
    hit = hit.select("as_of_date", "customer_id", F.lit(1).alias("is_case")).distinct()
    return features.join(hit, ["as_of_date", "customer_id"], "left").withColumn(
        "is_case", F.coalesce(F.col("is_case"), F.lit(0)))


def _evaluation_frame(ruled: DataFrame, model: AmlModel) -> pd.DataFrame:
    parts = scored_parts(ruled, model)
    base = ruled.select("as_of_date", "customer_id", "baseline_score", "rules_score",
                        F.transform("rule_hits", lambda h: h["typology"]).alias("typologies"))
    return base.join(parts, ["as_of_date", "customer_id"]).toPandas()


def evaluate_frame(frame: pd.DataFrame, cases: pd.DataFrame, cfg: AmlSettings, prefix: str = "") -> dict[str, float]:
    """The model's risk score and the baseline at the budget, against `cases`."""
    model = evaluate_alerts(frame, cases, "risk_score", cfg.alert_budget, cfg.min_risk_score, prefix)
    base = evaluate_alerts(frame.drop(columns=["typologies"]), cases, "baseline_score", cfg.alert_budget, 1.0,
                           f"baseline_{prefix}")
    return {**model, **base}


def plot_recall(metrics: dict[str, float], prefix: str = ""):
    kinds = sorted(k.removeprefix(f"{prefix}recall_at_budget_") for k in metrics
                   if k.startswith(f"{prefix}recall_at_budget_"))
    fig = figure(7, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    xs = range(len(kinds) + 1)
    names = ["overall", *kinds]
    model = [metrics.get(f"{prefix}recall_at_budget" + (f"_{k}" if k != "overall" else ""), 0) for k in names]
    base = [metrics.get(f"baseline_{prefix}recall_at_budget" + (f"_{k}" if k != "overall" else ""), 0) for k in names]
    ax.bar([x - 0.2 for x in xs], model, width=0.4, label="model")
    ax.bar([x + 0.2 for x in xs], [0 if math.isnan(b) else b for b in base], width=0.4, label=BASELINE)
    ax.set_xticks(list(xs), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("recall at the alert budget")
    ax.legend(fontsize=8)
    return fig


def train_aml(spark: SparkSession, settings: Settings) -> AmlTrainResult:
    started = time.monotonic()
    phase = Phases(log, "train aml")
    cfg = settings.models.aml
    catalog = build_catalog(settings)
    end = latest_business_date(spark, catalog)
    if end is None or not catalog.exists(spark, TRANSACTIONS):
        raise CrmError("nothing ingested yet; run `crm ingest` (or `crm demo`) first")
    first = catalog.read(spark, TRANSACTIONS).agg(F.to_date(F.min("txn_ts"))).first()[0]
    if first is None:
        raise CrmError(f"{TRANSACTIONS} is empty; nothing to train AML on")
    split = split_dates(first, end, cfg)
    built = catalog.distinct_values(spark, FEATURES_TABLE, "as_of_date")
    missing = [d for d in split.train_dates + split.eval_dates if d not in built]
    if missing:
        build_aml_features(spark, settings, missing, catalog=catalog).build.release()
    phase("features")
    feats = catalog.read(spark, FEATURES_TABLE)
    train = _ruled(feats.where(F.col("as_of_date").isin(split.train_dates)), cfg)
    train = _labelled(spark, catalog, train, cfg, split.cutoff)
    frame = _model_inputs(train, keep=("is_case",)).toPandas()
    params = aml_params(cfg)
    try:
        model = fit_aml(frame, NUMERIC, "is_case", params, cfg.min_positives)
    except ValueError as e:
        raise CrmError(f"aml: {e}") from None
    phase("fit")
    # read by the challenger's scoring, the baseline and the champion's: computed once
    holdout = _ruled(feats.where(F.col("as_of_date").isin(split.eval_dates)), cfg).localCheckpoint()
    scored = _evaluation_frame(holdout, model)
    if scored.empty:
        raise CrmError(f"aml: no customers to evaluate on {split.eval_dates[0]}..{split.eval_dates[-1]}")
    cases = case_periods(spark, catalog, cfg)
    truth = truth_periods(spark, settings, cfg)
    labels = "the injected typologies" if truth is not None else "investigations (reported or open)"
    primary = truth if truth is not None else cases
    metrics = evaluate_frame(scored, primary, cfg)
    if truth is not None:
        metrics.update(evaluate_frame(scored, cases, cfg, prefix="cases_"))
    phase("evaluate")
    tracking = tracking_from_settings(settings)
    with registry.TrainingRun(tracking, family=AML, run_name=f"aml to {end}") as run:
        run.log_params({"train_dates": [str(d) for d in split.train_dates],
                        "eval_dates": [str(d) for d in split.eval_dates], "labels_known_before": str(split.cutoff),
                        "evaluated_against": labels, "alert_budget": cfg.alert_budget,
                        "min_risk_score": cfg.min_risk_score, "training_rows": len(frame),
                        "training_positives": model.fit_positives, "supervised": model.supervised is not None,
                        "weights": cfg.weights.model_dump(), "gbm": cfg.gbm.model_dump(),
                        "isolation_forest": cfg.isolation_forest.model_dump(),
                        "rules": {r.typology: r.condition for r in cfg.rules}, "baseline_rules": list(cfg.baseline),
                        "features": list(NUMERIC), "feature_params": cfg.features.model_dump(),
                        "promotion_metric": cfg.promotion_metric})
        run.log_input_tables({FEATURES_TABLE: catalog.version(spark, FEATURES_TABLE),
                              CASES: catalog.version(spark, CASES) if catalog.exists(spark, CASES) else None})
        run.log_with_baseline(BASELINE, metrics)
        run.log_figure(plot_recall(metrics), "plots/recall_by_typology.png")
        run.log_table(metrics_table(metrics), "metrics_table.json")
        with TemporaryDirectory() as tmp:
            version = run.log_model(cfg.model_name, AmlPyfunc(model), AmlPyfunc.save(model, Path(tmp) / "model"),
                                    aml_example(model), pip_requirements=REQUIREMENTS)

        def champion_metric(old: AmlModel) -> float:
            try:
                registry.require_features(AML, FEATURES_TABLE, old.features, NUMERIC)
            except ValueError as e:
                raise CrmError(str(e)) from None
            return evaluate_frame(_evaluation_frame(holdout, old), primary, cfg)[cfg.promotion_metric]

        promotion = registry.promote_on_holdout(tracking, cfg.model_name, version, cfg.promotion_metric,
                                                metrics[cfg.promotion_metric], champion_metric, run=run)
        phase("register")
    return AmlTrainResult(split, len(frame), model.fit_positives, model.supervised is not None, metrics, promotion,
                          run.run_id, time.monotonic() - started, labels, scored)


def metrics_table(metrics: dict[str, float]) -> pd.DataFrame:
    """metric | model | threshold-rules baseline, for the run's artifacts."""
    names = [k for k in metrics if not k.startswith("baseline_")]
    return pd.DataFrame({"metric": names, "model": [metrics[k] for k in names],
                         BASELINE: [metrics.get(f"baseline_{k}") for k in names]})


# -- scoring and alerts ---------------------------------------------------------------------------------------

def alert_candidates(ruled: DataFrame, parts: DataFrame, cfg: AmlSettings) -> DataFrame:
    """One row per (customer, typology) alerted on the date: the customers within the budget and over
    min_risk_score, once per rule hit (ANOMALY when none)."""
    x = ruled.join(parts, ["as_of_date", "customer_id"])
    n = F.count(F.lit(1)).over(Window.partitionBy("as_of_date"))
    rank = F.row_number().over(Window.partitionBy("as_of_date").orderBy(F.desc("risk_score"), "customer_id"))
    x = x.select("*", rank.alias("risk_rank"), n.alias("_n"))
    x = x.where((F.col("risk_rank") <= F.greatest(F.lit(1), F.floor(F.col("_n") * cfg.alert_budget)))
                & (F.col("risk_score") >= cfg.min_risk_score))
    anomaly = F.array(F.struct(F.lit(ANOMALY).alias("typology"), F.lit(0.0).alias("severity"),
                               F.format_string("no typology rule hit; anomaly percentile %.2f, supervised %s",
                                               F.col("anomaly_score"),
                                               F.coalesce(F.format_number("supervised_score", 2), F.lit("n/a")))
                               .alias("explanation"), F.lit("flows_30d").alias("evidence")))
    hits = F.when(F.size("rule_hits") > 0, F.col("rule_hits")).otherwise(anomaly)
    x = x.select("*", F.posexplode(hits).alias("_pos", "hit"))
    others = F.filter(F.transform(hits, lambda h: h["typology"]), lambda t: t != F.col("hit.typology"))
    return x.select("as_of_date", "customer_id", F.col("hit.typology").alias("typology"),
                    F.col("hit.severity").alias("typology_severity"), F.col("hit.explanation").alias("explanation"),
                    F.col("hit.evidence").alias("evidence"), others.alias("other_typologies"), "risk_score",
                    "risk_rank", "rules_score", "anomaly_score", "supervised_score")


def alert_evidence(candidates: DataFrame, txns: DataFrame, cycles: DataFrame, as_of: date,
                   params: AmlFeatureParams, max_evidence: int) -> DataFrame:
    """(customer_id, typology, evidence_txn_ids, evidence_counterparties, cycle_path, window_start, window_end)
    for the candidates: the transactions behind each typology, largest first. `txns`: `flows.prepared` rows of
    the 90 days; only the candidates' customers are read."""
    who = F.broadcast(candidates.select("customer_id", "typology", "evidence"))
    t = paired(txns.join(F.broadcast(candidates.select("customer_id").distinct()), "customer_id"),
               F.broadcast(txns.sparkSession.createDataFrame([(as_of,)], "as_of_date date")))
    flow = F.col("txn_type").isin(*params.flow_types)
    under, _, _ = near_threshold(F.col("amount"), F.col("currency"), params)
    first_paid = F.max("age").over(Window.partitionBy("customer_id", "direction", "counterparty_account"))
    t = t.withColumn("_first_age", first_paid)
    kinds = {
        "near_threshold": (F.col("age") < 30) & F.col("txn_type").isin("CASH_DEPOSIT", "TRANSFER_IN", "TRANSFER_OUT")
        & under,
        "new_senders": (F.col("age") < 30) & (F.col("txn_type") == "TRANSFER_IN") & (F.col("_first_age") < 30),
        "new_receivers": (F.col("age") < 30) & (F.col("txn_type") == "TRANSFER_OUT") & (F.col("_first_age") < 30),
        "pass_through": (F.col("age") < 30) & flow & (F.col("cny") >= params.pass_through_min_cny),
        "flows_30d": (F.col("age") < 30) & flow,
        "high_risk_country": F.col("country").isin(*params.high_risk_countries),
    }
    kind = None
    for name, cond in kinds.items():
        kind = F.when(cond, F.array(F.lit(name))).otherwise(F.array()) if kind is None else F.array_union(
            kind, F.when(cond, F.array(F.lit(name))).otherwise(F.array()))
    rows = t.select("customer_id", "txn_id", "counterparty_account", "txn_date", "cny", F.explode(kind).alias("evidence"))
    rows = rows.join(who, ["customer_id", "evidence"])
    cyc = (cycles.where((F.col("cycle_date") <= F.lit(as_of)) & (F.col("cycle_date") > F.lit(as_of - timedelta(30)))
                        & (F.col("known_date") <= F.lit(as_of)))
           .join(F.broadcast(candidates.where(F.col("evidence") == "cycles").select("customer_id", "typology")),
                 "customer_id"))
    cyc_rows = cyc.select("customer_id", "typology", F.explode("txn_ids").alias("txn_id"), "start_cny",
                          F.col("cycle_date").alias("txn_date"))
    cyc_rows = cyc_rows.select("customer_id", "typology", "txn_id", F.lit(None).cast("string").alias("counterparty_account"),
                               "txn_date", F.col("start_cny").alias("cny"))
    allrows = rows.select("customer_id", "typology", "txn_id", "counterparty_account", "txn_date", "cny").unionByName(cyc_rows)
    order = Window.partitionBy("customer_id", "typology").orderBy(F.desc("cny"), "txn_id")
    top = allrows.withColumn("_k", F.row_number().over(order)).where(F.col("_k") <= max_evidence)
    agg = top.groupBy("customer_id", "typology").agg(
        F.transform(F.array_sort(F.collect_list(F.struct("_k", "txn_id"))), lambda s: s["txn_id"]).alias("evidence_txn_ids"),
        F.array_sort(F.array_distinct(F.collect_list("counterparty_account"))).alias("evidence_counterparties"),
        F.min("txn_date").alias("window_start"), F.max("txn_date").alias("window_end"))
    largest = Window.partitionBy("customer_id", "typology").orderBy(F.desc("start_cny"), "first_ts")
    paths = (cyc.withColumn("_k", F.row_number().over(largest)).where("_k = 1")
             .select("customer_id", "typology", F.col("customer_path").alias("cycle_path")))
    return agg.join(paths, ["customer_id", "typology"], "left")


def open_alerts_before(spark: SparkSession, catalog: Catalog, as_of: date, cfg: AmlSettings) -> DataFrame | None:
    """The open alert, if any, of each (customer, typology) before `as_of`."""
    if not catalog.exists(spark, AML_ALERTS.name):
        return None
    prev = catalog.read(spark, AML_ALERTS.name).where(F.col("run_date") < F.lit(as_of))
    latest = Window.partitionBy("customer_id", "typology").orderBy(F.desc("run_date"))
    prev = (prev.withColumn("_k", F.row_number().over(latest)).where("_k = 1")
            .where(F.col("run_date") >= F.lit(as_of - timedelta(cfg.reopen_after_days)))
            .select("customer_id", "typology", "alert_id", "opened_date", "days_alerted"))
    if catalog.exists(spark, CASES):
        closed = catalog.read(spark, CASES).where(F.col("closed_date").isNotNull() & (F.col("closed_date") < F.lit(as_of)))
        done = prev.join(closed.select("customer_id", "closed_date"), "customer_id").where(
            F.col("closed_date") >= F.col("opened_date")).select("customer_id", "typology").distinct()
        prev = prev.join(done, ["customer_id", "typology"], "left_anti")
    return prev


def with_alert_ids(candidates: DataFrame, previous: DataFrame | None, as_of: date) -> DataFrame:
    """Candidates with alert_id, alert_status (UPDATED when an open alert of the same customer and typology
    exists, else NEW), opened_date and days_alerted."""
    new_id = F.concat(F.lit("AML-"), F.upper(F.substring(F.sha2(F.concat_ws("|", "customer_id", "typology",
                                                                               F.lit(str(as_of))), 256), 1, 16)))
    if previous is None:
        return candidates.select("*", new_id.alias("alert_id"), F.lit("NEW").alias("alert_status"),
                                 F.lit(as_of).alias("opened_date"), F.lit(1).alias("days_alerted"))
    p = previous.select("customer_id", "typology", F.col("alert_id").alias("_id"), F.col("opened_date").alias("_opened"),
                        F.col("days_alerted").alias("_days"))
    x = candidates.join(p, ["customer_id", "typology"], "left")
    upd = F.col("_id").isNotNull()
    return x.select(*candidates.columns, F.when(upd, F.col("_id")).otherwise(new_id).alias("alert_id"),
                    F.when(upd, "UPDATED").otherwise("NEW").alias("alert_status"),
                    F.when(upd, F.col("_opened")).otherwise(F.lit(as_of)).alias("opened_date"),
                    F.when(upd, F.col("_days") + 1).otherwise(F.lit(1)).alias("days_alerted"))


def publish_alerts(spark: SparkSession, catalog: Catalog, alerts: DataFrame, as_of: date, cfg: AmlSettings,
                   version: str) -> None:
    """serving.aml_alerts for `as_of`: the candidates with their evidence, their ids decided against the open
    alerts before the date (its slice replaced, so a rerun gives the same rows)."""
    alerts = with_alert_ids(alerts, open_alerts_before(spark, catalog, as_of, cfg), as_of)
    empty = F.array().cast("array<string>")
    out = alerts.select(
        F.lit(as_of).alias("run_date"), "alert_id", "customer_id", "typology", "alert_status", "opened_date",
        F.col("days_alerted").cast("int").alias("days_alerted"), "risk_score",
        F.col("risk_rank").cast("int").alias("risk_rank"), "typology_severity", "rules_score", "anomaly_score",
        "supervised_score", "explanation", "other_typologies",
        F.coalesce("evidence_txn_ids", empty).alias("evidence_txn_ids"),
        F.coalesce("evidence_counterparties", empty).alias("evidence_counterparties"),
        "cycle_path", "window_start", "window_end",
        F.lit(cfg.model_name).alias("model_name"), F.lit(version).alias("model_version"),
        F.current_timestamp().alias("scored_at"))
    catalog.replace_where(spark, AML_ALERTS.name, out, f"run_date = DATE'{as_of}'")


@dataclass
class AmlScoreResult:
    run_date: date
    customers: int
    alerts: int
    new: int
    updated: int
    model_version: str
    seconds: float

    def line(self) -> str:
        return (f"{AML_ALERTS.name:<24} {self.run_date}: {self.customers:,} customers scored, {self.alerts:,} alerts "
                f"({self.new:,} new, {self.updated:,} updated); {AML} v{self.model_version}, {self.seconds:.0f}s")


def score_aml(spark: SparkSession, settings: Settings, *, as_of: date | None = None) -> AmlScoreResult:
    """gold.aml_features for the date, then serving.aml_alerts for it."""
    started = time.monotonic()
    phase = Phases(log, "score aml")
    cfg = settings.models.aml
    catalog = build_catalog(settings)
    as_of = scoring_date(spark, catalog, as_of)
    model, version = champion_model(settings, cfg.model_name)
    run = build_aml_features(spark, settings, [as_of], catalog=catalog)
    phase("features")
    feats = catalog.read(spark, FEATURES_TABLE).where(F.col("as_of_date") == F.lit(as_of))
    ruled = _ruled(feats, cfg).localCheckpoint()     # scored, then joined back to the scores
    parts = scored_parts(ruled, model)
    candidates = alert_candidates(ruled, parts, cfg).localCheckpoint()
    evidence = alert_evidence(candidates, run.build.transactions, run.build.cycles, as_of, feature_params(cfg),
                              cfg.max_evidence)
    publish_alerts(spark, catalog, candidates.join(evidence, ["customer_id", "typology"], "left"), as_of, cfg,
                   version)
    run.build.release()
    phase("alerts")
    counts = (catalog.read(spark, AML_ALERTS.name).where(F.col("run_date") == F.lit(as_of))
              .groupBy("alert_status").count().collect())
    by = {r["alert_status"]: r["count"] for r in counts}
    return AmlScoreResult(as_of, run.rows, sum(by.values()), by.get("NEW", 0), by.get("UPDATED", 0), version,
                          time.monotonic() - started)

