"""`crm maintain`: compacts the lake's tables, for a maintenance window outside the nightly loads.

Every nightly load appends a few small files to each table it touches, and silver's corrections leave deletion
vectors on the files that held the replaced rows; both make every later read slower. Delta's OPTIMIZE
bin-packs the files of each table (of each partition, for partitioned ones) smaller than
`catalog.compact_file_mb` into files of up to that size and, while at it, drops the rows deletion vectors mark
from any file where they are more than 5% of the rows.

OPTIMIZE commits with dataChange=false: the change feeds the gold folds read carry nothing for it, so no fold
or restatement redoes work. The files it replaces stay in storage, and time travel to earlier versions keeps
working. This command does not VACUUM: removing those files would also remove the change-feed versions that a
fold has not read yet.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pyspark.sql import SparkSession

from jobs.config import Settings
from jobs.errors import CrmError

log = logging.getLogger(__name__)


@dataclass
class Compaction:
    table: str
    files_before: int
    files_after: int
    bytes_before: int
    bytes_after: int
    files_removed: int
    seconds: float

    def line(self) -> str:
        return (f"{self.table:<32} files {self.files_before:>6,} -> {self.files_after:>6,}  "
                f"{self.bytes_before / 2**20:>10,.1f} MiB -> {self.bytes_after / 2**20:>10,.1f} MiB  "
                f"({self.files_removed:,} files rewritten, {self.seconds:.1f}s)")


def maintain(spark: SparkSession, settings: Settings, tables: list[str] | None = None) -> list[Compaction]:
    """OPTIMIZE each existing table of the catalog (or only `tables`), in the catalog's order."""
    from jobs.tables import build_catalog

    catalog = build_catalog(settings)
    unknown = [n for n in tables or [] if n not in catalog.names]
    if unknown:
        raise CrmError(f"unknown table {', '.join(unknown)}; `crm tables` lists the lake's tables")
    size = str(settings.catalog.compact_file_mb * 2**20)
    keys = ("spark.databricks.delta.optimize.maxFileSize", "spark.databricks.delta.optimize.minFileSize")
    saved = {k: spark.conf.get(k, None) for k in keys}
    for k in keys:
        spark.conf.set(k, size)
    try:
        return _compact(spark, catalog, tables or catalog.names)
    finally:
        for k, v in saved.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


def _compact(spark: SparkSession, catalog, names: list[str]) -> list[Compaction]:
    done = []
    for name in names:
        if not catalog.exists(spark, name):
            continue
        table = catalog.delta(spark, name)
        before = table.detail().select("numFiles", "sizeInBytes").first()
        started = time.monotonic()
        metrics = table.optimize().executeCompaction().select("metrics.numFilesRemoved").first()
        after = table.detail().select("numFiles", "sizeInBytes").first()
        done.append(Compaction(name, before[0], after[0], before[1], after[1], int(metrics[0] or 0),
                               time.monotonic() - started))
        log.info("maintain %s", done[-1].line())
    return done
