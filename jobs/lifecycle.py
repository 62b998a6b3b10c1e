"""`crm train --model clv` and `crm score --model lifecycle`: the lifetime-value model and the lifecycle scores.

Training reads `silver.transactions` as known at the calibration end (the latest business date minus the
holdout, or `--calibration-end`), builds the repeat-purchase summary in Spark, fits BG/NBD and Gamma-Gamma on
the driver (one row per distinct summary: small), evaluates the predicted purchases of the holdout against the
actual ones next to the run-rate baseline, and registers the model; `champion` moves only if it predicts the
holdout better (lower mean absolute error) than the champion on the same holdout.

Scoring joins one business date's profile with the clv and churn champions' scores (each optional), derives
the potential value, customer value and tier, assigns the lifecycle stage by the configured rules, writes
serving.lifecycle_scores for the date and fills the profile's value columns for it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from features.conditions import ConditionError
from features.profile.relationship import Rule
from features.profile.value import with_value_tier
from jobs.catalog import Catalog
from jobs.churn import CHURN, churn_scores
from jobs.config import ClvSettings, Settings
from jobs.errors import CrmError
from jobs.features import PROFILE, PointInTime, latest_business_date, profile_rules, scoring_date
from jobs.logs import Phases
from jobs.tables import LIFECYCLE_SCORES, build_catalog
from jobs.tracking import tracking_from_settings
from models import registry
from models.lifecycle.clv import BASELINE, ClvModel, Horizon, fit_clv, holdout_metrics
from models.lifecycle.pyfunc import ClvPyfunc, clv_example
from models.lifecycle.stages import STAGES, assign_stage, with_stage_since
from models.lifecycle.summary import (PurchaseRules, holdout_purchases, purchase_days, repeat_purchase_summary,
                                      unit_days)

log = logging.getLogger(__name__)

CLV = "clv"
TRANSACTIONS = "silver.transactions"
REQUIREMENTS = ["mlflow==3.17.2", "numpy==2.3.5", "pandas==2.3.3", "scipy==1.17.1", "crm-lakehouse"]
PROMOTION_METRIC = "mae_purchases"     # lower is better


def purchase_rules(cfg: ClvSettings) -> PurchaseRules:
    return PurchaseRules(tuple(cfg.purchases.txn_types), cfg.purchases.direction, cfg.purchases.status)


def horizon(cfg: ClvSettings) -> Horizon:
    return Horizon(cfg.horizon_months, cfg.annual_discount_rate)


def known_purchase_days(spark: SparkSession, settings: Settings, catalog: Catalog, pit: PointInTime,
                        known_by: date | None = None) -> DataFrame:
    """(customer_id, day, value): purchase days from silver.transactions, as known on `known_by` (all if None)."""
    if not catalog.exists(spark, TRANSACTIONS):
        raise CrmError(f"the lifetime-value model needs {TRANSACTIONS}; run `crm ingest` first")
    txns = pit.arrived(TRANSACTIONS, "txn_ts")
    if known_by is not None:
        txns = txns.where(F.col("_extract_date") <= F.lit(known_by))
    return purchase_days(txns, purchase_rules(settings.models.clv))


def holdout_frame(spark: SparkSession, settings: Settings, catalog: Catalog, pit: PointInTime,
                  calibration_end: date, end: date, unit: str) -> pd.DataFrame:
    """Every customer's repeat-purchase summary as known at `calibration_end`, with their purchase days and
    value in (calibration_end, end] as known now: one row per customer, on the driver."""
    summary = repeat_purchase_summary(known_purchase_days(spark, settings, catalog, pit, calibration_end),
                                      calibration_end, unit)
    later = holdout_purchases(known_purchase_days(spark, settings, catalog, pit), calibration_end, end)
    frame = (summary.join(later, "customer_id", "left").fillna({"frequency_holdout": 0, "value_holdout": 0.0})
             .select("customer_id", "frequency", "recency", "T", "monetary_value", "frequency_holdout",
                     "value_holdout").toPandas())
    frame["duration_holdout"] = (end - calibration_end).days / unit_days(unit)
    return frame


@dataclass
class ClvTrainResult:
    calibration_end: date
    holdout_end: date
    time_unit: str
    customers: int
    repeat_buyers: int
    params: dict[str, float]
    metrics: dict[str, float]
    baseline: dict[str, float]
    promotion: registry.Promotion
    run_id: str
    seconds: float

    def lines(self) -> list[str]:
        p = self.params
        out = [f"clv: calibrated to {self.calibration_end} on {self.customers:,} customers "
               f"({self.repeat_buyers:,} repeat buyers), time unit {self.time_unit}; holdout to {self.holdout_end}",
               f"  BG/NBD r={p['bgnbd_r']:.4g} alpha={p['bgnbd_alpha']:.4g} a={p['bgnbd_a']:.4g} "
               f"b={p['bgnbd_b']:.4g}; Gamma-Gamma p={p['gg_p']:.4g} q={p['gg_q']:.4g} v={p['gg_v']:.4g}",
               f"  {'metric':<22}{'model':>12}{BASELINE:>12}"]
        out += [f"  {k:<22}{v:>12.4f}{self.baseline[k]:>12.4f}" for k, v in self.metrics.items()]
        out.append(f"  registered {self.promotion.model_name} v{self.promotion.version}; {self.promotion.reason}; "
                   f"run {self.run_id} in {self.seconds:.0f}s")
        return out


def _plot_conditional(table: pd.DataFrame, unit: str, duration: float):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(table["frequency"], table["actual"], marker="o", label="actual")
    ax.plot(table["frequency"], table["bgnbd"], marker="s", label="BG/NBD")
    ax.plot(table["frequency"], table[BASELINE], linestyle="--", label="run rate (baseline)")
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel(f"mean purchases in the next {duration:.1f} {unit}s")
    ax.set_title("Conditional expectations on the holdout")
    ax.legend()
    fig.tight_layout()
    return fig


def _plot_p_alive(p_alive, unit: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(p_alive, bins=20, range=(0, 1))
    ax.set_xlabel("P(alive) at the calibration end")
    ax.set_ylabel("customers")
    ax.set_title(f"P(alive), time unit {unit}")
    fig.tight_layout()
    return fig


def train_clv(spark: SparkSession, settings: Settings, *, calibration_end: date | None = None,
              time_unit: str | None = None) -> ClvTrainResult:
    started = time.monotonic()
    phase = Phases(log, "train clv")
    cfg = settings.models.clv
    unit = time_unit or cfg.time_unit
    catalog = build_catalog(settings)
    end = latest_business_date(spark, catalog)
    if end is None:
        raise CrmError("nothing ingested yet; run `crm ingest` (or `crm demo`) first")
    calibration_end = calibration_end or end - timedelta(days=cfg.holdout_days)
    if calibration_end >= end:
        raise CrmError(f"the calibration end {calibration_end} must be before the latest business date {end}, "
                       f"so the fit can be checked on what came after")
    pit = PointInTime(spark, settings, catalog)
    frame = holdout_frame(spark, settings, catalog, pit, calibration_end, end, unit)
    if frame.empty:
        raise CrmError(f"no purchases ({', '.join(cfg.purchases.txn_types)}) known by {calibration_end}: "
                       f"nothing to fit the lifetime-value model on")
    phase("summary")
    try:
        model, stats = fit_clv(frame, unit, horizon(cfg))
    except ValueError as e:
        raise CrmError(f"clv: {e}") from None
    except RuntimeError as e:
        first = frame["T"].max() * unit_days(unit)
        raise CrmError(f"clv: {e}. The calibration period (purchases up to {calibration_end}, the earliest "
                       f"{first:.0f} days before it) may be too short to see customers stop buying: give it more "
                       f"history with a later --calibration-end or a shorter models.clv.holdout_days") from None
    metrics, baseline, table = holdout_metrics(model, frame)
    phase("fit and evaluate")
    tracking = tracking_from_settings(settings)
    with registry.TrainingRun(tracking, family=CLV, run_name=f"clv calibration {calibration_end}") as run:
        run.log_params({**model.params(), "time_unit": unit, "calibration_end": calibration_end.isoformat(),
                        "holdout_end": end.isoformat(), "purchases": cfg.purchases.model_dump(),
                        "horizon_months": cfg.horizon_months, "annual_discount_rate": cfg.annual_discount_rate,
                        "promotion_metric": PROMOTION_METRIC})
        run.log_input_tables({TRANSACTIONS: catalog.version(spark, TRANSACTIONS)})
        run.log_metrics({**metrics, **stats})
        run.log_baseline(BASELINE, baseline)
        run.log_table(table, "conditional_expectations.json")
        run.log_figure(_plot_conditional(table, unit, float(frame["duration_holdout"].iloc[0])),
                       "plots/conditional_expectations.png")
        run.log_figure(_plot_p_alive(model.score(frame)["p_alive"], unit), "plots/p_alive.png")
        with TemporaryDirectory() as tmp:
            version = run.log_model(cfg.model_name, ClvPyfunc(model), model.save(Path(tmp) / "model"),
                                    clv_example(), pip_requirements=REQUIREMENTS)

        def champion_mae(old: ClvModel) -> float:
            # the same holdout, summarised in the champion's own time unit (purchase counts do not depend on it)
            same = frame if old.time_unit == unit else \
                holdout_frame(spark, settings, catalog, pit, calibration_end, end, old.time_unit)
            return holdout_metrics(old, same)[0][PROMOTION_METRIC]

        promotion = registry.promote_on_holdout(tracking, cfg.model_name, version, PROMOTION_METRIC,
                                                metrics[PROMOTION_METRIC], champion_mae, greater_is_better=False,
                                                run=run)
        phase("register")
        return ClvTrainResult(calibration_end, end, unit, int(stats["customers"]), int(stats["repeat_buyers"]),
                              model.params(), metrics, baseline, promotion, run.run_id, time.monotonic() - started)


# -- crm score --model lifecycle -----------------------------------------------------------------------------

SCORES = LIFECYCLE_SCORES.name
_CLV_SCHEMA = ("customer_id string, purchases_frequency int, p_alive double, expected_purchases double, "
               "expected_purchase_value double")


def clv_scores(spark: SparkSession, settings: Settings, catalog: Catalog, pit: PointInTime, model: ClvModel,
               as_of: date) -> DataFrame:
    """P(alive), expected purchases and their present value for every customer with a purchase known by `as_of`,
    scored on the executors (mapInPandas): only the model's seven parameters travel with the task."""
    summary = repeat_purchase_summary(known_purchase_days(spark, settings, catalog, pit, as_of), as_of,
                                      model.time_unit)
    h = horizon(settings.models.clv)

    def score(batches):
        for pdf in batches:
            out = model.score(pdf, h)
            yield pd.DataFrame({"customer_id": pdf["customer_id"], "purchases_frequency": pdf["frequency"],
                                "p_alive": out["p_alive"], "expected_purchases": out["expected_purchases"],
                                "expected_purchase_value": out["discounted_spend"]})

    return summary.select("customer_id", "frequency", "recency", "T", "monetary_value").mapInPandas(score, _CLV_SCHEMA)


