"""One row per business key: the latest version wins, within a batch and against silver.

Order of versions: the contract's version column (e.g. updated_at), then the extract date (a later delivery
corrects an earlier one), then the file name, so the outcome never depends on Spark's row order.
"""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pipelines.contracts import SourceContract


def version_order(contract: SourceContract, prefix: str = "") -> list[SparkColumn]:
    cols = [contract.version_column] if contract.version_column else []
    cols += ["_extract_date", "_source_file"]
    return [F.col(f"{prefix}{c}") for c in cols]


def newer_than(contract: SourceContract, source: str, target: str) -> SparkColumn:
    """True where the source row is a strictly later version than the target row (for MERGE)."""
    s_cols = version_order(contract, source + ".")
    t_cols = version_order(contract, target + ".")
    return F.struct(*s_cols) > F.struct(*t_cols)


def latest_per_key(df: DataFrame, contract: SourceContract, key_columns: list[str]) -> DataFrame:
    """Keeps the latest version of each key; the others are duplicates (counted, not quarantined)."""
    w = Window.partitionBy(*key_columns).orderBy(*[c.desc() for c in version_order(contract)], F.col("_record_hash"))
    return df.withColumn("_rank", F.row_number().over(w)).where("_rank = 1").drop("_rank")


def record_hash(columns: list[str]) -> SparkColumn:
    """A content fingerprint of the business columns, for telling a true correction from a re-delivery."""
    return F.sha2(F.to_json(F.struct(*[F.col(c) for c in columns])), 256)
