"""Slowly changing records as they were known on a date.

`silver.<source>_versions` keeps every distinct version of a customer, account, product or firm record with
the extract date that first brought it. The version known on an as-of date is the newest one (by the
source's version order) among those delivered by then: a version delivered later never leaks backwards,
and a stale version delivered late never overrides a newer one already known.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pipelines.contracts import SourceContract


def known_on(versions: DataFrame, contract: SourceContract, as_of_dates: DataFrame) -> DataFrame:
    """Per as-of date (a one-column DataFrame `as_of_date`), the version of each record known then.

    Many as-of dates are answered in one pass: versions are paired with every as-of date they were known by.
    """
    order = ([F.col(contract.version_column).desc()] if contract.version_column else []) + [
        F.col("_extract_date").desc(), F.col("_source_file").desc()]
    paired = versions.join(F.broadcast(as_of_dates), F.col("_extract_date") <= F.col("as_of_date"))
    w = Window.partitionBy("as_of_date", *contract.silver_key).orderBy(*order)
    return paired.withColumn("_rank", F.row_number().over(w)).where("_rank = 1").drop("_rank")
