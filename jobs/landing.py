"""Landing extracts: finding them, fingerprinting them, and reading them as strings, on any Hadoop filesystem.

An extract is a file under `<landing>/<source>/`; its business date comes from an `extract_date=YYYY-MM-DD`
folder or a date in its name (`customers_20260105.csv`, `2026-01-05.json`). Everything is read as
strings here: typing belongs to the contract rules, so a bad value is quarantined instead of crashing a load.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs import hadoop_fs
from jobs.config import Settings
from jobs.errors import CrmError
from pipelines.contracts import SourceContract

_DATE_IN_PATH = (
    re.compile(r"extract_date=(\d{4}-\d{2}-\d{2})"),
    re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)"),
    re.compile(r"(?<!\d)(\d{8})(?!\d)"),
)
EXTENSIONS = {"csv": (".csv", ".txt"), "json": (".json", ".jsonl", ".ndjson"), "parquet": (".parquet",)}


@dataclass(frozen=True)
class LandingFile:
    path: str
    extract_date: date
    size: int


def extract_date_of(path: str) -> date | None:
    for pattern in _DATE_IN_PATH:
        for m in pattern.finditer(path):
            text = m.group(1)
            try:
                return datetime.strptime(text, "%Y-%m-%d" if "-" in text else "%Y%m%d").date()
            except ValueError:
                continue
    return None


def list_files(spark: SparkSession, root: str, fmt: str, default_date: date | None = None) -> list[LandingFile]:
    """Data files under `root` (a folder or one file), skipping Spark's _SUCCESS/.crc side files."""
    out = []
    for st in hadoop_fs.list_files(spark, root):
        p = st.getPath()
        name = p.getName()
        if name.startswith(("_", ".")) or not name.lower().endswith(EXTENSIONS[fmt]):
            continue
        uri = p.toString()
        d = extract_date_of(uri[len(root):] if uri.startswith(root) else name) or extract_date_of(uri) or default_date
        if d is None:
            raise CrmError(f"cannot tell the business date of {uri}: put it in an extract_date=YYYY-MM-DD folder "
                           "or the file name, or pass --date")
        out.append(LandingFile(uri, d, st.getLen()))
    return sorted(out, key=lambda f: (f.extract_date, f.path))


def fingerprints(spark: SparkSession, files: list[LandingFile]) -> dict[str, dict]:
    """SHA-256 and last byte of every file, computed on the executors (files stay off the driver)."""
    if not files:
        return {}
    df = (spark.read.format("binaryFile").load([f.path for f in files])
          .select("path", "length", F.sha2("content", 256).alias("sha256"),
                  (F.hex(F.substring("content", -1, 1)) == "0A").alias("ends_with_newline")))
    facts = {r["path"]: r.asDict() for r in df.collect()}
    by_path = {}
    for f in files:
        fact = facts.get(f.path) or facts.get(_normalise(f.path))
        if fact is None:
            raise CrmError(f"could not read {f.path}")
        by_path[f.path] = fact
    return by_path


def _normalise(uri: str) -> str:
    return uri.replace("file:///", "file:/")


def csv_header(spark: SparkSession, settings: Settings, uri: str) -> list[str]:
    """Column names from a CSV file's first line, with the same delimiter and quoting as the data read."""
    line = hadoop_fs.first_line(spark, uri).lstrip("\ufeff")
    if not line:
        return []
    opts = settings.sources.csv
    escape = None if opts.escape == opts.quote else opts.escape
    fields = next(csv.reader([line], delimiter=opts.delimiter, quotechar=opts.quote, escapechar=escape,
                             doublequote=opts.escape == opts.quote))
    return [f.strip() for f in fields]


def _clean(col: str):
    return _clean_expr(F.col(col))


def read_csv(spark: SparkSession, settings: Settings, contract: SourceContract, paths: list[str],
             header: list[str]) -> DataFrame:
    """Files sharing one header, as contract-column strings plus `_malformed` and `_source_file`."""
    csv = settings.sources.csv
    schema = ", ".join(f"`{c}` string" for c in header) + ", `_corrupt_record` string"
    df = (spark.read.schema(schema)
          .option("header", True).option("sep", csv.delimiter).option("quote", csv.quote)
          .option("escape", csv.escape).option("encoding", csv.encoding).option("mode", "PERMISSIVE")
          .option("columnNameOfCorruptRecord", "_corrupt_record").option("enforceSchema", True)
          .csv(paths))
    return df.select(
        *[_clean(c).alias(c) for c in contract.column_names],
        F.col("_corrupt_record").isNotNull().alias("_malformed"),
        F.col("_metadata.file_path").alias("_source_file"),
    )


def read_json_lines(spark: SparkSession, contract: SourceContract, paths: list[str]) -> DataFrame:
    """JSON lines parsed to a string map, so a non-number in a number field is kept and judged, not lost."""
    lines = spark.read.text(paths).select("value", F.col("_metadata.file_path").alias("_source_file"))
    lines = lines.where(F.trim("value") != "")
    parsed = lines.withColumn("_m", F.from_json("value", "map<string,string>"))
    return parsed.select(
        *[_clean_expr(F.col("_m")[c]).alias(c) for c in contract.column_names],
        F.col("_m").isNull().alias("_malformed"),
        "_source_file",
        F.col("value").alias("_raw_record"),
    )


def json_keys_by_file(spark: SparkSession, paths: list[str]) -> dict[str, list[str]]:
    lines = spark.read.text(paths).select("value", F.col("_metadata.file_path").alias("f"))
    keys = (lines.select("f", F.explode(F.map_keys(F.from_json("value", "map<string,string>"))).alias("k"))
            .groupBy("f").agg(F.sort_array(F.collect_set("k")).alias("keys")))
    return {r["f"]: list(r["keys"]) for r in keys.collect()}


def _clean_expr(c):
    trimmed = F.trim(c)
    return F.when(trimmed == "", F.lit(None).cast("string")).otherwise(trimmed)


def read_parquet(spark: SparkSession, contract: SourceContract, paths: list[str]) -> DataFrame:
    df = spark.read.parquet(*paths)
    return df.select(
        *[_clean_expr(F.col(c).cast("string")).alias(c) for c in contract.column_names],
        F.lit(False).alias("_malformed"),
        F.col("_metadata.file_path").alias("_source_file"),
    )


def parquet_columns(spark: SparkSession, uri: str) -> list[str]:
    return spark.read.parquet(uri).columns
