"""Churn labels and features from the profile's own snapshots, point in time.

A customer at risk on an as-of date D (an active relationship with an open account, not already dormant)
*churned* when, on the label date (the profile snapshot nearest D + horizon, within a tolerance), they:
- closed the relationship or every account (`closed`),
- went dormant: no transaction for more than `dormant_days` (`dormant`), or
- lost more than `aum_loss_share` of their assets under management, having held at least `min_aum` (`aum_loss`).
Features are the profile's numeric columns on D only (plus one-hot segment and customer type), so nothing
after D leaks in; the label looks only at the label date's snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.contracts.core_banking import SEGMENTS

KINDS = ("closed", "dormant", "aum_loss")
_NUMERIC = ("int", "bigint", "double", "boolean")
# filled by the lifecycle scores themselves, or identifiers in numeric form
_NOT_FEATURES = {"potential_value", "customer_value"}


@dataclass(frozen=True)
class ChurnLabel:
    horizon_days: int = 90
    tolerance_days: int = 7         # the label snapshot may fall this many days either side of D + horizon
    dormant_days: int = 60
    aum_loss_share: float = 0.5
    min_aum: float = 10_000.0

    def __post_init__(self):
        if self.horizon_days < 1 or self.tolerance_days < 0 or self.dormant_days < 1:
            raise ValueError("churn label: horizon_days and dormant_days must be >= 1, tolerance_days >= 0")
        if not 0 < self.aum_loss_share <= 1:
            raise ValueError("churn label: aum_loss_share must be in (0, 1]")


def label_dates(as_of_dates: list[date], rule: ChurnLabel) -> list[tuple[date, date]]:
    """(as_of_date, label_date) for every snapshot date whose outcome a later snapshot shows: the snapshot
    nearest as_of + horizon, within the tolerance (the earlier one on a tie)."""
    dates = sorted(set(as_of_dates))
    pairs = []
    for d in dates:
        target = d.toordinal() + rule.horizon_days
        near = [e for e in dates if e > d and abs(e.toordinal() - target) <= rule.tolerance_days]
        if near:
            pairs.append((d, min(near, key=lambda e: (abs(e.toordinal() - target), e))))
    return pairs


def at_risk(rule: ChurnLabel) -> Column:
    """Who can churn on an as-of date: an active relationship with an open account, not dormant yet."""
    return ((F.col("relationship_status") == "ACTIVE") & (F.col("accounts_open") > 0)
            & (F.coalesce(F.col("days_since_last_txn"), F.lit(1 << 30)) <= rule.dormant_days))


def churn_labels(profile: DataFrame, pairs: list[tuple[date, date]], rule: ChurnLabel,
                 aum_loss: bool = True) -> DataFrame:
    """(customer_id, as_of_date, label_date, churned 0/1, churn_kind) for the customers at risk on each as-of
    date of `pairs`. A customer missing from the label date's snapshot gets no label (left out). Without
    `aum_loss`, only closing and going dormant count (balances known only as of an initial load show no loss)."""
    spark = profile.sparkSession
    pairs_df = spark.createDataFrame(pairs, "as_of_date date, label_date date")
    start = (profile.join(F.broadcast(pairs_df), "as_of_date").where(at_risk(rule))
             .select("customer_id", "as_of_date", "label_date", F.col("aum").alias("_aum0")))
    end = profile.select("customer_id", F.col("as_of_date").alias("label_date"),
                         F.col("relationship_status").alias("_status"), F.col("accounts_open").alias("_open"),
                         F.col("days_since_last_txn").alias("_quiet"), F.col("aum").alias("_aum1"))
    closed = (F.col("_status") == "CLOSED") | (F.col("_open") == 0)
    dormant = F.coalesce(F.col("_quiet"), F.lit(1 << 30)) > rule.dormant_days
    lost = F.lit(aum_loss) & (F.coalesce(F.col("_aum0"), F.lit(0.0)) >= rule.min_aum) & (
        F.coalesce(F.col("_aum1"), F.lit(0.0)) < (1 - rule.aum_loss_share) * F.col("_aum0"))
    kind = F.when(closed, "closed").when(dormant, "dormant").when(lost, "aum_loss")
    return (start.join(end, ["customer_id", "label_date"])
            .select("customer_id", "as_of_date", "label_date", kind.isNotNull().cast("int").alias("churned"),
                    kind.alias("churn_kind")))


def feature_columns(profile: DataFrame) -> list[str]:
    """The profile's numeric columns a churn model may use, in a stable order, plus the one-hot columns
    `churn_features` adds."""
    numeric = [f.name for f in profile.schema.fields
               if f.dataType.simpleString() in _NUMERIC and f.name not in _NOT_FEATURES]
    return numeric + [f"segment_{s.lower()}" for s in SEGMENTS] + ["is_sme"]


def churn_features(profile: DataFrame) -> DataFrame:
    """customer_id, as_of_date and every feature column as double (nulls kept: the model handles them)."""
    names = feature_columns(profile)
    numeric = set(names) - {f"segment_{s.lower()}" for s in SEGMENTS} - {"is_sme"}
    cols = [F.col(c).cast("double").alias(c) for c in names if c in numeric]
    cols += [(F.col("segment") == s).cast("double").alias(f"segment_{s.lower()}") for s in SEGMENTS]
    cols.append((F.col("customer_type") == "SME").cast("double").alias("is_sme"))
    return profile.select("customer_id", "as_of_date", *cols)
