"""Point-in-time training sets: each label joined to the profile as the bank knew it before the label's horizon.

A model that predicts `horizon_days` ahead must learn from features known `horizon_days` before the outcome:
a label on date L is joined to the newest profile snapshot on or before L - horizon, never to a later one.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def training_set(labels: DataFrame, profile: DataFrame, horizon_days: int,
                 max_staleness_days: int | None = None) -> DataFrame:
    """`labels` (customer_id, label_date, label, ...) with the profile columns of the snapshot they may see.

    Adds `features_as_of` (the snapshot's as-of date). A label with no snapshot early enough (or none within
    `max_staleness_days` of its cut-off) is left out: it cannot be predicted point-in-time.
    """
    if horizon_days < 0:
        raise ValueError("horizon_days must be 0 or more")
    cutoff = F.date_sub(F.col("label_date"), horizon_days)
    snap = profile.withColumnRenamed("customer_id", "_pid").withColumnRenamed("as_of_date", "features_as_of")
    cond = (F.col("customer_id") == F.col("_pid")) & (F.col("features_as_of") <= cutoff)
    if max_staleness_days is not None:
        cond = cond & (F.col("features_as_of") >= F.date_sub(cutoff, max_staleness_days))
    label_cols = labels.columns
    w = Window.partitionBy(*[F.col(c) for c in label_cols]).orderBy(F.col("features_as_of").desc())
    paired = labels.join(snap, cond, "inner")
    return (paired.withColumn("_rank", F.row_number().over(w)).where("_rank = 1")
            .drop("_rank", "_pid"))