def annuity_factor(months: int, annual_discount_rate: float) -> float:
    """Present value of one unit of yearly revenue earned in equal monthly parts over `months` months."""
    monthly = (1 + annual_discount_rate) ** (1 / 12) - 1
    return sum(1 / (1 + monthly) ** k for k in range(1, months + 1)) / 12


def potential_value(cfg: ClvSettings) -> Column:
    """Present value of the revenue expected over the horizon: the bank's share (revenue_rate) of the expected
    purchases, plus (balance_revenue) the yearly balance revenue for as long as the customer stays, weighted by
    P(alive), else 1 - churn probability, else 1. Null when no CLV model has scored the customer base."""
    stay = F.coalesce(F.col("p_alive"), 1 - F.col("churn_probability"), F.lit(1.0))
    value = F.coalesce(F.col("expected_purchase_value"), F.lit(0.0)) * cfg.revenue_rate
    if cfg.balance_revenue:
        annuity = annuity_factor(cfg.horizon_months, cfg.annual_discount_rate)
        value = value + F.coalesce(F.col("balance_revenue_annual"), F.lit(0.0)) * annuity * stay
    return F.when(F.col("clv_model_version").isNotNull(), value)


@dataclass
class LifecycleScoreResult:
    run_date: date
    customers: int
    stages: dict[str, int]
    clv_version: str | None
    churn_version: str | None
    seconds: float

    def line(self) -> str:
        stages = ", ".join(f"{s} {self.stages.get(s, 0):,}" for s in STAGES if self.stages.get(s))
        models = (f"clv v{self.clv_version}" if self.clv_version else "no clv model") + ", " + \
            (f"churn v{self.churn_version}" if self.churn_version else "no churn model")
        return (f"{SCORES:<24} {self.run_date}: {self.customers:,} customers ({stages}); {models}, "
                f"{self.seconds:.0f}s")


