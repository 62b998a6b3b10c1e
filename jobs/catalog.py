"""The table catalog: logical names (<layer>.<table>) to storage, and the Delta reads and writes behind them.

Locally a name is a folder under the lake root; on a cluster the same name can also be registered in a
metastore database. Every table is created with column comments; transformations never see a path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from jobs.config import Settings

log = logging.getLogger(__name__)

LAYERS = ("bronze", "silver", "gold", "serving", "ops")
STATS_COLUMNS = "delta.dataSkippingStatsColumns"


@dataclass(frozen=True)
class TableSpec:
    name: str                       # logical name, e.g. "silver.transactions"
    description: str
    comments: dict[str, str] = field(default_factory=dict)  # column -> comment
    properties: dict[str, str] = field(default_factory=dict)
    partition_by: tuple[str, ...] = ()

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]


class Catalog:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._specs: dict[str, TableSpec] = {}
        self._known: set[str] = set()  # tables seen to exist: Delta tables are never dropped under us
        self._properties_checked: set[str] = set()

    def register(self, spec: TableSpec) -> TableSpec:
        if spec.layer not in LAYERS:
            raise ValueError(f"table {spec.name}: layer must be one of {LAYERS}")
        self._specs[spec.name] = spec
        return spec

    def spec(self, name: str) -> TableSpec:
        return self._specs[name]

    @property
    def names(self) -> list[str]:
        order = {layer: i for i, layer in enumerate(LAYERS)}
        return sorted(self._specs, key=lambda n: (order[n.split(".")[0]], n))

    def location(self, name: str) -> str:
        override = self.settings.catalog.tables.get(name)
        if override and override.location:
            return self.settings.path(override.location)
        layer, table = name.split(".", 1)
        return self.settings.catalog.location_pattern.format(root=self.settings.lake_root, layer=layer, table=table)

    def metastore_name(self, name: str) -> str | None:
        override = self.settings.catalog.tables.get(name)
        if override and override.metastore_name:
            return override.metastore_name
        if self.settings.lake.database:
            return f"{self.settings.lake.database}.{name.replace('.', '_')}"
        return None

    # --- Delta I/O -------------------------------------------------------------------------------------
    def exists(self, spark: SparkSession, name: str) -> bool:
        if name in self._known:
            return True
        if DeltaTable.isDeltaTable(spark, self.location(name)):
            self._known.add(name)
            return True
        return False

    def read(self, spark: SparkSession, name: str, version: int | None = None) -> DataFrame:
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.location(name))

    def distinct_values(self, spark: SparkSession, name: str, column: str) -> set:
        """The distinct values of one column of a table (empty when the table does not exist yet), e.g. the
        dates a gold table already holds."""
        if not self.exists(spark, name):
            return set()
        return {r[0] for r in self.read(spark, name).select(column).distinct().collect()}

    def latest_date(self, spark: SparkSession, name: str, column: str, before: date | None = None,
                    on_or_before: date | None = None) -> date | None:
        """The latest value of a date column (a table's newest slice), optionally only among those before
        `before` or on or before `on_or_before`; None when the table or such a slice does not exist."""
        if not self.exists(spark, name):
            return None
        t = self.read(spark, name)
        if before is not None:
            t = t.where(F.col(column) < F.lit(before))
        if on_or_before is not None:
            t = t.where(F.col(column) <= F.lit(on_or_before))
        return t.agg(F.max(column)).first()[0]

    def delta(self, spark: SparkSession, name: str) -> DeltaTable:
        return DeltaTable.forPath(spark, self.location(name))

    def version(self, spark: SparkSession, name: str) -> int | None:
        if not self.exists(spark, name):
            return None
        return self.delta(spark, name).history(1).select("version").first()[0]

    def ensure(self, spark: SparkSession, name: str, schema: StructType) -> None:
        """Creates the table (schema, column comments, properties) if it does not exist yet; on an existing
        table, adds the columns it lacks (schemas change only additively), with their comments, and sets the
        spec's properties it lacks (a table made by an earlier release gains e.g. deletion vectors)."""
        spec = self._specs.get(name) or TableSpec(name, "")
        if self.exists(spark, name):
            have = {f.name for f in self.read(spark, name).schema.fields}
            new = [f for f in schema.fields if f.name not in have]
            if new:
                cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" + _comment_sql(
                    spec.comments.get(f.name) or f.metadata.get("comment")) for f in new)
                spark.sql(f"ALTER TABLE delta.`{self.location(name)}` ADD COLUMNS ({cols})")
                log.info("%s: added columns %s", name, ", ".join(f.name for f in new))
                self._properties_checked.discard(name)  # the statistics columns may now name the new ones
            self._ensure_properties(spark, name, spec, have | {f.name for f in new})
            return
        builder = (DeltaTable.createIfNotExists(spark).location(self.location(name)))
        if spec.description:
            builder = builder.comment(spec.description)
        for f in schema.fields:
            comment = spec.comments.get(f.name) or f.metadata.get("comment")
            builder = builder.addColumn(f.name, f.dataType, nullable=True, comment=comment)
        for k, v in _properties(spec, {f.name for f in schema.fields}).items():
            builder = builder.property(k, v)
        if spec.partition_by:
            builder = builder.partitionedBy(*spec.partition_by)
        builder.execute()
        self._known.add(name)
        self._properties_checked.add(name)
        ms = self.metastore_name(name)
        if ms:
            spark.sql(f"CREATE TABLE IF NOT EXISTS {ms} USING DELTA LOCATION '{self.location(name)}'")

    def _ensure_properties(self, spark: SparkSession, name: str, spec: TableSpec, columns: set[str]) -> None:
        if not spec.properties or name in self._properties_checked:
            return
        have = self.delta(spark, name).detail().select("properties").first()[0] or {}
        missing = {k: v for k, v in _properties(spec, columns).items() if have.get(k) != v}
        if missing:
            props = ", ".join(f"'{k}' = '{v}'" for k, v in missing.items())
            spark.sql(f"ALTER TABLE delta.`{self.location(name)}` SET TBLPROPERTIES ({props})")
            log.info("%s: set %s", name, props)
        self._properties_checked.add(name)

    def append(self, spark: SparkSession, name: str, df: DataFrame) -> None:
        self.ensure(spark, name, df.schema)
        df.write.format("delta").mode("append").save(self.location(name))

    def replace_where(self, spark: SparkSession, name: str, df: DataFrame, condition: str) -> None:
        """Idempotent write of one slice (a batch, a business date): a rerun replaces, never duplicates."""
        self.ensure(spark, name, df.schema)
        (df.write.format("delta").mode("overwrite").option("replaceWhere", condition)
         .save(self.location(name)))

    def describe(self, spark: SparkSession, name: str) -> dict:
        """Layer, location, Delta version, rows and last update, for `crm tables`."""
        row = {"table": name, "layer": name.split(".")[0], "location": self.location(name),
               "version": None, "rows": None, "updated": None}
        if not self.exists(spark, name):
            return row
        last = self.delta(spark, name).history(1).select("version", "timestamp").first()
        row.update(version=last["version"], updated=last["timestamp"],
                   rows=self.read(spark, name).count())
        return row


def _properties(spec: TableSpec, columns: set[str]) -> dict[str, str]:
    """The spec's table properties for a table with these columns: Delta refuses statistics columns the
    table lacks (a table written by an earlier release may lack some), so only those it has are named."""
    props = dict(spec.properties)
    stats = props.get(STATS_COLUMNS)
    if stats is not None:
        props[STATS_COLUMNS] = ",".join(c for c in stats.split(",") if c in columns)
        if not props[STATS_COLUMNS]:
            del props[STATS_COLUMNS]
    return props


def _comment_sql(comment: str | None) -> str:
    return "" if not comment else " COMMENT '" + comment.replace("\\", "\\\\").replace("'", "\\'") + "'"
