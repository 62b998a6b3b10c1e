"""Row-level damage for the faulty copy of a landing extract: each fault hits its own rows."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

ROW_FAULTS = ("duplicates", "null_key", "bad_type", "unknown_code", "future_date")
FILE_FAULTS = ("truncated_file", "renamed_column")
FAULT_KINDS = ROW_FAULTS + FILE_FAULTS
EXPECTED_RULE = {"duplicates": "duplicate", "null_key": "null_key", "bad_type": "bad_type",
                 "unknown_code": "not_allowed", "future_date": "future_date", "truncated_file": "truncated_file",
                 "renamed_column": "schema_drift"}
FAULT_COLUMN = {"duplicates": "txn_id", "null_key": "txn_id", "bad_type": "amount", "unknown_code": "currency",
                "future_date": "txn_ts", "truncated_file": None, "renamed_column": "category"}
BAD_NUMBER = "12,5O"
FEW = 3


def plan_row_faults(rows: DataFrame, faults: list[str], seed: int, key: str = "txn_id") -> DataFrame:
    """Adds `_fault`: which fault (if any) hits each row. Rows are ranked by a keyed hash; the first ~1% get
    duplicated, and each other fault takes the next few rows, so every damaged row has exactly one reason."""
    wanted = [f for f in ROW_FAULTS if f in faults]
    n = rows.count()
    sizes = {"duplicates": max(1, round(n * 0.01))}
    rank = F.row_number().over(Window.orderBy(F.xxhash64(F.lit(seed), F.lit("fault"), F.col(key)))) - 1
    x = rows.select("*", rank.alias("_rank"))
    expr, start = None, 0
    for f in wanted:
        size = sizes.get(f, FEW)
        cond = (F.col("_rank") >= start) & (F.col("_rank") < start + size)
        expr = F.when(cond, F.lit(f)) if expr is None else expr.when(cond, F.lit(f))
        start += size
    return x.select("*", (expr if expr is not None else F.lit(None)).cast("string").alias("_fault")).drop("_rank")


def apply_row_faults(planned: DataFrame, typed: bool) -> DataFrame:
    """The damaged rows. `typed`: keep column types (Parquet; bad_type then cannot be expressed and is skipped)."""
    f = F.col("_fault")
    dup = planned.where(f == "duplicates")
    cols = []
    for c in planned.columns:
        if c == "_fault":
            continue
        col = F.col(c)
        if c == "txn_id":
            col = F.when(f == "null_key", F.lit(None).cast(planned.schema[c].dataType)).otherwise(col)
        elif c == "amount" and not typed:
            col = F.when(f == "bad_type", F.lit(BAD_NUMBER)).otherwise(col)
        elif c == "currency":
            col = F.when(f == "unknown_code", F.lit("XXX")).otherwise(col)
        elif c == "txn_ts":
            shifted = (F.col(c).cast("timestamp") + F.expr("INTERVAL 400 DAYS"))
            col = F.when(f == "future_date", shifted if typed else F.date_format(shifted, "yyyy-MM-dd HH:mm:ss")).otherwise(col)
        cols.append(col.alias(c))
    return planned.select(*cols, "_fault").unionByName(dup)


def fault_counts(planned: DataFrame) -> dict[str, int]:
    return {r["_fault"]: r["n"] for r in planned.where(F.col("_fault").isNotNull()).groupBy("_fault").agg(F.count("*").alias("n")).collect()}
