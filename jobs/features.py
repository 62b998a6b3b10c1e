"""`crm features`: the gold feature tables, kept up to date incrementally from silver.

gold.customer_daily folds in only what silver changed since the last run, read from the Delta change data
feed of silver.transactions and silver.ecommerce_orders. Each fold is one replace of the rows tagged with
its source and the silver version it reached, so the rows and the watermark commit together: a rerun after a
crash redoes exactly the unfinished fold, and history is never rescanned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.changes import signed_changes
from features.daily import CUSTOMER_DAILY, KEY, collapse, customer_daily, customer_links
from jobs.catalog import Catalog
from jobs.config import Settings
from pipelines.contracts import contract

log = logging.getLogger(__name__)

DAILY = CUSTOMER_DAILY.name
# Which silver tables feed customer_daily, and how each becomes daily rows.
DAILY_SOURCES = ("transactions", "ecommerce_orders")


@dataclass
class Fold:
    source: str
    from_version: int | None   # first silver version read; None: nothing new
    to_version: int | None
    rows: int = 0

    def line(self) -> str:
        if self.from_version is None:
            return f"{DAILY:<24} {self.source:<18} up to date (silver version {self.to_version})"
        return (f"{DAILY:<24} {self.source:<18} silver versions {self.from_version}..{self.to_version}: "
                f"{self.rows:,} daily rows")


def update_customer_daily(spark: SparkSession, catalog: Catalog) -> list[Fold]:
    """Folds every silver change not yet in gold.customer_daily into it; returns what each source added."""
    done = _watermarks(spark, catalog)
    folds = []
    for source in DAILY_SOURCES:
        name = f"silver.{source}"
        if not catalog.exists(spark, name):
            log.info("features: %s does not exist yet; customer_daily skips it", name)
            continue
        latest = catalog.version(spark, name)
        start = done.get(source, -1) + 1
        if start > latest:
            folds.append(Fold(source, None, latest))
            continue
        feed = (spark.read.format("delta").option("readChangeFeed", "true")
                .option("startingVersion", start).option("endingVersion", latest).load(catalog.location(name)))
        changes = signed_changes(feed, list(contract(source).silver_key))
        if source == "transactions":
            daily = customer_daily(changes, None, None)
        else:
            links = customer_links(catalog.read(spark, "silver.customers")) \
                if catalog.exists(spark, "silver.customers") else None
            if links is None:
                log.info("features: no silver.customers yet to link e-commerce orders; skipped")
                continue
            daily = customer_daily(None, changes, links)
        daily = daily.withColumn("source", F.lit(source)).withColumn("source_version", F.lit(latest).cast("bigint"))
        catalog.replace_where(spark, DAILY, daily, f"source = '{source}' AND source_version = {latest}")
        rows = (catalog.read(spark, DAILY).where((F.col("source") == source) & (F.col("source_version") == latest))
                .count())
        folds.append(Fold(source, start, latest, rows))
        log.info("features %s", folds[-1].line())
    return folds


def _watermarks(spark: SparkSession, catalog: Catalog) -> dict[str, int]:
    if not catalog.exists(spark, DAILY):
        return {}
    rows = catalog.read(spark, DAILY).groupBy("source").agg(F.max("source_version").alias("v")).collect()
    return {r["source"]: int(r["v"]) for r in rows}


def daily_rows(spark: SparkSession, catalog: Catalog) -> DataFrame:
    """gold.customer_daily with its folds summed: one row per customer, activity day and delivery date."""
    return collapse(catalog.read(spark, DAILY), list(KEY))


def run_features(spark: SparkSession, settings: Settings) -> list[Fold]:
    from jobs.tables import build_catalog

    return update_customer_daily(spark, build_catalog(settings))
