"""Card fraud: `gold.txn_features`, `crm train --model fraud` and `crm score --model fraud`.

Features. Every transaction gets its point-in-time features (features.txn) once its day is built; a backfill
builds `feature_chunk_days` days per Spark pass. The nightly run builds the day whole and, in the `restate_days`
before it, restates only the customers whose history late or corrected records reached since those days were
built (the rule at `nightly_txn_features`). Merchant risk counts fraud labels known before each day.

Training (label delay). The latest `holdout_days` business days are the evaluation window; the model trains on
up to `training_days` days before it, and a training transaction counts as fraud only when its label was known
before the cut-off (the first evaluation day): labels arrive days or weeks late, and a model trained on labels
from the future would look better than it can be. The evaluation window uses every label known now. The
Isolation Forest learns ordinary transactions (no labels needed); the boosting learns the confirmed fraud,
with the legitimate transactions sampled by a hash of txn_id above `max_training_rows` and weighted back.
Both, their blend and the rules baseline are compared at the daily alert budget; `champion` moves only when
the new version has the higher `promotion_metric` on the same evaluation window.

Scoring runs on the executors (mapInPandas): every transaction of day D gets its score, an ALERT decision when
it ranks within the day's budget, and its strongest reasons in words; serving.fraud_scores keeps one slice per
run date.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from tempfile import TemporaryDirectory

import pandas as pd
from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from features.merchant_risk import merchant_fraud_by_day
from features.txn import TXN_FEATURES, ReasonThresholds, TxnFeatureParams, reasons, transaction_features
from jobs.catalog import Catalog
from jobs.config import FraudSettings, Settings
from jobs.errors import CrmError
from jobs.features import latest_business_date, scoring_date
from jobs.logs import Phases
from jobs.tables import FRAUD_SCORES, build_catalog
from jobs.tracking import champion_model, tracking_from_settings
from models import registry
from models.fraud.inputs import FEATURES, model_inputs
from models.fraud.model import FraudModel, FraudParams, FraudRules, evaluate, fit_fraud, plot_pr, rules_score
from models.fraud.pyfunc import FraudPyfunc, fraud_example

log = logging.getLogger(__name__)

FRAUD = "fraud"
TRANSACTIONS = "silver.transactions"
LABELS = "silver.fraud_labels"
FEATURES_TABLE = TXN_FEATURES.name
BASELINE = "rules"
REQUIREMENTS = ["mlflow==3.17.2", "numpy==2.3.5", "pandas==2.3.3", "scikit-learn==1.9.1", "crm-lakehouse"]
RULE_COLUMNS = {"amount_ratio": "amount_to_usual_ratio", "count_1h": "debit_count_1h",
                "amount_24h": "debit_amount_24h", "small_auths": "card_test_auth_count"}


def feature_params(cfg: FraudSettings) -> TxnFeatureParams:
    return TxnFeatureParams(**cfg.features.model_dump())


def fraud_params(cfg: FraudSettings) -> FraudParams:
    g, f = cfg.gbm, cfg.isolation_forest
    return FraudParams(learning_rate=g.learning_rate, max_iter=g.max_iter, max_leaf_nodes=g.max_leaf_nodes,
                       min_samples_leaf=g.min_samples_leaf, l2_regularization=g.l2_regularization,
                       n_estimators=f.n_estimators, max_samples=f.max_samples, anomaly_weight=cfg.anomaly_weight,
                       random_state=g.random_state)


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


def _ts_range(df: DataFrame, start: date, end: date) -> DataFrame:
    """Rows with txn_ts on the UTC days start..end."""
    return df.where((F.col("txn_ts") >= F.lit(_midnight(start))) & (F.col("txn_ts") < F.lit(_midnight(end + timedelta(1)))))


# -- gold.txn_features ----------------------------------------------------------------------------------------

SOURCE_VERSION = "source_version"
_SOURCE_VERSION_COMMENT = (f"Delta version of {TRANSACTIONS} the row's features hold for: the version it was "
                           "built from, or a later one whose changes were checked and reach none of the "
                           "customer's history before the transaction.")
_DAY_US = 86400 * 1_000_000


@dataclass
class FeatureBuild:
    start: date | None
    end: date | None
    days: int                                     # days rebuilt for every customer
    rows: int
    seconds: float
    restated: list[date] = field(default_factory=list)  # earlier days rebuilt for the customers late records reached
    restated_customers: int = 0
    restated_rows: int = 0

    def line(self) -> str:
        if not self.days and not self.restated:
            return f"{FEATURES_TABLE:<24} up to date"
        text = (f"{FEATURES_TABLE:<24} {self.start}..{self.end}: {self.days} day(s), {self.rows:,} transactions"
                if self.days else f"{FEATURES_TABLE:<24} no full day")
        if self.restated:
            text += (f"; restated {', '.join(map(str, self.restated))} for {self.restated_customers:,} customer(s) "
                     f"({self.restated_rows:,} transactions)")
        return text + f", {self.seconds:.0f}s"


@dataclass
class _Inputs:
    """What every feature pass reads, pinned to one version of silver.transactions."""
    version: int
    txns: DataFrame
    labels: DataFrame | None
    params: TxnFeatureParams
    chunk_days: int


def _inputs(spark: SparkSession, catalog: Catalog, cfg: FraudSettings) -> _Inputs:
    if not catalog.exists(spark, TRANSACTIONS):
        raise CrmError(f"fraud features read {TRANSACTIONS}; run `crm ingest` first")
    version = catalog.version(spark, TRANSACTIONS)
    labels = catalog.read(spark, LABELS) if catalog.exists(spark, LABELS) else None
    return _Inputs(version, catalog.read(spark, TRANSACTIONS, version=version), labels, feature_params(cfg),
                   cfg.feature_chunk_days)


def _with_version(df: DataFrame, version: int) -> DataFrame:
    return df.select(*[c for c in df.columns if c != SOURCE_VERSION],
                     F.lit(version).cast("bigint").alias(SOURCE_VERSION, metadata={"comment": _SOURCE_VERSION_COMMENT}))


def _range_sql(s: date, e: date) -> str:
    return f"txn_date >= DATE'{s}' AND txn_date <= DATE'{e}'"


def _write_pass(spark: SparkSession, catalog: Catalog, inp: _Inputs, s: date, e: date,
                restate: tuple[date, DataFrame] | None = None) -> int:
    """One Spark pass: txn_features of every transaction of the days s..e, and with `restate` = (r, customers),
    of those customers' transactions of the days r..s-1 as well (the other rows of those days are kept, marked
    as holding for this version). One commit replaces the days written; returns the rows of s..e."""
    p = inp.params
    start = restate[0] if restate else s
    scored = _ts_range(inp.txns, s, e)
    if restate:
        r, who = restate
        scored = _ts_range(inp.txns, r, s - timedelta(1)).join(F.broadcast(who), "customer_id", "left_semi") \
            .unionByName(scored)
    history = _ts_range(inp.txns, start - timedelta(p.lookback_days), e)
    # merchant risk counts every customer's transactions at the merchant, whoever is rebuilt
    risk = (merchant_fraud_by_day(inp.labels, _ts_range(inp.txns, start - timedelta(p.merchant_risk_days), e),
                                  start, e, p.merchant_risk_days) if inp.labels is not None else None)
    out = _with_version(transaction_features(scored, history, risk, p), inp.version)
    if restate:
        kept = (catalog.read(spark, FEATURES_TABLE).where(F.col("txn_date").between(start, s - timedelta(1)))
                .join(F.broadcast(who), "customer_id", "left_anti"))
        out = out.unionByName(_with_version(kept, inp.version), allowMissingColumns=True)
    catalog.replace_where(spark, FEATURES_TABLE, out, _range_sql(start, e))
    n = catalog.read(spark, FEATURES_TABLE).where(F.col("txn_date").between(s, e)).count()
    log.info("%s: %s..%s, %d transactions", FEATURES_TABLE, s, e, n)
    return n


def _build_full_days(spark: SparkSession, catalog: Catalog, inp: _Inputs, days: list[date],
                     restate: tuple[date, DataFrame] | None = None) -> int:
    """The days whole, `feature_chunk_days` per pass; `restate` goes with the first pass (it must start the day
    after the restated ones)."""
    rows = 0
    for i, (s, e) in enumerate(_chunks(days, inp.chunk_days)):
        if i == 0 and restate:
            rows += _write_pass(spark, catalog, inp, s, e, restate)
        elif not _ts_range(inp.txns, s, e).isEmpty():
            rows += _write_pass(spark, catalog, inp, s, e)
    return rows


def build_txn_features(spark: SparkSession, settings: Settings, start: date, end: date, *,
                       only_missing: bool = False, catalog: Catalog | None = None) -> FeatureBuild:
    """gold.txn_features for the transactions of the days start..end (all of them, or those not built yet)."""
    started = time.monotonic()
    catalog = catalog or build_catalog(settings)
    inp = _inputs(spark, catalog, settings.models.fraud)
    days = [start + timedelta(i) for i in range((end - start).days + 1)]
    if only_missing:
        built = catalog.distinct_values(spark, FEATURES_TABLE, "txn_date")
        days = [d for d in days if d not in built]
    rows = _build_full_days(spark, catalog, inp, days)
    return FeatureBuild(days[0] if days else None, days[-1] if days else None, len(days), rows,
                        time.monotonic() - started)


# The nightly build (restatement rule). Day D is always built whole. A day d of the `restate_days` before it is
# rebuilt only where silver.transactions changed since d's features were built (each row records the version it
# holds for, `source_version`), and only for the customers the changes reach: a transaction's features read
# nothing but its own customer's earlier transactions, so a late or corrected record for customer c, dated x,
# makes stale c's rows of every day from x to x + lookback_days, and no one else's. Hence:
#   stale(d) = customers with a changed transaction (inserted, or either image of an update) committed after
#              d's version and dated within d's reach, d - lookback_days .. d;
#   every stale customer's transactions from the first stale day to D-1 are rebuilt, in the same Spark pass and
#   commit as day D (features.txn lets each customer start on their own day); the other rows of those days are
#   kept, marked as holding for tonight's version (the changes were checked and reach none of them).
# So a late record for D-2 restates its customer from D-2 (its own features, and its weight in the history of
# D-1 and D); a rerun with nothing new rebuilds D alone. A day with no recorded version (never built, or built
# before versions were recorded), or whose changes the change feed no longer holds, is rebuilt whole, and so is
# every day after it.
# What is not restated: a record dated before the horizon gets no features of its own (its day is closed), though
# it counts in the history of the days restated; and the merchant_fraud_share of other customers' rows at the
# merchant of a late record (one transaction in the merchant's 30-day count) stays as it was built.

def _day_versions(spark: SparkSession, catalog: Catalog, days: list[date]) -> dict[date, int | None]:
    """{day: the version all its rows hold for} for the built days among `days` (None: not recorded)."""
    if not days or not catalog.exists(spark, FEATURES_TABLE):
        return {}
    feats = catalog.read(spark, FEATURES_TABLE).where(F.col("txn_date").between(days[0], days[-1]))
    if SOURCE_VERSION not in feats.columns:
        return {d: None for d in days}
    rows = feats.groupBy("txn_date").agg(F.min(SOURCE_VERSION).alias("v"),
                                         F.count(F.lit(1)).alias("n"), F.count(SOURCE_VERSION).alias("k")).collect()
    return {r["txn_date"]: (int(r["v"]) if r["k"] == r["n"] else None) for r in rows}


def stale_customers(changes: DataFrame, day_versions: dict[date, int], lookback_days: int) -> DataFrame:
    """(customer_id, txn_date): for each built day, the customers whose features on it are stale.

    `changes` holds silver.transactions change-feed rows (customer_id, txn_ts, _commit_version); a change reaches
    a day d built at version v when it was committed after v and its transaction is dated d - lookback_days .. d
    (UTC days)."""
    spark = changes.sparkSession
    days = spark.createDataFrame([(d, v) for d, v in day_versions.items()], "txn_date date, _built long")
    changed = changes.where(F.col("customer_id").isNotNull()).select(
        "customer_id", "_commit_version",
        F.date_from_unix_date(F.floor(F.unix_micros("txn_ts") / _DAY_US).cast("int")).alias("_changed_date"))
    reach = (F.col("_commit_version") > F.col("_built")) & (F.col("_changed_date") <= F.col("txn_date")) & (
        F.col("_changed_date") >= F.date_sub(F.col("txn_date"), lookback_days))
    return changed.join(F.broadcast(days), reach).select("customer_id", "txn_date").distinct()


def _changes_since(spark: SparkSession, catalog: Catalog, start: int, end: int) -> DataFrame:
    return (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", start)
            .option("endingVersion", end).load(catalog.location(TRANSACTIONS))
            .select("customer_id", "txn_ts", "_commit_version"))


def nightly_txn_features(spark: SparkSession, settings: Settings, as_of: date, *,
                         catalog: Catalog | None = None) -> FeatureBuild:
    """gold.txn_features for day `as_of`, and the restatement the records since reached in the `restate_days`
    before it (the rule above)."""
    started = time.monotonic()
    cfg = settings.models.fraud
    catalog = catalog or build_catalog(settings)
    inp = _inputs(spark, catalog, cfg)
    horizon = [as_of - timedelta(i) for i in range(cfg.restate_days, 0, -1)]
    versions = _day_versions(spark, catalog, horizon)
    unknown = [d for d in horizon if versions.get(d) is None]      # never built, or no version recorded
    known = {d: v for d, v in versions.items() if v is not None and v < inp.version}
    # the horizon is rebuilt whole from its first day without a version on, and restated before it
    whole_from = min(unknown, default=as_of)
    known = {d: v for d, v in known.items() if d < whole_from}
    stale, restated, customers, restated_rows = None, [], 0, 0
    if known:
        try:
            changes = _changes_since(spark, catalog, min(known.values()) + 1, inp.version)
            stale = stale_customers(changes, known, inp.params.lookback_days).cache()
            first_stale = stale.agg(F.min("txn_date")).first()[0]
        except (CapturedException, Py4JJavaError) as e:
            # the change feed no longer holds those versions (vacuumed, or enabled later): rebuild those days whole
            log.warning("%s: no change feed of %s since v%d (%s); rebuilding %s whole", FEATURES_TABLE, TRANSACTIONS,
                        min(known.values()) + 1, str(e).splitlines()[0][:200], ", ".join(map(str, sorted(known))))
            whole_from, stale, first_stale = min(known), None, None
        if first_stale is not None:
            # every stale customer from the first stale day on: each customer's rows must run to the end
            restated = [first_stale + timedelta(i) for i in range((whole_from - first_stale).days)]
    whole = [whole_from + timedelta(i) for i in range((as_of - whole_from).days + 1)]
    if restated:
        who = stale.select("customer_id").distinct().cache()
        customers = who.count()
        rows = _build_full_days(spark, catalog, inp, whole, (restated[0], who))
        restated_rows = (catalog.read(spark, FEATURES_TABLE).where(F.col("txn_date").isin(*restated))
                         .join(F.broadcast(who), "customer_id", "left_semi").count())
        who.unpersist()
        log.info("%s: restated %s for %d customer(s) late or corrected records reached", FEATURES_TABLE,
                 ", ".join(map(str, restated)), customers)
    else:
        rows = _build_full_days(spark, catalog, inp, whole)
    if stale is not None:
        stale.unpersist()
    return FeatureBuild(whole[0], whole[-1], len(whole), rows, time.monotonic() - started, restated, customers,
                        restated_rows)


def _chunks(days: list[date], size: int) -> list[tuple[date, date]]:
    """Runs of consecutive days, each at most `size` long."""
    out: list[tuple[date, date]] = []
    for d in days:
        if out and (d - out[-1][1]).days == 1 and (d - out[-1][0]).days < size:
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def _first_txn_date(spark: SparkSession, catalog: Catalog) -> date | None:
    # the minimum of the bare column (a date only after aggregating), so Delta may answer it from file statistics
    return catalog.read(spark, TRANSACTIONS).agg(F.to_date(F.min("txn_ts"))).first()[0]


# -- training -------------------------------------------------------------------------------------------------

@dataclass
class FraudSplit:
    train_start: date
    cutoff: date          # first evaluation day; training labels must be known before it
    end: date


def split_days(first: date, end: date, cfg: FraudSettings) -> FraudSplit:
    cutoff = end - timedelta(cfg.holdout_days - 1)
    if cutoff <= first:
        raise CrmError(f"fraud needs transactions from before the {cfg.holdout_days}-day evaluation window "
                       f"({cutoff}..{end}); the first is on {first}. Ingest more history or lower "
                       "models.fraud.holdout_days")
    return FraudSplit(max(first, cutoff - timedelta(cfg.training_days)), cutoff, end)


@dataclass
class FraudTrainResult:
    split: FraudSplit
    rows: int
    positives: int
    sampled_share: float
    supervised: bool
    metrics: dict[str, float]
    promotion: registry.Promotion
    run_id: str
    seconds: float
    evaluation: pd.DataFrame = field(repr=False, default=None)   # the holdout's scores, labels and baseline

    def lines(self) -> list[str]:
        m, s = self.metrics, self.split
        kinds = sorted(k.removeprefix("recall_at_budget_") for k in m
                       if k.startswith("recall_at_budget_") and not k.startswith("baseline_"))
        head = (f"fraud: trained on {self.rows:,} transactions {s.train_start}..{s.cutoff - timedelta(1)} "
                f"({self.positives:,} confirmed fraud known by {s.cutoff}"
                + (f", legitimate ones sampled at {self.sampled_share:.1%}" if self.sampled_share < 1 else "")
                + ("" if self.supervised else "; too few for the supervised model: anomaly scorer only")
                + f"); evaluated on {s.cutoff}..{s.end} ({m['rows']:,} transactions, {m['positives']:,} fraud)")
        rows = [("pr_auc", "PR-AUC"), ("recall_at_budget", "recall@budget"),
                ("precision_at_budget", "precision@budget")] + [(f"recall_at_budget_{k}", f"  recall {k}")
                                                                 for k in kinds]
        return [head, f"  {'metric':<28}{'model':>10}{BASELINE:>10}",
                *[f"  {label:<28}{m.get(k, float('nan')):>10.4f}{m.get('baseline_' + k, float('nan')):>10.4f}"
                  for k, label in rows],
                f"  registered {self.promotion.model_name} v{self.promotion.version}; {self.promotion.reason}; "
                f"run {self.run_id} in {self.seconds:.0f}s"]


def _labelled(features: DataFrame, labels: DataFrame | None, known_before: date | None) -> DataFrame:
    """`features` with is_fraud (0/1) and fraud_type, counting the labels known before `known_before` (all: None)."""
    if labels is None:
        return features.select("*", F.lit(0).alias("is_fraud"), F.lit(None).cast("string").alias("fraud_type"))
    known = labels if known_before is None else labels.where(F.col("label_ts") < F.lit(_midnight(known_before)))
    known = known.select("txn_id", F.lit(1).alias("_fraud"), "fraud_type")
    return (features.join(known, "txn_id", "left")
            .select(*features.columns, F.coalesce(F.col("_fraud"), F.lit(0)).alias("is_fraud"), "fraud_type"))


_EVAL_SCHEMA = ("txn_id string, txn_date date, is_fraud int, fraud_type string, score double, anomaly_score double, "
                "supervised_score double, baseline double")


def _score_frame(frame: DataFrame, model: FraudModel, rules: FraudRules) -> DataFrame:
    """The evaluation frame scored on the executors: model parts and the rules baseline per transaction."""
    # the rules read model features (amount ratio, velocity, small authorisations), so the inputs carry them
    inputs = model_inputs(frame, keep=("txn_id", "txn_date", "is_fraud", "fraud_type"))

    def score(batches):
        for pdf in batches:
            parts = model.parts(pdf)
            yield pd.DataFrame({"txn_id": pdf["txn_id"], "txn_date": pdf["txn_date"], "is_fraud": pdf["is_fraud"],
                                "fraud_type": pdf["fraud_type"], "score": parts["score"].to_numpy(),
                                "anomaly_score": parts["anomaly_score"].to_numpy(),
                                "supervised_score": parts["supervised_score"].to_numpy(),
                                "baseline": rules_score(pdf, rules, RULE_COLUMNS)})

    return inputs.mapInPandas(score, _EVAL_SCHEMA)


def train_fraud(spark: SparkSession, settings: Settings) -> FraudTrainResult:
    started = time.monotonic()
    phase = Phases(log, "train fraud")
    cfg = settings.models.fraud
    catalog = build_catalog(settings)
    end = latest_business_date(spark, catalog)
    if end is None or not catalog.exists(spark, TRANSACTIONS):
        raise CrmError("nothing ingested yet; run `crm ingest` (or `crm demo`) first")
    first = _first_txn_date(spark, catalog)
    if first is None:
        raise CrmError(f"{TRANSACTIONS} is empty; nothing to train fraud on")
    split = split_days(first, end, cfg)
    build = build_txn_features(spark, settings, split.train_start, split.end, only_missing=True, catalog=catalog)
    if build.days:
        log.info(build.line())
    phase("features")
    labels = catalog.read(spark, LABELS) if catalog.exists(spark, LABELS) else None
    feats = catalog.read(spark, FEATURES_TABLE)
    train = _labelled(feats.where(F.col("txn_date").between(split.train_start, split.cutoff - timedelta(1))),
                      labels, split.cutoff)
    counts = train.groupBy("is_fraud").count().collect()
    positives = next((r["count"] for r in counts if r["is_fraud"] == 1), 0)
    negatives = next((r["count"] for r in counts if r["is_fraud"] == 0), 0)
    share = min(1.0, max(1, cfg.max_training_rows - positives) / max(1, negatives))
    if share < 1.0:
        train = train.where((F.col("is_fraud") == 1)
                            | ((F.abs(F.xxhash64("txn_id")) % 1_000_000) < int(share * 1_000_000)))
    frame = model_inputs(train, keep=("txn_id", "is_fraud")).toPandas()
    supervised = positives >= cfg.min_positives
    params = fraud_params(cfg)
    try:
        model = fit_fraud(frame, FEATURES, label="is_fraud" if supervised else None, params=params,
                          negative_weight=1.0 / share)
    except ValueError as e:
        raise CrmError(f"fraud: {e}") from None
    phase("fit")
    rules = FraudRules(**cfg.rules.model_dump())
    holdout = _labelled(feats.where(F.col("txn_date").between(split.cutoff, split.end)), labels, None)
    scored = _score_frame(holdout, model, rules).toPandas()
    if scored.empty:
        raise CrmError(f"fraud: no transactions to evaluate on in {split.cutoff}..{split.end}")
    y, day = scored["is_fraud"], scored["txn_date"]
    metrics = evaluate(y, day, scored["score"], scored["baseline"], cfg.alert_budget, scored["fraud_type"])
    parts = {"anomaly_only": scored["anomaly_score"]}
    if supervised:
        parts["supervised_only"] = scored["supervised_score"]
    for name, s in parts.items():
        metrics.update({f"{name}_{k}": v for k, v in evaluate(y, day, s, scored["baseline"], cfg.alert_budget).items()
                        if k in ("pr_auc", "recall_at_budget")})
    phase("evaluate")
    tracking = tracking_from_settings(settings)
    with registry.TrainingRun(tracking, family=FRAUD, run_name=f"fraud to {split.end}") as run:
        run.log_params({"train_start": str(split.train_start), "cutoff": str(split.cutoff), "end": str(split.end),
                        "labels_known_before": str(split.cutoff), "alert_budget": cfg.alert_budget,
                        "training_rows": len(frame), "training_positives": int(positives),
                        "negative_sample_share": share, "supervised": supervised,
                        "anomaly_weight": cfg.anomaly_weight, "gbm": cfg.gbm.model_dump(),
                        "isolation_forest": cfg.isolation_forest.model_dump(), "rules": cfg.rules.model_dump(),
                        "features": list(FEATURES), "feature_params": cfg.features.model_dump(),
                        "promotion_metric": cfg.promotion_metric})
        run.log_input_tables({FEATURES_TABLE: catalog.version(spark, FEATURES_TABLE),
                              LABELS: catalog.version(spark, LABELS) if labels is not None else None})
        run.log_with_baseline(BASELINE, metrics)
        curves = {"blend": scored["score"], "anomaly only": scored["anomaly_score"]}
        if supervised:
            curves["supervised only"] = scored["supervised_score"]
        curves["rules baseline"] = scored["baseline"]
        run.log_figure(plot_pr(y, curves, {"blend": (metrics["recall_at_budget"], metrics["precision_at_budget"]),
                                           "rules baseline": (metrics["baseline_recall_at_budget"],
                                                              metrics["baseline_precision_at_budget"])}),
                       "plots/pr_curves.png")
        run.log_table(metrics_table(metrics), "metrics_table.json")
        with TemporaryDirectory() as tmp:
            version = run.log_model(cfg.model_name, FraudPyfunc(model), FraudPyfunc.save(model, Path(tmp) / "model"),
                                    fraud_example(model), pip_requirements=REQUIREMENTS)

        def champion_metric(old: FraudModel) -> float:
            try:
                registry.require_features(FRAUD, FEATURES_TABLE, old.features, FEATURES)
            except ValueError as e:
                raise CrmError(str(e)) from None
            again = _score_frame(holdout, old, rules).toPandas()
            return evaluate(again["is_fraud"], again["txn_date"], again["score"], again["baseline"],
                            cfg.alert_budget)[cfg.promotion_metric]

        promotion = registry.promote_on_holdout(tracking, cfg.model_name, version, cfg.promotion_metric,
                                                metrics[cfg.promotion_metric], champion_metric, run=run)
        phase("register")
    return FraudTrainResult(split, len(frame), int(positives), share, supervised, metrics, promotion, run.run_id,
                            time.monotonic() - started, scored)


def metrics_table(metrics: dict[str, float]) -> pd.DataFrame:
    """metric | model | rules baseline, for the run's artifacts."""
    names = [k for k in metrics if not k.startswith(("baseline_", "anomaly_only_", "supervised_only_"))
             and k not in ("rows", "positives")]
    return pd.DataFrame({"metric": names, "model": [metrics[k] for k in names],
                         BASELINE: [metrics.get(f"baseline_{k}") for k in names]})


