"""`crm generate`: build the synthetic bank and write its landing extracts, ground truth and (optionally)
a damaged copy of the landing with a manifest of the faults injected.

Everything goes through Spark and the Hadoop FileSystem API, so the lake may be any Hadoop URI.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from jobs.config import Settings
from jobs.hadoop_fs import copy_tree, data_files, delete, fs_path, read_bytes, write_bytes
from pipelines.contracts import CONTRACTS
from pipelines.generator import BIG_SOURCES, EXTRACT_DATE, GeneratorParams, SyntheticBank, generate_bank
from pipelines.generator.faults import (BAD_NUMBER, EXPECTED_RULE, FAULT_COLUMN, FAULT_KINDS, ROW_FAULTS,
                                        apply_row_faults, fault_counts, plan_row_faults)

log = logging.getLogger(__name__)
EXT = {"csv": ".csv", "json": ".json", "parquet": ".parquet"}
ROW_FAULT_SOURCE = "transactions"
TRUNCATED_SOURCE = "nav_prices"
RENAMED_SOURCE = "ecommerce_events"
FAULTS_SCHEMA = ("fault string, source string, extract_date date, file_path string, column string, "
                 "expected_rule string, level string, rows_affected long")


def build_params(settings: Settings, customers=None, days=None, seed=None) -> GeneratorParams:
    return GeneratorParams.from_mapping(settings.generator, customers=customers, days=days, seed=seed)


def generate(spark: SparkSession, settings: Settings, *, out: str | None = None, customers: int | None = None,
             days: int | None = None, seed: int | None = None, faults: list[str] | tuple[str, ...] = (),
             sources: list[str] | None = None) -> dict:
    """Generate and write the bank (every source, or only `sources`) and its truth; returns rows and files per
    source, paths and seconds taken."""
    started = time.time()
    unknown = [f for f in faults if f not in FAULT_KINDS]
    if unknown:
        raise ValueError(f"unknown fault kind(s) {unknown}; kinds are: {', '.join(FAULT_KINDS)}")
    params = build_params(settings, customers, days, seed)
    if out:
        root = out.rstrip("/")
        if "://" not in root and not root.startswith("file:"):
            root = settings.path(root)
        landing, truth = f"{root}/landing", f"{root}/truth"
    else:
        landing, truth = settings.path(settings.lake.landing), settings.path(settings.lake.truth)
    bank = generate_bank(spark, params, sources=sources)
    rows, files, formats, seconds = {}, {}, {}, {"setup": round(time.time() - started, 1)}

    def write_source(source: str, df: DataFrame) -> None:
        t0 = time.time()
        path = f"{landing}/{source}"
        # rows counted as they are written (one row, one record: CSV and JSON text is quoted, never split)
        written = Observation(f"written_{source}")
        write_extract(spark, df.observe(written, F.count(F.lit(1)).alias("n")), path, formats[source], settings,
                      bulk_date=params.bulk_date,
                      bulk_files=_bulk_files(bank, source, spark, params.max_records_per_file),
                      max_records=params.max_records_per_file)
        files[source] = len(data_files(spark, path))
        rows[source] = int(written.get["n"]) if files[source] else 0
        seconds[source] = round(time.time() - t0, 1)
        log.info("wrote %s: %d rows in %d files", source, rows[source], files[source])

    def write_truth(name: str, df: DataFrame) -> None:
        t0 = time.time()
        delete(spark, f"{truth}/{name}")
        df.write.mode("overwrite").parquet(f"{truth}/{name}")
        seconds[f"truth.{name}"] = round(time.time() - t0, 1)

    for source in bank.landing:
        formats[source] = settings.sources.formats.get(source, CONTRACTS[source].format)
    # Largest sources first, so the small ones fill the cores a big write leaves idle at its stage ends. Each
    # DataFrame is built here, on this thread, while the writes already submitted run.
    order = sorted(bank.landing, key=lambda s: -bank.size_hint.get(s, 0))
    with _unsorted_partitioned_writes(spark), \
            ThreadPoolExecutor(max_workers=settings.generator.parallel_writes, thread_name_prefix="generate") as pool:
        futures = [pool.submit(write_source, s, bank.landing[s]) for s in order]
        futures += [pool.submit(write_truth, n, bank.truth[n]) for n in bank.truth]
        for future in futures:
            future.result()
    rows = {s: rows[s] for s in bank.landing}
    files = {s: files[s] for s in bank.landing}
    manifest = []
    if faults:
        faulty = _parent(landing) + "/landing_faulty"
        manifest = inject_faults(spark, landing, faulty, list(faults), formats, settings, params.seed)
        spark.createDataFrame(manifest, FAULTS_SCHEMA).coalesce(1).write.mode("overwrite").parquet(f"{truth}/faults")
    return {"customers": params.customers, "days": params.days, "seed": params.seed,
            "landing": landing, "truth": truth, "rows": rows, "files": files, "formats": formats,
            "bulk_date": params.bulk_date.isoformat(), "end_date": params.end_date.isoformat(),
            "faults": manifest, "step_seconds": seconds, "seconds": round(time.time() - started, 1)}


# -- writing ---------------------------------------------------------------------------------------------

def _bulk_files(bank: SyntheticBank, source: str, spark: SparkSession, max_records: int) -> int:
    if source not in BIG_SOURCES:
        return 1
    p = bank.params
    est = bank.size_hint.get(source, 0) * (p.bulk_day + 1) / p.days
    by_size = math.ceil(est / max_records)
    by_cores = min(spark.sparkContext.defaultParallelism, math.ceil(est / 200_000))
    return max(1, by_size, by_cores)


def write_extract(spark: SparkSession, df: DataFrame, path: str, fmt: str, settings: Settings, *, bulk_date: date,
                  bulk_files: int, max_records: int) -> None:
    """One Spark write per source, one folder per extract_date; the bulk extract split in `bulk_files` files,
    every daily extract in one file."""
    delete(spark, path)
    key = CONTRACTS[df_source(path)].key
    bucket = F.when(F.col(EXTRACT_DATE) == F.lit(bulk_date),
                    F.pmod(F.xxhash64(*[F.col(k) for k in key]), F.lit(bulk_files))).otherwise(F.lit(0))
    out = df.withColumn("_bucket", bucket)
    # hash partitioning on (extract_date, bucket): each daily extract lands whole in one task, so one file
    out = out.repartition(bulk_files + 8, EXTRACT_DATE, "_bucket").drop("_bucket")
    w = out.write.mode("overwrite").partitionBy(EXTRACT_DATE).option("maxRecordsPerFile", max_records)
    _save(w, path, fmt, settings)


@contextmanager
def _unsorted_partitioned_writes(spark: SparkSession, max_writers: int = 64):
    """A partitioned write normally sorts each task's rows by the partition column first. A task here holds only
    a few extract dates, so it keeps one open file per date instead (Spark falls back to sorting past
    `max_writers`); on the M tier this saves about a tenth of the time spent writing transactions."""
    conf = {"spark.sql.optimizer.plannedWrite.enabled": "false",
            "spark.sql.maxConcurrentOutputFileWriters": str(max_writers)}
    before = {k: spark.conf.get(k, None) for k in conf}
    for k, v in conf.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


def _save(w, path: str, fmt: str, settings: Settings) -> None:
    if fmt == "csv":
        c = settings.sources.csv
        (w.option("header", True).option("sep", c.delimiter).option("quote", c.quote).option("escape", c.escape)
         .option("encoding", c.encoding).option("timestampFormat", "yyyy-MM-dd HH:mm:ss")
         .option("dateFormat", "yyyy-MM-dd").option("timeZone", "UTC").option("nullValue", "")
         .csv(path))
    elif fmt == "json":
        (w.option("timestampFormat", "yyyy-MM-dd HH:mm:ss").option("dateFormat", "yyyy-MM-dd")
         .option("timeZone", "UTC").json(path))
    else:
        w.parquet(path)


def df_source(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


# -- the Hadoop filesystem -----------------------------------------------------------------------------

def _parent(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[0]


# -- faults --------------------------------------------------------------------------------------------

def _last_extract(spark: SparkSession, source_dir: str) -> tuple[str, str] | None:
    dates = sorted({f.split("extract_date=")[1].split("/")[0] for f in data_files(spark, source_dir)})
    return (dates[-1], f"{source_dir}/extract_date={dates[-1]}") if dates else None


def inject_faults(spark: SparkSession, landing: str, faulty: str, faults: list[str], formats: dict[str, str],
                  settings: Settings, seed: int) -> list[tuple]:
    """Copy the clean landing to `faulty` and damage the last daily extract of the chosen sources."""
    copy_tree(spark, landing, faulty)
    manifest: list[tuple] = []
    row_faults = [f for f in faults if f in ROW_FAULTS]
    if row_faults:
        manifest += _inject_row_faults(spark, faulty, row_faults, formats[ROW_FAULT_SOURCE], settings, seed)
    if "truncated_file" in faults:
        last = _last_extract(spark, f"{faulty}/{TRUNCATED_SOURCE}")
        if last:
            f = data_files(spark, last[1])[-1]
            data = read_bytes(spark, f)
            body = data.rstrip(b"\n")
            cut = body.rfind(b"\n") + 1
            last_line = body[cut:]
            write_bytes(spark, f, body[:cut] + last_line[: max(1, len(last_line) // 2)])
            manifest.append(("truncated_file", TRUNCATED_SOURCE, date.fromisoformat(last[0]), f, None,
                             EXPECTED_RULE["truncated_file"], "batch", 1))
    if "renamed_column" in faults:
        last = _last_extract(spark, f"{faulty}/{RENAMED_SOURCE}")
        if last:
            fmt = formats[RENAMED_SOURCE]
            n = 0
            for f in data_files(spark, last[1]):
                data = read_bytes(spark, f)
                if fmt == "json":
                    n += data.count(b'"category":')
                    data = data.replace(b'"category":', b'"item_category":')
                elif fmt == "csv":
                    header, _, rest = data.partition(b"\n")
                    cols = header.split(settings.sources.csv.delimiter.encode())
                    header = settings.sources.csv.delimiter.encode().join(
                        b"item_category" if c == b"category" else c for c in cols)
                    n += rest.count(b"\n")
                    data = header + b"\n" + rest
                write_bytes(spark, f, data)
                if fmt == "parquet":
                    df = spark.read.parquet(f).withColumnRenamed("category", "item_category")
                    n += df.count()
                    tmp = f"{faulty}/_tmp_renamed"
                    df.coalesce(1).write.mode("overwrite").parquet(tmp)
                    _replace_with(spark, last[1], tmp, ".parquet")
            manifest.append(("renamed_column", RENAMED_SOURCE, date.fromisoformat(last[0]),
                             data_files(spark, last[1])[0], "category", EXPECTED_RULE["renamed_column"], "batch", n))
    return manifest


def _replace_with(spark: SparkSession, target_dir: str, tmp_dir: str, ext: str) -> str:
    """Swap the data files in `target_dir` for the single part file written to `tmp_dir`."""
    for f in data_files(spark, target_dir):
        delete(spark, f)
    new = data_files(spark, tmp_dir)[0]
    dest = f"{target_dir}/part-00000-faulty{ext}"
    fs, new_path = fs_path(spark, new)
    fs.rename(new_path, fs_path(spark, dest)[1])
    delete(spark, tmp_dir)
    return dest


def _inject_row_faults(spark: SparkSession, faulty: str, row_faults: list[str], fmt: str, settings: Settings,
                       seed: int) -> list[tuple]:
    last = _last_extract(spark, f"{faulty}/{ROW_FAULT_SOURCE}")
    if not last:
        return []
    extract_date, folder = last
    contract = CONTRACTS[ROW_FAULT_SOURCE]
    c = settings.sources.csv
    tmp = f"{faulty}/_tmp_row_faults"
    if fmt == "csv":
        schema = ", ".join(f"`{n}` string" for n in contract.column_names)
        rows = (spark.read.option("header", True).option("sep", c.delimiter).option("quote", c.quote)
                .option("escape", c.escape).schema(schema).csv(folder))
    elif fmt == "json":
        rows = spark.read.schema(contract.spark_ddl()).option("timestampFormat", "yyyy-MM-dd HH:mm:ss").json(folder)
    else:
        rows = spark.read.parquet(folder)
    rows = rows.localCheckpoint()
    planned = plan_row_faults(rows, row_faults, seed).localCheckpoint()
    counts = fault_counts(planned)
    damaged = apply_row_faults(planned, typed=(fmt == "parquet")).drop("_fault")
    damaged = damaged.orderBy(F.xxhash64(*[F.col(n).cast("string") for n in contract.column_names])).coalesce(1)
    if fmt == "csv":
        (damaged.write.mode("overwrite").option("header", True).option("sep", c.delimiter).option("quote", c.quote)
         .option("escape", c.escape).option("nullValue", "").csv(tmp))
    elif fmt == "json":
        text = F.to_json(F.struct(*[F.col(n) for n in contract.column_names]),
                         {"timestampFormat": "yyyy-MM-dd HH:mm:ss", "timeZone": "UTC"})
        # a bad number cannot live in a typed column: write the row's amount token as the bad text
        marked = damaged.withColumn("_bad", F.col("txn_id").isNotNull() & F.col("txn_id").isin(
            [r["txn_id"] for r in planned.where(F.col("_fault") == "bad_type").select("txn_id").collect()]))
        out = marked.select(F.when(F.col("_bad"), F.regexp_replace(text, '"amount":[-0-9.E]+', f'"amount":"{BAD_NUMBER}"'))
                            .otherwise(text).alias("value"))
        out.write.mode("overwrite").text(tmp)
    else:
        damaged.write.mode("overwrite").parquet(tmp)
    path = _replace_with(spark, folder, tmp, EXT[fmt] if fmt != "json" else ".json")
    out = []
    for f in row_faults:
        if f == "bad_type" and fmt == "parquet":
            log.warning("bad_type cannot be injected into a Parquet extract; skipped")
            continue
        if counts.get(f):
            level = "row"
            out.append((f, ROW_FAULT_SOURCE, date.fromisoformat(extract_date), path, FAULT_COLUMN[f], EXPECTED_RULE[f],
                        level, counts[f]))
    return out
