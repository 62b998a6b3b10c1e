"""The Spark session: built here locally, taken as given on a cluster.

Locally the Delta jars are resolved once from Maven Central through Spark's own Ivy resolver into
`spark.jars_cache`, and from then on loaded from that folder, so later runs need no network.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from jobs.config import ConfigError, Settings
from jobs.java import ensure_java_home

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
SCALA_BINARY = "2.13"


def delta_packages(version: str) -> list[str]:
    return [f"io.delta:delta-spark_{SCALA_BINARY}:{version}"]


def _cached_jars(cache: Path, version: str) -> list[str] | None:
    jars_dir = cache / "jars"
    needed = [f"io.delta_delta-spark_{SCALA_BINARY}-{version}.jar", f"io.delta_delta-storage-{version}.jar"]
    paths = [jars_dir / n for n in needed]
    if all(p.exists() for p in paths):
        return [str(p) for p in sorted(jars_dir.glob("*.jar"))]
    return None


def _local_jars_dir(settings: Settings) -> Path:
    uri = settings.path(settings.spark.jars_cache)
    if not uri.startswith("file:"):
        raise ConfigError(f"spark.jars_cache must be a local folder, got {settings.spark.jars_cache!r}")
    return Path(uri[len("file:"):])


def delta_defaults(settings: Settings) -> dict[str, str]:
    """Settings every session needs, local or cluster: Delta, and small-table friendliness."""
    return {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        # Delta's snapshot state is tiny here; its default of 50 partitions costs a second per commit.
        "spark.databricks.delta.snapshotPartitions": str(max(2, settings.spark.shuffle_partitions)),
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        # Contract checks put a hundred CASE expressions in one projection; inferring filter constraints
        # over them takes the optimizer minutes (exponential in aliases) and buys nothing here.
        "spark.sql.constraintPropagation.enabled": "false",
        # Whole-stage code for those wide projections (and the generator's) compiles to methods above
        # HotSpot's 8000-byte JIT limit, which then run interpreted, ~5x slower; at this limit Spark falls
        # back to per-expression code whose small methods the JIT compiles.
        "spark.sql.codegen.hugeMethodLimit": "8000",
    }


def build_session(settings: Settings) -> SparkSession:
    """A session for this process: the active one if Spark was started for us, else a new local one."""
    active = SparkSession.getActiveSession()
    if active is not None:
        _configure(active, settings)
        return active
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        # Launched by spark-submit: the master and jars come from the submit command.
        spark = SparkSession.builder.appName(settings.spark.app_name).getOrCreate()
        _configure(spark, settings)
        return spark
    ensure_java_home()
    # Python workers (pandas UDFs, mapInPandas) run this interpreter, which has the project installed; left
    # alone, Spark starts whatever `python3` is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(settings.spark.master)
        .appName(settings.spark.app_name)
        .config("spark.driver.memory", settings.spark.driver_memory)
        .config("spark.ui.enabled", str(settings.spark.ui_enabled).lower())
        .config("spark.ui.showConsoleProgress", str(settings.spark.show_progress).lower())
        # PySpark 4 records the Python call site of every Column operation (JVM round trips each);
        # our plans are built from thousands of them, so this alone costs tens of seconds per job.
        .config("spark.python.sql.dataFrameDebugging.enabled", "false")
        # Concurrent loads (crm ingest) each run in their own pool and share the cores; jobs that name no pool
        # share the default one, first come first served, as under FIFO.
        .config("spark.scheduler.mode", "FAIR")
    )
    for k, v in delta_defaults(settings).items():
        builder = builder.config(k, v)
    cache = _local_jars_dir(settings)
    jars = _cached_jars(cache, settings.spark.delta_version)
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    else:
        log.info("resolving Delta %s jars from Maven Central into %s (first start only)",
                 settings.spark.delta_version, cache)
        cache.mkdir(parents=True, exist_ok=True)
        builder = (builder.config("spark.jars.packages", ",".join(delta_packages(settings.spark.delta_version)))
                   .config("spark.jars.ivy", str(cache)))
    if "spark.scheduler.allocation.file" not in settings.spark.conf:
        builder = builder.config("spark.scheduler.allocation.file", _scheduler_pools(settings, cache))
    for k, v in settings.spark.conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    _configure(spark, settings)
    return spark


CRITICAL_POOL = "ingest-critical"


def _scheduler_pools(settings: Settings, folder: Path) -> str:
    """A fair-scheduler allocation file naming the pool of the ingestion's critical path, with its weight; every
    other pool is made on first use with weight 1. Spark reads it once, when the session starts."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"scheduler-pools-w{settings.ingest.critical_path_weight}.xml"  # one file per content
    xml = ("<?xml version=\"1.0\"?>\n<allocations>\n"
           f"  <pool name=\"{CRITICAL_POOL}\"><schedulingMode>FAIR</schedulingMode>"
           f"<weight>{settings.ingest.critical_path_weight}</weight><minShare>0</minShare></pool>\n"
           "</allocations>\n")
    if not path.exists() or path.read_text() != xml:
        path.write_text(xml)
    return str(path)


def _configure(spark: SparkSession, settings: Settings) -> None:
    spark.sparkContext.setLogLevel(settings.spark.log_level)
    for k, v in delta_defaults(settings).items():
        if k.startswith("spark.sql.extensions") or k.startswith("spark.sql.catalog"):
            continue  # static; fixed at session start by whoever built it
        spark.conf.set(k, v)


def materialise(df: DataFrame) -> DataFrame:
    """Computes `df` once and keeps its rows on the executors (memory, spilling to disk), cutting the plan.

    A local checkpoint stores rows as they are; `persist()` would first encode them into Spark's columnar
    cache, which on a wide batch costs as much again as computing it. The rows live as long as their
    executors: a lost executor fails the step, which is then simply rerun (every load is idempotent).
    Free them with `release` when done.
    """
    return df.localCheckpoint(eager=True)


def release(df: DataFrame) -> None:
    """Frees the rows a `materialise`d DataFrame keeps (the DataFrame must not be used afterwards)."""
    plan = df._jdf.queryExecution().analyzed()
    if plan.getClass().getSimpleName() == "LogicalRDD":
        plan.rdd().unpersist(False)