# -- scoring --------------------------------------------------------------------------------------------------

@dataclass
class FraudScoreResult:
    run_date: date
    transactions: int
    alerts: int
    model_version: str
    seconds: float
    features: FeatureBuild | None = None      # the nightly gold.txn_features build before the scoring

    def line(self) -> str:
        return (f"{FRAUD_SCORES.name:<24} {self.run_date}: {self.transactions:,} transactions scored, "
                f"{self.alerts:,} alerts; {FRAUD} v{self.model_version}, {self.seconds:.0f}s")


_SCORES = ("fraud_score", "anomaly_score", "supervised_score")
SCORED_COLUMNS = ("txn_id", "txn_date", "customer_id", "account_id", "txn_ts", "amount_cny", "txn_type", "channel",
                  "reasons")


def fraud_scores(features: DataFrame, model: FraudModel, cfg: FraudSettings) -> DataFrame:
    """Each transaction of `features` (one day): SCORED_COLUMNS with its scores, its rank in the day, the decision
    at the budget and the reasons in words. One pass over the features: the reasons are Spark expressions
    computed before the executors score, and travel through the scoring with the columns the output keeps."""
    explained = reasons(features, cfg.reasons, ReasonThresholds(**cfg.reason_thresholds.model_dump()),
                        feature_params(cfg))
    # amount_cny is a model feature as well: it comes through once
    inputs = model_inputs(explained, keep=tuple(c for c in SCORED_COLUMNS if c not in FEATURES))
    schema = StructType([inputs.schema[c] for c in SCORED_COLUMNS]
                        + [StructField(c, DoubleType()) for c in _SCORES])

    def score(batches):
        for pdf in batches:
            parts = model.parts(pdf)
            out = pdf[list(SCORED_COLUMNS)].copy()
            out["fraud_score"] = parts["score"].to_numpy()
            out["anomaly_score"] = parts["anomaly_score"].to_numpy()
            out["supervised_score"] = parts["supervised_score"].to_numpy()
            yield out

    out = inputs.mapInPandas(score, schema)
    n = F.count(F.lit(1)).over(Window.partitionBy("txn_date"))
    rank = F.row_number().over(Window.partitionBy("txn_date").orderBy(F.desc("fraud_score"), "txn_id"))
    out = out.select("*", rank.alias("alert_rank"), n.alias("_n"))
    alert = F.col("alert_rank") <= F.greatest(F.lit(1), F.ceil(F.col("_n") * F.lit(cfg.alert_budget)))
    return out.select("*", F.when(alert, "ALERT").otherwise("PASS").alias("decision"))


