"""Merchant risk from confirmed fraud, per merchant and business day, as it was known on that day.

For day D: among the merchant's transactions of the `days` days before D (D itself excluded), those whose fraud
label was confirmed before D (label_ts before D 00:00 UTC). A label confirmed on D or later was not known when
D's transactions happened, so counting it would leak the outcome into D's features. One pass covers a range of
days: the confirmed frauds are few, so they are paired with every day of the range, and only merchants with
known fraud have their transactions counted. Days are UTC days of epoch microseconds (no session time zone).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

_DAY_US = 86400 * 1_000_000


def merchant_fraud_by_day(fraud_labels: DataFrame, transactions: DataFrame, start: date, end: date,
                          days: int) -> DataFrame:
    """(merchant_id, txn_date, merchant_fraud_count, merchant_fraud_share) for each day `txn_date` of start..end
    and each merchant with confirmed fraud known on it. `transactions` must cover start - days .. end - 1."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    epoch = date(1970, 1, 1)
    first, last = (start - epoch).days, (end - epoch).days
    us = F.unix_micros("txn_ts")
    txns = (transactions.where(F.col("merchant_id").isNotNull() & (us >= (first - days) * _DAY_US)
                               & (us < last * _DAY_US))
            .select("txn_id", "merchant_id", F.floor(us / _DAY_US).cast("int").alias("_day")))
    confirmed = (fraud_labels.where(F.unix_micros("label_ts") < last * _DAY_US)
                 .groupBy("txn_id").agg(F.min(F.unix_micros("label_ts")).alias("_label_us")))
    frauds = txns.join(confirmed, "txn_id")                      # small: confirmed fraud at a merchant
    calendar = frauds.sparkSession.range(first, last + 1).select(F.col("id").cast("int").alias("_d"))
    in_window = (F.col("_day") >= F.col("_d") - days) & (F.col("_day") < F.col("_d"))
    known = (frauds.crossJoin(F.broadcast(calendar))
             .where(in_window & (F.col("_label_us") < F.col("_d").cast("long") * _DAY_US))
             .groupBy("merchant_id", "_d").agg(F.count(F.lit(1)).alias("merchant_fraud_count")))
    per_day = (txns.join(F.broadcast(known.select("merchant_id").distinct()), "merchant_id", "left_semi")
               .groupBy("merchant_id", "_day").agg(F.count(F.lit(1)).alias("_n")))
    totals = (per_day.crossJoin(F.broadcast(calendar)).where(in_window)
              .groupBy("merchant_id", "_d").agg(F.sum("_n").alias("_txns")))
    return known.join(totals, ["merchant_id", "_d"]).select(
        "merchant_id", F.date_from_unix_date("_d").alias("txn_date"), "merchant_fraud_count",
        (F.col("merchant_fraud_count") / F.col("_txns")).alias("merchant_fraud_share"))
