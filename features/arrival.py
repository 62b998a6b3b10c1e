"""When a record became known to the bank: its delivery date, except for the initial load.

Point-in-time features see a record from the extract date that delivered it. A bank that starts the lakehouse
with a bulk extract of its history would then know nothing before that date, and no model could train on a
past as-of date. With the initial-load policy the records of a source's first extract count as known when
they happened (their event or version time), which is what the bank's own systems knew then; every later
extract keeps its delivery date, so a late record or a correction still never leaks backwards.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


def known_from(df: DataFrame, known_col: str, happened: Column, initial_load: date | None) -> DataFrame:
    """`df` with `known_col` moved back to the day the record happened when it came in the initial load."""
    if initial_load is None:
        return df
    known = F.col(known_col)
    earlier = F.least(known, F.coalesce(F.to_date(happened), known))
    return df.withColumn(known_col, F.when(known == F.lit(initial_load), earlier).otherwise(known))


def versions_known_from(versions: DataFrame, key: list[str], version_col: str, start_col: str | None,
                        initial_load: date | None) -> DataFrame:
    """`known_from` for a versions table (`_extract_date` = delivery date, `version_col` = version time), where
    the first version of each record in the initial load also stands for the record's earlier life: it counts
    as known from `start_col` (e.g. an account's open date). Readers must then judge by dates, not status: a
    bulk version of an account closed after the as-of date still says CLOSED, with its close date."""
    happened = F.col(version_col)
    if initial_load is not None and start_col is not None:
        first = F.row_number().over(Window.partitionBy(*key).orderBy("_extract_date", version_col)) == 1
        start = F.col(start_col).cast("timestamp")
        happened = F.when(first & (F.col("_extract_date") == F.lit(initial_load)),
                          F.least(happened, F.coalesce(start, happened))).otherwise(happened)
    return known_from(versions, "_extract_date", happened, initial_load)
