"""Silver changes as signed rows, so daily aggregates can be kept up to date without rescanning history.

Silver keeps the latest version of each record and publishes every change in its Delta change data feed.
A change becomes rows with a sign: a new record counts +1; a corrected record retracts its earlier version
(-1) and adds its new one (+1). Each row carries `known_date`, the business date on which the bank learned
of the change (the extract date of the delivery that brought it), so a point-in-time read "as known on D"
sums only rows with known_date <= D, and a late record or correction never leaks into an earlier as-of date.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

ADDED = ("insert", "update_postimage")
RETRACTED = ("update_preimage", "delete")


def signed_changes(feed: DataFrame, key: list[str]) -> DataFrame:
    """Change-feed rows (with `_change_type`, `_commit_version`, `_commit_timestamp`) as signed rows.

    Output: the record's columns plus `_sign` (+1 or -1) and `known_date`. A retraction is known on the date
    its replacement arrived (the post-image's extract date in the same commit); a delete on its commit date.
    """
    added = (feed.where(F.col("_change_type").isin(*ADDED))
             .withColumn("_sign", F.lit(1)).withColumn("known_date", F.col("_extract_date")))
    arrival = added.select(*key, "_commit_version", F.col("known_date").alias("_replaced_on"))
    retracted = (feed.where(F.col("_change_type").isin(*RETRACTED))
                 .join(arrival, [*key, "_commit_version"], "left")
                 .withColumn("_sign", F.lit(-1))
                 .withColumn("known_date", F.coalesce("_replaced_on", F.to_date("_commit_timestamp")))
                 .drop("_replaced_on"))
    cols = [c for c in feed.columns if not c.startswith("_change_type")] + ["_sign", "known_date"]
    return added.select(*cols).unionByName(retracted.select(*cols))


def as_added(silver: DataFrame) -> DataFrame:
    """A silver table read whole, as if every current record had just been added (a from-scratch build)."""
    return silver.withColumn("_sign", F.lit(1)).withColumn("known_date", F.col("_extract_date"))
