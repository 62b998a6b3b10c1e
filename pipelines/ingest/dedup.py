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


def repeated_keys(df: DataFrame, key_columns: list[str]) -> DataFrame:
    """The keys that occur more than once in `df`, with how many versions arrived (`_versions`). Keys with a
    null part are left out: they never name one record (the rules reject them)."""
    complete = F.lit(True)
    for k in key_columns:
        complete = complete & F.col(k).isNotNull()
    return (df.where(complete).groupBy(*key_columns).agg(F.count(F.lit(1)).alias("_versions"))
            .where(F.col("_versions") > 1))


def split_repeated(df: DataFrame, key_columns: list[str], repeated: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(rows whose key arrived once, rows whose key arrived more than once), by a broadcast of `repeated` (the
    output of `repeated_keys`, small enough to broadcast): neither side shuffles the batch."""
    marks = F.broadcast(repeated.select(*key_columns))
    return df.join(marks, key_columns, "left_anti"), df.join(marks, key_columns, "left_semi")


def ranked_versions(df: DataFrame, contract: SourceContract, key_columns: list[str]) -> DataFrame:
    """Adds `_rank`: 1 for the latest version of each key, 2 and up for the duplicates (counted, not
    quarantined). Ties in the version order fall to the content fingerprint, so the outcome never depends on
    Spark's row order."""
    w = Window.partitionBy(*key_columns).orderBy(*[c.desc() for c in version_order(contract)], F.col("_record_hash"))
    return df.withColumn("_rank", F.row_number().over(w))


def record_hash(columns: list[str]) -> SparkColumn:
    """A 128-bit content fingerprint of the business columns, for telling a true correction from a re-delivery.

    Two xxHash64 digests under different seeds: an order of magnitude cheaper per row than SHA-256 over the
    record's JSON, and collisions stay out of reach for change detection (this is not a security hash; the
    keyed pseudonymisation is).
    """
    cols = [F.col(c) for c in columns]
    return F.concat(F.lpad(F.hex(F.xxhash64(F.lit("crm:a"), *cols)), 16, "0"),
                    F.lpad(F.hex(F.xxhash64(F.lit("crm:b"), *cols)), 16, "0"))


def first_known_versions(df: DataFrame, key_columns: list[str]) -> DataFrame:
    """Each distinct version (key and content fingerprint) once, from the earliest delivery that brought it."""
    w = Window.partitionBy(*key_columns, "_record_hash").orderBy(F.col("_extract_date"), F.col("_source_file"))
    return df.withColumn("_rank", F.row_number().over(w)).where("_rank = 1").drop("_rank")
