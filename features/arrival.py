"""When a record became known to the bank: its delivery date, except for the initial load.

Point-in-time features see a record from the extract date that delivered it. A bank that starts the lakehouse
with a bulk extract of its history would then know nothing before that date, and no model could train on a
past as-of date. With the initial-load policy the records of a source's first extract count as known when
they happened (their event or version time), which is what the bank's own systems knew then; every later
extract keeps its delivery date, so a late record or a correction still never leaks backwards.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def known_from(df: DataFrame, known_col: str, happened: Column, initial_load: date | None) -> DataFrame:
    """`df` with `known_col` moved back to the day the record happened when it came in the initial load."""
    if initial_load is None:
        return df
    known = F.col(known_col)
    earlier = F.least(known, F.coalesce(F.to_date(happened), known))
    return df.withColumn(known_col, F.when(known == F.lit(initial_load), earlier).otherwise(known))