def score_fraud(spark: SparkSession, settings: Settings, *, as_of: date | None = None) -> FraudScoreResult:
    """serving.fraud_scores for every transaction of one business date (its features built first)."""
    started = time.monotonic()
    phase = Phases(log, "score fraud")
    cfg = settings.models.fraud
    catalog = build_catalog(settings)
    as_of = scoring_date(spark, catalog, as_of)
    model, version = champion_model(settings, cfg.model_name)
    build = nightly_txn_features(spark, settings, as_of, catalog=catalog)
    log.info(build.line())
    phase("features")
    feats = catalog.read(spark, FEATURES_TABLE).where(F.col("txn_date") == F.lit(as_of))
    out = fraud_scores(feats, model, cfg).select(
        F.lit(as_of).alias("run_date"), "txn_id", "customer_id", "account_id", "txn_ts", "amount_cny", "txn_type",
        "channel", "fraud_score", "anomaly_score", "supervised_score", "alert_rank", "decision", "reasons",
        F.lit(cfg.model_name).alias("model_name"), F.lit(version).alias("model_version"),
        F.current_timestamp().alias("scored_at"))
    catalog.replace_where(spark, FRAUD_SCORES.name, out, f"run_date = DATE'{as_of}'")
    phase("score and write")
    counts = (catalog.read(spark, FRAUD_SCORES.name).where(F.col("run_date") == F.lit(as_of))
              .groupBy("decision").count().collect())
    by = {r["decision"]: r["count"] for r in counts}
    return FraudScoreResult(as_of, sum(by.values()), by.get("ALERT", 0), version, time.monotonic() - started,
                            build)