def _champion(tracking, model_name: str, family: str):
    """(model, version) of the family's champion, or (None, None) with a warning when there is none."""
    try:
        loaded, version = registry.load_champion(tracking, model_name)
    except registry.NoChampion:
        log.warning("lifecycle: no %s champion (%s) yet; its columns stay null. Train one: crm train --model %s",
                    family, model_name, family)
        return None, None
    return loaded.unwrap_python_model().model, version


def _previous_scores(spark: SparkSession, catalog: Catalog, before: date) -> DataFrame | None:
    """The latest lifecycle scores before `before` (the previous night's run), or None."""
    last = catalog.latest_date(spark, SCORES, "run_date", before=before)
    return None if last is None else catalog.read(spark, SCORES).where(F.col("run_date") == F.lit(last))


def score_lifecycle(spark: SparkSession, settings: Settings, *, as_of: date | None = None) -> LifecycleScoreResult:
    """serving.lifecycle_scores for one business date from that date's profile and the champions, and the
    profile's potential_value, customer_value and value_tier filled in for that date."""
    started = time.monotonic()
    phase = Phases(log, "score lifecycle")
    cfg = settings.models
    catalog = build_catalog(settings)
    as_of = scoring_date(spark, catalog, as_of)
    profile = catalog.read(spark, PROFILE).where(F.col("as_of_date") == F.lit(as_of)) \
        if catalog.exists(spark, PROFILE) else None
    if profile is None or profile.isEmpty():
        raise CrmError(f"no customer profile for {as_of}; run `crm features --date {as_of}` first")
    tracking = tracking_from_settings(settings)
    clv, clv_version = _champion(tracking, cfg.clv.model_name, CLV)
    pit = PointInTime(spark, settings, catalog)
    scores = profile.drop("potential_value", "customer_value", "value_tier")
    if clv is not None:
        scores = scores.join(clv_scores(spark, settings, catalog, pit, clv, as_of), "customer_id", "left")
    else:
        scores = scores.select("*", *[F.lit(None).cast(t).alias(c) for c, t in (
            ("purchases_frequency", "int"), ("p_alive", "double"), ("expected_purchases", "double"),
            ("expected_purchase_value", "double"))])
    churn, churn_version = _champion(tracking, cfg.churn.model_name, CHURN)
    if churn is not None:
        scores = scores.join(churn_scores(profile, churn, cfg.churn.drivers), "customer_id", "left")
    else:
        scores = scores.select("*", F.lit(None).cast("double").alias("churn_probability"),
                               F.lit(None).cast("array<string>").alias("churn_drivers"))
    scores = scores.select("*", F.lit(clv_version).cast("string").alias("clv_model_version"),
                           F.lit(churn_version).cast("string").alias("churn_model_version"),
                           F.lit(as_of).alias("run_date"))
    scores = with_value_tier(scores.withColumn("potential_value", potential_value(cfg.clv)),
                             profile_rules(settings).value)
    rules = [Rule(r.rule, r.assigns, r.condition, r.explanation) for r in cfg.lifecycle.stages]
    try:
        scores = assign_stage(scores, rules)
    except ConditionError as e:
        raise CrmError(f"models.lifecycle.stages: {e}") from None
    scores = with_stage_since(scores, _previous_scores(spark, catalog, as_of))
    out = scores.select(*[c for c in LIFECYCLE_SCORES.comments if c != "scored_at"],
                        F.current_timestamp().alias("scored_at"))
    catalog.replace_where(spark, SCORES, out, f"run_date = DATE'{as_of}'")
    phase("score and write")
    written = catalog.read(spark, SCORES).where(F.col("run_date") == F.lit(as_of))
    _fill_profile_value(spark, catalog, written, as_of)
    phase("profile value")
    stages = {r["lifecycle_stage"]: r["n"] for r in written.groupBy("lifecycle_stage").agg(
        F.count(F.lit(1)).alias("n")).collect()}
    return LifecycleScoreResult(as_of, sum(stages.values()), stages, clv_version, churn_version,
                                time.monotonic() - started)


def _fill_profile_value(spark: SparkSession, catalog: Catalog, scores: DataFrame, as_of: date) -> None:
    """Write potential_value, customer_value and value_tier back into gold.customer_profile for `as_of`."""
    src = scores.select("customer_id", F.col("run_date").alias("as_of_date"), "potential_value", "customer_value",
                        "value_tier")
    (catalog.delta(spark, PROFILE).alias("p")
     .merge(src.alias("s"), f"p.as_of_date = DATE'{as_of}' AND p.customer_id = s.customer_id "
                            "AND p.as_of_date = s.as_of_date")
     .whenMatchedUpdate(set={c: f"s.{c}" for c in ("potential_value", "customer_value", "value_tier")})
     .execute())
