"""The repeat-purchase summary BG/NBD and Gamma-Gamma are fitted on, computed in Spark from any transaction log.

A purchase is a day with at least one qualifying transaction (the papers' convention: several purchases on one
day count once, their values summed). For a calibration period ending on `calibration_end` (inclusive), each
customer with a purchase by then gets:
- `frequency`: purchase days after the first one (repeat purchases);
- `recency`: time from the first to the last purchase day;
- `T`: time from the first purchase day to the end of calibration (the customer's "age");
- `monetary_value`: mean value of the repeat purchase days (0 when there are none);
with times in the chosen unit (day, week = 7 days, month = 365.25 / 12 days) as fractions, so a week-unit
summary of the CDNOW sample is the papers' (T = 38.86 weeks for a customer first seen on 1997-01-01).
`holdout_purchases` counts what happened after calibration, to evaluate the predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.reference import to_cny

UNITS = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}
SUMMARY_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary_value", "first_purchase", "last_purchase")


def unit_days(unit: str) -> float:
    if unit not in UNITS:
        raise ValueError(f"time unit {unit!r}: use one of {', '.join(UNITS)}")
    return UNITS[unit]


@dataclass(frozen=True)
class PurchaseRules:
    """Which transactions of the `transactions` contract are purchases."""
    txn_types: tuple[str, ...] = ("CARD_PURCHASE",)
    direction: str = "DEBIT"
    status: str = "POSTED"


def purchase_days(transactions: DataFrame, rules: PurchaseRules) -> DataFrame:
    """(customer_id, day, value): each customer's purchase days and their value in CNY, from rows of the
    `transactions` contract. Only `rules.status` rows of the listed types and direction count."""
    if not rules.txn_types:
        raise ValueError("purchases: list at least one transaction type")
    t = transactions.where((F.col("status") == rules.status) & (F.col("direction") == rules.direction)
                           & F.col("txn_type").isin(*rules.txn_types))
    return (t.groupBy("customer_id", F.to_date("txn_ts").alias("day"))
            .agg(F.sum(to_cny(F.col("amount"), F.col("currency"))).alias("value")))


def repeat_purchase_summary(days: DataFrame, calibration_end: date, unit: str = "week") -> DataFrame:
    """SUMMARY_COLUMNS for every customer with a purchase day on or before `calibration_end`, from `days`
    (customer_id, day, value)."""
    per = unit_days(unit)
    end = F.lit(calibration_end)
    summary = days.where(F.col("day") <= end).groupBy("customer_id").agg(
        F.min("day").alias("first_purchase"), F.max("day").alias("last_purchase"),
        F.count(F.lit(1)).alias("_days"), F.sum("value").alias("_total"),
        F.min_by("value", "day").alias("_first_value"))
    frequency = (F.col("_days") - 1).cast("int")
    return summary.select(
        "customer_id", frequency.alias("frequency"),
        (F.datediff("last_purchase", "first_purchase") / F.lit(per)).alias("recency"),
        (F.datediff(end, "first_purchase") / F.lit(per)).alias("T"),
        F.when(frequency > 0, (F.col("_total") - F.col("_first_value")) / frequency).otherwise(F.lit(0.0))
        .alias("monetary_value"), "first_purchase", "last_purchase")


def holdout_purchases(days: DataFrame, calibration_end: date, holdout_end: date) -> DataFrame:
    """(customer_id, frequency_holdout, value_holdout): purchase days and their value in (calibration_end,
    holdout_end], for the customers with any."""
    if holdout_end <= calibration_end:
        raise ValueError(f"the holdout end {holdout_end} must be after the calibration end {calibration_end}")
    return (days.where((F.col("day") > F.lit(calibration_end)) & (F.col("day") <= F.lit(holdout_end)))
            .groupBy("customer_id")
            .agg(F.count(F.lit(1)).cast("int").alias("frequency_holdout"), F.sum("value").alias("value_holdout")))
