"""`crm train --model churn` and the churn columns of the lifecycle scores.

Training reads gold.customer_profile's snapshots: each snapshot date whose outcome a later snapshot shows (about
`horizon_days` on) is labelled (models.lifecycle.labels). The latest `evaluation_dates` of them are held out;
the model is fitted on earlier dates whose label window closed by the first evaluation date (so nothing the
evaluation looks at is seen in training), calibrated on the latest of those (then refitted on all of them), and
compared on the evaluation dates with the recency-only baseline. `champion` moves only if the new version has
the higher PR-AUC there.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.config import ChurnSettings, Settings
from jobs.errors import CrmError
from jobs.features import PROFILE, extract_span
from jobs.logs import Phases
from jobs.tables import build_catalog
from jobs.tracking import tracking_from_settings
from models import registry
from models.lifecycle.churn import (ChurnModel, ChurnParams, calibration_curve, evaluate, fit_churn, plot_calibration,
                                    plot_pr_roc, recency_baseline)
from models.lifecycle.labels import ChurnLabel, churn_features, churn_labels, feature_columns, label_dates
from models.lifecycle.pyfunc import ChurnPyfunc, churn_example

log = logging.getLogger(__name__)

CHURN = "churn"
BASELINE = "recency"
RECENCY = "days_since_last_txn"
PROMOTION_METRIC = "pr_auc"
REQUIREMENTS = ["mlflow==3.17.2", "numpy==2.3.5", "pandas==2.3.3", "scikit-learn==1.9.1", "crm-lakehouse"]


def label_rule(cfg: ChurnSettings) -> ChurnLabel:
    return ChurnLabel(cfg.horizon_days, cfg.tolerance_days, cfg.dormant_days, cfg.aum_loss_share, cfg.min_aum)


def churn_params(cfg: ChurnSettings) -> ChurnParams:
    return ChurnParams(**cfg.gbm.model_dump(), calibration=cfg.calibration, calibration_share=cfg.calibration_share,
                       refit=cfg.refit)


@dataclass
class ChurnSplit:
    train: list[tuple[date, date]]       # (as_of_date, label_date)
    evaluation: list[tuple[date, date]]


def split_dates(snapshots: list[date], cfg: ChurnSettings) -> ChurnSplit:
    """Labelled snapshot dates: the latest `evaluation_dates` for evaluation, and up to `training_dates` before
    them whose label date is on or before the first evaluation date. CrmError when there are too few."""
    pairs = label_dates(snapshots, label_rule(cfg))
    need = cfg.evaluation_dates + 1
    if len(pairs) < need:
        raise CrmError(
            f"churn needs {need} or more profile snapshots whose {cfg.horizon_days}-day outcome a later snapshot "
            f"shows (within {cfg.tolerance_days} days); the profile has {len(snapshots)} snapshots and {len(pairs)} "
            f"such. Build older snapshots (`crm features --from D1 --to D2`) or shorten models.churn.horizon_days")
    evaluation = pairs[-cfg.evaluation_dates:]
    first_eval = evaluation[0][0]
    train = [p for p in pairs[:-cfg.evaluation_dates] if p[1] <= first_eval][-cfg.training_dates:]
    if not train:
        raise CrmError(f"churn: no snapshot's {cfg.horizon_days}-day outcome is known by the first evaluation "
                       f"date {first_eval}, so training would see the evaluation period; more history is needed")
    return ChurnSplit(train, evaluation)


def _sample(frame: DataFrame, rows: int, limit: int) -> DataFrame:
    """A fixed hash sample of customers when `rows` exceeds `limit` (every snapshot of a sampled customer)."""
    if rows <= limit:
        return frame
    share = limit / rows
    return frame.where((F.abs(F.xxhash64("customer_id")) % 1_000_000) < int(share * 1_000_000))


@dataclass
class ChurnTrainResult:
    train_dates: list[date]
    evaluation_dates: list[date]
    rows: int
    positives: int
    metrics: dict[str, float]
    promotion: registry.Promotion
    run_id: str
    seconds: float

    def lines(self) -> list[str]:
        m = self.metrics
        return [f"churn: trained on {self.rows:,} customer-snapshots ({self.positives:,} churned) of "
                f"{len(self.train_dates)} dates {self.train_dates[0]}..{self.train_dates[-1]}; evaluated on "
                f"{', '.join(str(d) for d in self.evaluation_dates)} ({m['rows']:,} customers, "
                f"{m['positives']:,} churned)",
                f"  {'metric':<16}{'model':>10}{BASELINE:>10}",
                *[f"  {k:<16}{m[k]:>10.4f}{m[f'baseline_{k}']:>10.4f}" for k in ("pr_auc", "roc_auc",
                                                                                   "lift_top_decile")],
                f"  brier {m['brier']:.4f}; registered {self.promotion.model_name} v{self.promotion.version}; "
                f"{self.promotion.reason}; run {self.run_id} in {self.seconds:.0f}s"]


def training_frame(spark: SparkSession, profile: DataFrame, pairs: list[tuple[date, date]],
                   cfg: ChurnSettings, aum_loss: bool) -> pd.DataFrame:
    """Labels and features of the customers at risk on the as-of dates of `pairs`, on the driver."""
    dates = [d for d, _ in pairs]
    labels = churn_labels(profile, pairs, label_rule(cfg), aum_loss)
    features = churn_features(profile.where(F.col("as_of_date").isin(dates)))
    return labels.join(features, ["customer_id", "as_of_date"]).toPandas()


def train_churn(spark: SparkSession, settings: Settings) -> ChurnTrainResult:
    started = time.monotonic()
    phase = Phases(log, "train churn")
    cfg = settings.models.churn
    catalog = build_catalog(settings)
    if not catalog.exists(spark, PROFILE):
        raise CrmError(f"churn trains on {PROFILE}; run `crm features` first")
    profile = catalog.read(spark, PROFILE)
    snapshots = sorted(catalog.distinct_values(spark, PROFILE, "as_of_date"))
    split = split_dates(snapshots, cfg)
    features = feature_columns(profile)
    # Balances before the accounts' first extract stand for the initial load's state (bulk loads carry each
    # account's latest version only), so no loss of assets shows there: the AUM-loss outcome counts only when
    # every labelled date has delivered balances, so training and evaluation mean the same thing by churn.
    balances_from = extract_span(spark, catalog).get("accounts", (None, None))[0]
    aum_loss = balances_from is not None and balances_from <= split.train[0][0]
    if not aum_loss:
        log.info("churn: balances are known only from %s; losing assets is not a churn outcome for snapshots "
                 "from %s", balances_from, split.train[0][0])
    train_labels = churn_labels(profile, split.train, label_rule(cfg), aum_loss)
    rows = train_labels.count()
    sampled = _sample(profile, rows, cfg.max_training_rows)
    train = training_frame(spark, sampled, split.train, cfg, aum_loss)
    test = training_frame(spark, profile, split.evaluation, cfg, aum_loss)
    phase("labels and features")
    # a feature no training row has (a source the bank does not send: no e-commerce, no supply chain) says nothing
    empty = [f for f in features if not train[f].notna().any()]
    features = [f for f in features if f not in empty]
    try:
        model = fit_churn(train, features, params=churn_params(cfg))
    except ValueError as e:
        raise CrmError(f"churn: {e}") from None
    p = model.predict_proba(test)
    baseline = recency_baseline(test, RECENCY)
    metrics = evaluate(test["churned"], p, baseline)
    curve = calibration_curve(test["churned"], p)
    phase("fit and evaluate")
    tracking = tracking_from_settings(settings)
    with registry.TrainingRun(tracking, family=CHURN, run_name=f"churn to {split.evaluation[-1][0]}") as run:
        run.log_params({"label": {"horizon_days": cfg.horizon_days, "tolerance_days": cfg.tolerance_days,
                                  "dormant_days": cfg.dormant_days, "aum_loss_share": cfg.aum_loss_share,
                                  "min_aum": cfg.min_aum, "aum_loss_counts": aum_loss},
                        "train_dates": [str(d) for d, _ in split.train],
                        "evaluation_dates": [str(d) for d, _ in split.evaluation],
                        "label_dates": [str(e) for _, e in split.train + split.evaluation],
                        "gbm": cfg.gbm.model_dump(), "calibration": cfg.calibration,
                        "calibration_share": cfg.calibration_share, "calibration_from": str(model.calibration_from),
                        "refit": cfg.refit,
                        "split": model.split, "features": len(features), "features_without_data": empty,
                        "training_rows": len(train),
                        "at_risk_rows": rows, "promotion_metric": PROMOTION_METRIC})
        run.log_input_tables({PROFILE: catalog.version(spark, PROFILE)})
        run.log_with_baseline(BASELINE, {**metrics, "training_positive_rate": float(train["churned"].mean())})
        run.log_figure(plot_pr_roc(test["churned"], p, baseline), "plots/pr_roc.png")
        run.log_figure(plot_calibration(curve), "plots/calibration.png")
        run.log_table(curve, "calibration_curve.json")
        run.log_table(_mean_effects(model, test), "drivers_mean_effect.json")
        kinds = test.groupby("churn_kind").size().rename("customers").reset_index()
        run.log_table(kinds, "evaluation_churn_kinds.json")
        with TemporaryDirectory() as tmp:
            version = run.log_model(cfg.model_name, ChurnPyfunc(model, cfg.drivers),
                                    ChurnPyfunc.save(model, Path(tmp) / "model"), churn_example(model),
                                    pip_requirements=REQUIREMENTS)

        def champion_pr_auc(old: ChurnModel) -> float:
            missing = set(old.features) - set(test.columns)
            if missing:
                raise CrmError(f"churn: the champion needs features the profile no longer has "
                               f"({', '.join(sorted(missing))}); it cannot be compared on this holdout")
            return evaluate(test["churned"], old.predict_proba(test))[PROMOTION_METRIC]

        promotion = registry.promote_on_holdout(tracking, cfg.model_name, version, PROMOTION_METRIC,
                                                metrics[PROMOTION_METRIC], champion_pr_auc, run=run)
        phase("register")
    return ChurnTrainResult([d for d, _ in split.train], [d for d, _ in split.evaluation], len(train),
                            int(train["churned"].sum()), metrics, promotion, run.run_id,
                            time.monotonic() - started)


def _mean_effects(model: ChurnModel, frame: pd.DataFrame, rows: int = 5000) -> pd.DataFrame:
    """Mean effect of each feature on the churn probability over (a sample of) the evaluation customers."""
    sample = frame.sample(min(rows, len(frame)), random_state=0) if len(frame) > rows else frame
    eff = model.effects(sample)
    return (pd.DataFrame({"feature": eff.columns, "mean_effect": eff.mean().to_numpy(),
                          "mean_abs_effect": eff.abs().mean().to_numpy()})
            .sort_values("mean_abs_effect", ascending=False).reset_index(drop=True))


# -- scoring --------------------------------------------------------------------------------------------------

def driver_words(name: str, value: float | None, typical: float) -> str:
    """'days since last txn 75 (typical 3)': a driver as the account manager reads it."""
    def num(v) -> str:
        if v is None or pd.isna(v):
            return "unknown"
        return f"{v:,.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:.2f}"

    label = name.replace("_", " ")
    return f"{label} {num(value)} (typical {num(typical)})"


_SCHEMA = "customer_id string, churn_probability double, churn_drivers array<string>"


def churn_scores(profile: DataFrame, model: ChurnModel, drivers: int) -> DataFrame:
    """(customer_id, churn_probability, churn_drivers) for every customer of `profile` (one as-of date), scored on
    the executors (mapInPandas); the drivers name the features that push each probability up most."""
    features = churn_features(profile)

    def score(batches):
        for pdf in batches:
            p = model.predict_proba(pdf)
            named = model.drivers(pdf, drivers, min_effect=1e-4) if drivers else [[] for _ in range(len(pdf))]
            words = [[driver_words(f, pdf[f].iat[i], model.reference[f]) for f, _ in d] for i, d in enumerate(named)]
            yield pd.DataFrame({"customer_id": pdf["customer_id"], "churn_probability": p, "churn_drivers": words})

    return features.mapInPandas(score, _SCHEMA)
