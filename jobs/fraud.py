"""Card fraud: `gold.txn_features`, `crm train --model fraud` and `crm score --model fraud`.

Features. Every transaction gets its point-in-time features (features.txn) once its day is built; a backfill
builds `feature_chunk_days` days per Spark pass, and the nightly run rebuilds the day and the `restate_days`
before it, which late records may have reached. Merchant risk counts fraud labels known before each day.

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
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

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

@dataclass
class FeatureBuild:
    start: date | None
    end: date | None
    days: int
    rows: int
    seconds: float

    def line(self) -> str:
        if not self.days:
            return f"{FEATURES_TABLE:<24} up to date"
        return (f"{FEATURES_TABLE:<24} {self.start}..{self.end}: {self.days} day(s), {self.rows:,} transactions, "
                f"{self.seconds:.0f}s")


def _built_days(spark: SparkSession, catalog: Catalog) -> set[date]:
    if not catalog.exists(spark, FEATURES_TABLE):
        return set()
    return {r[0] for r in catalog.read(spark, FEATURES_TABLE).select("txn_date").distinct().collect()}


def build_txn_features(spark: SparkSession, settings: Settings, start: date, end: date, *,
                       only_missing: bool = False, catalog: Catalog | None = None) -> FeatureBuild:
    """gold.txn_features for the transactions of the days start..end (all of them, or those not built yet)."""
    started = time.monotonic()
    cfg = settings.models.fraud
    catalog = catalog or build_catalog(settings)
    if not catalog.exists(spark, TRANSACTIONS):
        raise CrmError(f"fraud features read {TRANSACTIONS}; run `crm ingest` first")
    days = [start + timedelta(i) for i in range((end - start).days + 1)]
    if only_missing:
        built = _built_days(spark, catalog)
        days = [d for d in days if d not in built]
    params = feature_params(cfg)
    txns = catalog.read(spark, TRANSACTIONS)
    labels = catalog.read(spark, LABELS) if catalog.exists(spark, LABELS) else None
    rows = 0
    for s, e in _chunks(days, cfg.feature_chunk_days):
        day_txns = _ts_range(txns, s, e)
        history = _ts_range(txns, s - timedelta(params.lookback_days), e)
        if day_txns.isEmpty():
            continue
        risk = (merchant_fraud_by_day(labels, _ts_range(txns, s - timedelta(params.merchant_risk_days), e), s, e,
                                      params.merchant_risk_days) if labels is not None else None)
        out = transaction_features(day_txns, history, risk, params)
        catalog.replace_where(spark, FEATURES_TABLE, out, f"txn_date >= DATE'{s}' AND txn_date <= DATE'{e}'")
        n = catalog.read(spark, FEATURES_TABLE).where(F.col("txn_date").between(s, e)).count()
        rows += n
        log.info("%s: %s..%s, %d transactions", FEATURES_TABLE, s, e, n)
    return FeatureBuild(days[0] if days else None, days[-1] if days else None, len(days), rows,
                        time.monotonic() - started)


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
        run.log_metrics({k: v for k, v in metrics.items() if not k.startswith("baseline_")})
        run.log_baseline(BASELINE, {k.removeprefix("baseline_"): v for k, v in metrics.items()
                                    if k.startswith("baseline_")})
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
            missing = set(old.features) - set(FEATURES)
            if missing:
                raise CrmError(f"fraud: the champion needs features txn_features no longer has "
                               f"({', '.join(sorted(missing))}); it cannot be compared on this holdout")
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

    def line(self) -> str:
        return (f"{FRAUD_SCORES.name:<24} {self.run_date}: {self.transactions:,} transactions scored, "
                f"{self.alerts:,} alerts; {FRAUD} v{self.model_version}, {self.seconds:.0f}s")


_SCORE_SCHEMA = "txn_id string, fraud_score double, anomaly_score double, supervised_score double"


def fraud_scores(features: DataFrame, model: FraudModel, cfg: FraudSettings) -> DataFrame:
    """Each transaction of `features` (one day) with its scores, its rank in the day, the decision at the
    budget and the reasons in words (scored on the executors)."""
    def score(batches):
        for pdf in batches:
            parts = model.parts(pdf)
            yield pd.DataFrame({"txn_id": pdf["txn_id"], "fraud_score": parts["score"].to_numpy(),
                                "anomaly_score": parts["anomaly_score"].to_numpy(),
                                "supervised_score": parts["supervised_score"].to_numpy()})

    scored = model_inputs(features).mapInPandas(score, _SCORE_SCHEMA)
    explained = reasons(features, cfg.reasons, ReasonThresholds(**cfg.reason_thresholds.model_dump()),
                        feature_params(cfg))
    out = explained.join(scored, "txn_id")
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
    build_txn_features(spark, settings, as_of - timedelta(cfg.restate_days), as_of, catalog=catalog)
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
    return FraudScoreResult(as_of, sum(by.values()), by.get("ALERT", 0), version, time.monotonic() - started)
