"""`crm ingest`: landing -> bronze -> silver for every source, in foreign-key order.

Per source, one pass takes every pending extract up to the business date: batch-level checks on the files,
bronze append (idempotent per batch), row rules with quarantine, pseudonymisation, de-duplication, a Great
Expectations suite, one MERGE into silver, and a reconciled row in ops.ingest_log.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StringType, StructField, StructType

from jobs.catalog import Catalog
from jobs.config import Settings
from jobs.errors import BatchFailed, CrmError
from jobs.hadoop_fs import delete
from jobs.landing import (
    LandingFile, csv_header, fingerprints, json_keys_by_file, list_files, parquet_columns, read_csv,
    read_json_lines, read_parquet,
)
from jobs.logs import Phases
from jobs.privacy import pseudonymisation_key
from jobs.spark import CRITICAL_POOL, materialise, release
from jobs.tables import build_catalog
from pipelines.contracts import SourceContract, contract, dependency_order
from pipelines.ingest.batch_checks import (
    BatchProblem, file_problems, row_count_problems, schema_problems, share_problem,
)
from pipelines.ingest.dedup import (first_known_versions, newer_than, ranked_versions, record_hash, repeated_keys,
                                   split_repeated, version_order)
from pipelines.ingest.pseudonymise import pseudonymise
from pipelines.ingest.rules import (ParseOptions, apply_row_rules, violation_detail,
                                   with_known_parents)
from pipelines.validation import expectation_suite, validate

log = logging.getLogger(__name__)

# ops.quarantine and ops.ingest_log are shared by concurrent loads: their writes take turns.
_OPS_WRITE = threading.Lock()
SILVER_METADATA = ["_extract_date", "_source_file", "_batch_id", "_ingested_at", "_record_hash"]


@dataclass
class SourceResult:
    source: str
    status: str
    batch_id: str | None = None
    files: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rows_received: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    expectations: str | None = None
    bronze_version: int | None = None
    silver_version: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def reconciled(self) -> bool:
        return self.rows_received == self.rows_accepted + self.rows_quarantined + self.rows_duplicate

    @property
    def seconds(self) -> float:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return 0.0

    def line(self) -> str:
        if self.status == "SUCCEEDED":
            return (f"{self.source:<20} {len(self.files):>4} files  received {self.rows_received:>10,}  "
                    f"accepted {self.rows_accepted:>10,}  quarantined {self.rows_quarantined:>7,}  "
                    f"duplicates {self.rows_duplicate:>7,}  ({self.seconds:.1f}s)")
        if self.status == "NOTHING_TO_DO":
            return f"{self.source:<20} no new extracts"
        return f"{self.source:<20} {self.status}: {'; '.join(self.problems)}"


def ingest(spark: SparkSession, settings: Settings, *, as_of: date | None = None, sources: list[str] | None = None,
           path: str | None = None, run_id: str | None = None) -> list[SourceResult]:
    """Ingests every source (or those named). Raises BatchFailed listing any failed source.

    A load is two tasks: *landing* (file checks and the bronze append), which needs nothing else, and
    *refining* (rules, quarantine, suite, silver MERGE), which starts once the parents the source references
    (among those being loaded) have their silver. Up to `ingest.parallel_sources` tasks run at the same
    time, as concurrent jobs on the one Spark session, each in its own fair-scheduler pool; the next task is
    the ready one with the most landing bytes on its longest chain of dependants, so the chain that ends
    the run (customers, accounts, transactions, fraud labels) starts first and the big bronze writes overlap
    the small sources' refining. A source whose parent failed is BLOCKED, not refined. Results come back in
    dependency order.
    """
    run_id = run_id or uuid.uuid4().hex[:12]
    catalog = build_catalog(settings)
    key = pseudonymisation_key(settings)
    names = dependency_order(sources) if sources else dependency_order()
    history = LoadHistory.read(spark, catalog)
    results: dict[str, SourceResult] = {}
    started: dict[str, datetime] = {}
    listed: dict[str, list[LandingFile]] = {}

    def finish(res: SourceResult) -> SourceResult:
        res.started_at, res.finished_at = started[res.source], _now()
        if res.status != "NOTHING_TO_DO":
            _log_result(spark, catalog, run_id, res)
        log.info("ingest %s", res.line())
        return res

    for name in names:
        try:
            listed[name] = _pending_listing(spark, settings, contract(name), as_of, path)
        except CrmError as e:
            started[name] = _now()
            results[name] = finish(SourceResult(name, "FAILED", problems=[str(e)]))
    weight = _chain_bytes(names, {n: sum(f.size for f in files) for n, files in listed.items()})
    critical = _critical_path(names, weight)
    to_land = [n for n in names if n in listed]
    landed: dict[str, _Landed] = {}

    def task(stage: str, name: str, batch: _Landed | None) -> SourceResult | _Landed:
        # Each source's jobs share the cores fairly with the other running sources' (under spark.scheduler.mode
        # FAIR); a small source is not queued behind every task of a big one. The tasks of the sources on the
        # critical path share one pool, weighted (`ingest.critical_path_weight`) so that the others do not
        # starve it (their landing too: the child's bronze must be in by the time its parents' silver is).
        pool = CRITICAL_POOL if name in critical else f"ingest-{name}"
        spark.sparkContext.setLocalProperty("spark.scheduler.pool", pool)
        c = contract(name)
        try:
            if stage == "land":
                return _land(spark, settings, catalog, c, history, listed[name], as_of=as_of)
            return _refine(spark, settings, catalog, c, key, history, batch)
        except BatchFailed as e:
            return SourceResult(name, "FAILED", batch_id=e.batch_id, files=e.files,
                                problems=[str(p) for p in e.problems])
        except CrmError as e:
            return SourceResult(name, "FAILED", problems=[str(e)])
        finally:
            spark.sparkContext.setLocalProperty("spark.scheduler.pool", None)

    def failed() -> set[str]:
        return {n for n, r in results.items() if r.status in ("FAILED", "BLOCKED")}

    def ready() -> list[tuple[str, str]]:
        out = [("land", n) for n in to_land]
        for n in landed:
            parents = contract(n).parents & set(names)
            if parents <= set(results):
                out.append(("refine", n))
        return sorted(out, key=lambda t: (-weight[t[1]], t[0] != "refine", names.index(t[1])))

    running: dict = {}
    with ThreadPoolExecutor(max_workers=settings.ingest.parallel_sources, thread_name_prefix="ingest") as pool:
        while to_land or landed or running:
            for stage, name in ready():
                if len(running) >= settings.ingest.parallel_sources:
                    break
                blocked = sorted(contract(name).parents & failed())
                if blocked:  # before its landing or its refining: nothing more is loaded for it
                    if stage == "land":
                        to_land.remove(name)
                    else:
                        landed.pop(name)
                    started.setdefault(name, _now())
                    results[name] = finish(SourceResult(name, "BLOCKED",
                                                        problems=[f"parent source {', '.join(blocked)} failed"]))
                    continue
                batch = None
                if stage == "land":
                    to_land.remove(name)
                    started[name] = _now()
                else:
                    batch = landed.pop(name)
                running[pool.submit(task, stage, name, batch)] = name
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                out = future.result()  # anything but a batch failure is a bug: it stops the run
                if isinstance(out, _Landed):
                    landed[name] = out
                else:
                    results[name] = finish(out)
    ordered = [results[n] for n in names]
    if failed():
        problems = [f"{r.source}: {'; '.join(r.problems)}" for r in ordered if r.status == "FAILED"]
        blocked = [r.source for r in ordered if r.status == "BLOCKED"]
        msg = " | ".join(problems) + (f" | blocked: {', '.join(blocked)}" if blocked else "")
        raise BatchFailed("ingest", [msg], results=ordered)
    return ordered


def _children(names: list[str], parent: str) -> list[str]:
    """The sources among `names` that reference `parent`."""
    return [m for m in names if parent in contract(m).parents]


def _chain_bytes(names: list[str], size: dict[str, int]) -> dict[str, int]:
    """Per source, its landing bytes plus the most bytes on any chain of sources that reference it."""
    out: dict[str, int] = {}
    for n in reversed(names):  # children come after their parents
        out[n] = size.get(n, 0) + max((out[m] for m in _children(names, n)), default=0)
    return out


def _critical_path(names: list[str], weight: dict[str, int]) -> set[str]:
    """The chain of sources with the most landing bytes (`_chain_bytes`), parent to child: the loads that each
    wait for the one before, and so set the length of the run."""
    path: set[str] = set()
    candidates = [n for n in names if not (contract(n).parents & set(names))]
    while candidates:
        best = max(candidates, key=lambda n: (weight[n], -names.index(n)))
        if weight[best] == 0:
            break
        path.add(best)
        candidates = _children(names, best)
    return path


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def source_root(settings: Settings, source: str, path: str | None) -> str:
    """Where a source's extracts are: <landing>/<source>, or <path>/<source> for a folder given by --path."""
    root = settings.path(path) if path is not None else settings.path(settings.lake.landing)
    return root.rstrip("/") + "/" + source


def _fail(problems: list[BatchProblem], batch_id: str | None = None, files: list[dict] | None = None) -> BatchFailed:
    return BatchFailed("batch", problems, batch_id=batch_id, files=files)


@dataclass
class LoadHistory:
    """What earlier successful loads took in, per source: file checksums and rows per extract date.

    Read once per run from ops.ingest_log (one small row per load), not once per source.
    """

    checksums: dict[str, set[str]] = field(default_factory=dict)
    rows_by_date: dict[str, dict[date, int]] = field(default_factory=dict)

    @classmethod
    def read(cls, spark: SparkSession, catalog: Catalog) -> "LoadHistory":
        h = cls()
        if not catalog.exists(spark, "ops.ingest_log"):
            return h
        files = (catalog.read(spark, "ops.ingest_log").where(F.col("status") == "SUCCEEDED")
                 .select("source", F.explode("files").alias("f"))
                 .select("source", "f.sha256", "f.extract_date", "f.rows").collect())
        for r in files:
            h.checksums.setdefault(r["source"], set()).add(r["sha256"])
            by_date = h.rows_by_date.setdefault(r["source"], {})
            by_date[r["extract_date"]] = by_date.get(r["extract_date"], 0) + r["rows"]
        return h

    def daily(self, source: str) -> tuple[list[int], date | None]:
        """Rows per earlier extract date after the first (oldest first), and the first date (the bulk)."""
        by_date = self.rows_by_date.get(source, {})
        if not by_date:
            return [], None
        dates = sorted(by_date)
        return [by_date[d] for d in dates[1:]], dates[0]


def _read_raw(spark: SparkSession, settings: Settings, c: SourceContract, fmt: str, files: list[LandingFile],
              problems: list[BatchProblem]) -> DataFrame | None:
    paths = [f.path for f in files]
    if fmt == "csv":
        groups: dict[tuple, list[str]] = {}
        for p in paths:
            header = csv_header(spark, settings, p)
            problems += schema_problems(c, p, header)
            groups.setdefault(tuple(header), []).append(p)
        if problems:
            return None
        parts = [read_csv(spark, settings, c, ps, list(h)) for h, ps in groups.items()]
        raw = parts[0]
        for part in parts[1:]:
            raw = raw.unionByName(part)
        return raw.withColumn("_raw_record", F.lit(None).cast("string"))
    if fmt == "json":
        for p, keys in _by_file(json_keys_by_file(spark, paths), paths).items():
            problems += schema_problems(c, p, keys, keys_seen_only=True)
        if problems:
            return None
        return read_json_lines(spark, c, paths)
    for p in paths:
        try:
            cols = parquet_columns(spark, p)
        except Exception as e:  # an unreadable footer is a broken delivery, not a crash
            problems.append(BatchProblem("unreadable_file", p, str(e).splitlines()[0][:200]))
            continue
        problems += schema_problems(c, p, cols)
    if problems:
        return None
    return read_parquet(spark, c, paths).withColumn("_raw_record", F.lit(None).cast("string"))


def _by_file(found: dict[str, list[str]], paths: list[str]) -> dict[str, list[str]]:
    """Facts Spark reports per file URI, keyed by our listing's URIs (an empty file reports nothing)."""
    return {p: found.get(p, found.get(p.replace("file:/", "file:///", 1), [])) for p in paths}


def _parent_keys(spark: SparkSession, catalog: Catalog, c: SourceContract, batch: DataFrame,
                 max_keys: int) -> dict[str, DataFrame]:
    """The known parent keys of each foreign key, as one-column DataFrames (`key`).

    A parent with more rows than `max_keys` (e.g. fraud labels on transactions) contributes only the keys the
    batch references: the batch's distinct values are joined into a scan of the parent's key column, instead
    of de-duplicating every key the parent holds.
    """
    keys = {}
    for col in c.foreign_keys:
        parent, parent_col = col.references.split(".")
        name = f"silver.{parent}"
        if not catalog.exists(spark, name):
            keys[col.references] = spark.createDataFrame([], "key string")
            continue
        known = catalog.read(spark, name).select(F.col(parent_col).alias("key"))
        if known.count() > max_keys:  # answered from the Delta log's file statistics
            wanted = batch.select(F.col(col.name).alias("key")).where(F.col("key").isNotNull()).distinct()
            known = known.join(wanted, "key", "left_semi")
        keys[col.references] = known.distinct()
    return keys


def _pending_listing(spark: SparkSession, settings: Settings, c: SourceContract, as_of: date | None,
                     path: str | None) -> list[LandingFile]:
    """The source's extract files up to the business date (already ingested ones are told apart later, by
    checksum)."""
    fmt = settings.sources.formats.get(c.name, c.format)
    root = source_root(settings, c.name, path)
    return [f for f in list_files(spark, root, fmt, default_date=as_of) if as_of is None or f.extract_date <= as_of]


@dataclass
class _Landed:
    """A batch in bronze, waiting for its parents' silver to be refined."""

    batch_id: str
    file_rows: list[dict]
    ingested_at: datetime
    bronze_version: int | None
    received: DataFrame
    phase: Phases


def _land(spark: SparkSession, settings: Settings, catalog: Catalog, c: SourceContract, history: LoadHistory,
          files: list[LandingFile], *, as_of: date | None) -> _Landed | SourceResult:
    """File checks and the bronze append of every pending file (NOTHING_TO_DO when there is none)."""
    v = settings.validation
    phase = Phases(log, f"ingest {c.name}")
    fmt = settings.sources.formats.get(c.name, c.format)
    if not files:
        return SourceResult(c.name, "NOTHING_TO_DO")
    facts = fingerprints(spark, files)
    done = history.checksums.get(c.name, set())
    phase("listing and fingerprints")
    pending, seen = [], set()
    for f in files:
        sha = facts[f.path]["sha256"]
        if sha in done or sha in seen:
            log.info("ingest %s: skipping %s (already ingested)", c.name, f.path)
            continue
        seen.add(sha)
        pending.append(f)
    if not pending:
        return SourceResult(c.name, "NOTHING_TO_DO")
    batch_id = hashlib.sha256((c.name + "|" + "|".join(sorted(seen))).encode()).hexdigest()[:20]
    file_rows = [{"path": f.path, "extract_date": f.extract_date, "sha256": facts[f.path]["sha256"],
                  "bytes": f.size, "rows": 0} for f in pending]
    log.info("ingest %s: %d pending extract files (%s to %s), batch %s", c.name, len(pending),
             pending[0].extract_date, pending[-1].extract_date, batch_id)

    problems: list[BatchProblem] = []
    for f in pending:
        newline = facts[f.path]["ends_with_newline"] if fmt in ("csv", "json") else None
        problems += file_problems(f.path, f.size, newline, None, min_rows=v.min_rows_per_file,
                                  require_trailing_newline=v.require_trailing_newline)
    if problems:
        raise _fail(problems, batch_id, file_rows)
    raw = _read_raw(spark, settings, c, fmt, pending, problems)
    if raw is None:
        raise _fail(problems, batch_id, file_rows)

    # Bronze: as received, plus where and when it came from. Replacing the batch makes a rerun idempotent.
    ingested_at = _now()
    file_facts = spark.createDataFrame(
        [(f.path, f.extract_date, facts[f.path]["sha256"]) for f in pending],
        StructType([StructField("_source_file", StringType()), StructField("_extract_date", DateType()),
                    StructField("_file_checksum", StringType())]))
    bronze = (raw.join(F.broadcast(file_facts), "_source_file", "left")
              .withColumn("_batch_id", F.lit(batch_id)).withColumn("_ingested_at", F.lit(ingested_at)))
    bronze = bronze.select(*c.column_names, "_malformed", "_raw_record", "_extract_date", "_source_file",
                           "_file_checksum", "_batch_id", "_ingested_at")
    bronze_name = f"bronze.{c.name}"
    catalog.replace_where(spark, bronze_name, bronze, f"_batch_id = '{batch_id}'")
    bronze_version = catalog.version(spark, bronze_name)
    # every later step reads this very version: the batch cannot change under the load
    received_df = catalog.read(spark, bronze_name, bronze_version).where(F.col("_batch_id") == batch_id)
    phase("schema checks and bronze write")
    return _Landed(batch_id, file_rows, ingested_at, bronze_version, received_df, phase)


def _refine(spark: SparkSession, settings: Settings, catalog: Catalog, c: SourceContract, key: bytes,
            history: LoadHistory, landed: _Landed) -> SourceResult:
    """Bronze batch -> silver, once the parents' silver is in: see `_publish`."""
    v = settings.validation
    if c.keeps_versions:
        _seed_versions(spark, catalog, c)
    received_df = landed.received
    opts = ParseOptions(settings.sources.csv.timestamp_format, settings.sources.csv.date_format,
                        v.future_date_tolerance_days)
    # Parent key sets are computed once (a Delta scan under a join costs several times a plain one).
    parents = {ref: materialise(keys) for ref, keys in
               _parent_keys(spark, catalog, c, received_df, settings.ingest.broadcast_max_keys).items()}
    too_big = frozenset(ref for ref, keys in parents.items() if keys.count() > settings.ingest.broadcast_max_keys)

    def check(rows: DataFrame) -> DataFrame:
        checked = apply_row_rules(with_known_parents(rows, c, parents, too_big), c, opts)
        return checked.withColumn("_rule", F.get("_violations", 0))

    # Nothing as large as the batch is kept in memory: the rules run once, on the way from bronze to a staged
    # Parquet copy (a columnar write), which costs less than holding the checked batch in the executors' memory.
    try:
        return _publish(spark, settings, catalog, c, key, received_df, check, history,
                        batch_id=landed.batch_id, file_rows=landed.file_rows, ingested_at=landed.ingested_at,
                        bronze_version=landed.bronze_version, phase=landed.phase)
    finally:
        for keys in parents.values():
            release(keys)


def _publish(spark: SparkSession, settings: Settings, catalog: Catalog, c: SourceContract, key: bytes,
             received: DataFrame, check, load_history: LoadHistory, *, batch_id: str,
             file_rows: list[dict], ingested_at: datetime, bronze_version: int | None, phase: Phases) -> SourceResult:
    """Stages the checked batch once, then batch checks, quarantine, silver MERGE and reconciliation from it.

    `received` is the batch as bronze holds it; `check` types it and adds the rule verdicts.
    """
    silver_cols = [col.silver_name for col in c.columns]

    # One pass over the bronze batch types every row, evaluates the rules, pseudonymises and fingerprints it, and
    # stages the result as Parquet, verdicts and all: the counts, the batch checks, the quarantine, the suite, the
    # MERGE and the versions then read the columns they need from it instead of each re-running the rules over
    # bronze. A rejected row keeps its record as received (`_raw_record`) and is never a version of its key.
    # Nothing else joins in that pass: one more join pushes its generated code over the size Spark compiles as
    # one stage, and the rules then run expression by expression, at twice the cost (M-tier transactions: 63 s
    # against 35 s). `_row_id` names each staged row, so that the repeated keys, ranked afterwards from the
    # staged copy, can name the older versions to leave out.
    every_row = (pseudonymise(check(received), c, key)
                 .withColumn("_record_hash", F.when(F.col("_rule").isNull(), record_hash(silver_cols)))
                 .withColumn("_row_id", F.monotonically_increasing_id()))
    every_row = every_row.select(*silver_cols, *SILVER_METADATA, "_row_id", "_rule", "_violations", "_raw_record")
    staging = f"{catalog.location('ops.ingest_staging').rstrip('/')}/{c.name}"
    older = None
    try:
        every_row.write.mode("overwrite").parquet(staging)
        staged = spark.read.parquet(staging)
        accepted = staged.where(F.col("_rule").isNull())
        phase("row rules, pseudonymise and stage")
        older = _older_versions(accepted, c, settings.ingest.broadcast_max_keys)
        duplicates = older.count()
        phase("de-duplicate")
        received_n, quarantined = _check_batch(settings, c, staged, load_history, batch_id, file_rows)
        phase("batch checks")

        # Quarantine: every rejected row with its first rule, all its rules and the record as received.
        quarantined_written = 0
        if quarantined:
            with _OPS_WRITE:
                catalog.replace_where(spark, "ops.quarantine",
                                      quarantine_rows(staged.where(F.col("_rule").isNotNull()), c, batch_id,
                                                      ingested_at),
                                      f"source = '{c.name}' AND batch_id = '{batch_id}'")
            quarantined_written = (catalog.read(spark, "ops.quarantine")
                                   .where((F.col("source") == c.name) & (F.col("batch_id") == batch_id)).count())
            phase("quarantine write")

        latest = accepted if duplicates == 0 else accepted.join(
            older if duplicates > settings.ingest.broadcast_max_keys else F.broadcast(older), "_row_id", "left_anti")
        final = latest.select(*silver_cols, *SILVER_METADATA)
        expectations = None
        if settings.validation.run_great_expectations:
            result = validate(final, expectation_suite(c, SILVER_METADATA))
            expectations = result.summary()
            if not result.success:
                raise _fail([BatchProblem("expectations_failed", None, result.summary())], batch_id, file_rows)
            phase("great expectations")
        inserted, updated, merged_rows = _merge_silver(spark, catalog, c, final)
        phase("silver merge")
        if c.keeps_versions:
            _merge_versions(spark, catalog, c,
                            first_known_versions(accepted.select(*silver_cols, *SILVER_METADATA), c.silver_key))
            phase("versions merge")
    finally:
        if older is not None:
            release(older)
        delete(spark, staging)

    res = SourceResult(
        c.name, "SUCCEEDED", batch_id=batch_id, files=file_rows, rows_received=received_n,
        rows_accepted=merged_rows, rows_quarantined=quarantined_written, rows_duplicate=duplicates,
        rows_inserted=inserted, rows_updated=updated, expectations=expectations,
        bronze_version=bronze_version, silver_version=catalog.version(spark, f"silver.{c.name}"),
    )
    if not res.reconciled:
        raise CrmError(f"{c.name}: reconciliation failed for batch {batch_id}: received {received_n} != accepted "
                       f"{merged_rows} + quarantined {quarantined_written} + duplicates {duplicates}")
    return res


def _older_versions(accepted: DataFrame, c: SourceContract, max_keys: int) -> DataFrame:
    """The `_row_id`s of the accepted rows that a later version of their key supersedes in this batch (the
    duplicates: counted, kept in bronze, not published). Only keys that arrive more than once are ranked: their
    rows are picked out by a broadcast of those keys, so the batch is not shuffled as a whole unless more than
    `max_keys` keys repeat. Kept on the executors (`materialise`): release it when done."""
    key_cols = list(c.silver_key)
    repeated = materialise(repeated_keys(accepted.select(*key_cols), key_cols))
    try:
        n = repeated.count()
        if n == 0:
            return accepted.select("_row_id").limit(0)
        contenders = accepted if n > max_keys else split_repeated(accepted, key_cols, repeated)[1]
        ranked = ranked_versions(contenders.select(*key_cols, *version_order(c), "_record_hash", "_row_id"), c,
                                 key_cols)
        return materialise(ranked.where(F.col("_rank") > 1).select("_row_id"))
    finally:
        release(repeated)


def _check_batch(settings: Settings, c: SourceContract, staged: DataFrame, load_history: LoadHistory,
                 batch_id: str, file_rows: list[dict]) -> tuple[int, int]:
    """Rows received and quarantined, counted per file and date from the staged verdicts, and the
    batch-level checks on those counts (empty files, a row-count collapse, broken foreign keys, too much
    quarantine). Fills each file's row count; raises BatchFailed, before silver is touched, on any problem."""
    v = settings.validation
    stats = (staged.groupBy("_extract_date", "_source_file", "_rule")
             .agg(F.count(F.lit(1)).alias("n"),
                  F.sum(F.array_join("_violations", ",").contains("unknown_reference:").cast("int")).alias("fk"))
             .collect())
    received_n = sum(r["n"] for r in stats)
    quarantined = sum(r["n"] for r in stats if r["_rule"] is not None)
    broken_fk = sum(r["fk"] for r in stats)
    problems: list[BatchProblem] = []
    rows_by_file: dict[str, int] = {}
    rows_by_date: dict[date, int] = {}
    for r in stats:
        rows_by_file[r["_source_file"]] = rows_by_file.get(r["_source_file"], 0) + r["n"]
        rows_by_date[r["_extract_date"]] = rows_by_date.get(r["_extract_date"], 0) + r["n"]
    for fr in file_rows:
        fr["rows"] = rows_by_file.get(fr["path"], 0)
        problems += file_problems(fr["path"], fr["bytes"], None, fr["rows"], min_rows=v.min_rows_per_file,
                                  require_trailing_newline=False)
    if c.delivery == "events":
        history, first_date = load_history.daily(c.name)
        daily = {d: n for d, n in rows_by_date.items() if first_date is not None or d != min(rows_by_date)}
        typical = sorted(history + list(daily.values()))
        if typical and typical[len(typical) // 2] >= v.row_count_min_typical:
            problems += row_count_problems(daily, history, ratio=v.row_count_collapse_ratio,
                                           window=v.row_count_history_batches)
    problems += share_problem("broken_foreign_keys", broken_fk, received_n, v.max_broken_foreign_key_share,
                              "reference unknown parents")
    problems += share_problem("quarantine_share", quarantined, received_n, v.max_quarantine_share,
                              "broke row rules")
    if problems:
        raise _fail(problems, batch_id, file_rows)
    return received_n, quarantined


def quarantine_rows(rejected: DataFrame, c: SourceContract, batch_id: str, at: datetime) -> DataFrame:
    """One row per rejected record (rows with a `_rule`): first rule and column, a readable detail, every rule,
    the raw record."""
    rejected = (rejected
                .withColumn("_raw_map", F.from_json("_raw_record", "map<string,string>"))
                .withColumn("_code", F.col("_rule")))
    column = F.split_part(F.col("_code"), F.lit(":"), F.lit(2))
    value = F.substring(F.try_element_at(F.col("_raw_map"), column), 1, 80)
    return rejected.select(
        F.lit(c.name).alias("source"), F.lit(batch_id).alias("batch_id"),
        F.col("_extract_date").alias("extract_date"), F.col("_source_file").alias("source_file"),
        F.concat_ws("|", *[F.coalesce(F.col("_raw_map")[k], F.lit("<null>")) for k in c.key]).alias("record_key"),
        F.split_part(F.col("_code"), F.lit(":"), F.lit(1)).alias("rule"),
        column.alias("column"),
        F.concat_ws(": ", F.expr(violation_detail(c)), value).alias("detail"),
        F.col("_violations").alias("violations"),
        F.col("_raw_record").alias("raw_record"),
        F.lit(at).alias("quarantined_at"),
    )


def _merge_silver(spark: SparkSession, catalog: Catalog, c: SourceContract, batch: DataFrame) -> tuple[int, int, int]:
    """MERGE the batch into silver by business key; only a strictly newer version replaces a row."""
    name = f"silver.{c.name}"
    if not catalog.exists(spark, name):
        catalog.append(spark, name, batch)
        metrics = catalog.delta(spark, name).history(1).select("operationMetrics").first()[0]
        n = int(metrics.get("numOutputRows", 0))
        return n, 0, n
    catalog.ensure(spark, name, batch.schema)  # new contract columns, and the spec's properties
    target = catalog.delta(spark, name)
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in c.silver_key)
    (target.alias("t").merge(batch.alias("s"), on)
     .whenMatchedUpdateAll(condition=newer_than(c, "s", "t"))
     .whenNotMatchedInsertAll()
     .execute())
    metrics = target.history(1).select("operationMetrics").first()[0]
    return (int(metrics.get("numTargetRowsInserted", 0)), int(metrics.get("numTargetRowsUpdated", 0)),
            int(metrics.get("numSourceRows", 0)))


def _seed_versions(spark: SparkSession, catalog: Catalog, c: SourceContract) -> None:
    """A lake whose silver table predates its versions table starts the versions from silver's latest ones.

    Earlier versions were not kept, so before a record's latest delivery it is simply unknown: point-in-time
    reads miss it there, but never see a version before it arrived.
    """
    name, silver = f"silver.{c.name}_versions", f"silver.{c.name}"
    if catalog.exists(spark, name) or not catalog.exists(spark, silver):
        return
    log.warning("ingest %s: no %s yet; starting it from the latest versions in %s", c.name, name, silver)
    catalog.append(spark, name, catalog.read(spark, silver))


def _merge_versions(spark: SparkSession, catalog: Catalog, c: SourceContract, versions: DataFrame) -> None:
    """Adds versions not seen before to silver.<source>_versions; a re-delivered version keeps its first date."""
    name = f"silver.{c.name}_versions"
    if not catalog.exists(spark, name):
        catalog.append(spark, name, versions)
        return
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in [*c.silver_key, "_record_hash"])
    catalog.delta(spark, name).alias("t").merge(versions.alias("s"), on).whenNotMatchedInsertAll().execute()


def _log_result(spark: SparkSession, catalog: Catalog, run_id: str, r: SourceResult) -> None:
    schema = ("run_id string, batch_id string, source string, status string, problems array<string>, "
              "files array<struct<path:string,extract_date:date,sha256:string,bytes:bigint,rows:bigint>>, "
              "rows_received bigint, rows_accepted bigint, rows_quarantined bigint, rows_duplicate bigint, "
              "rows_inserted bigint, rows_updated bigint, reconciled boolean, expectations string, "
              "bronze_version bigint, silver_version bigint, started_at timestamp, finished_at timestamp, "
              "seconds double")
    row = (run_id, r.batch_id, r.source, r.status, r.problems,
           [(f["path"], f["extract_date"], f["sha256"], f["bytes"], f["rows"]) for f in r.files],
           r.rows_received, r.rows_accepted, r.rows_quarantined, r.rows_duplicate, r.rows_inserted,
           r.rows_updated, r.reconciled if r.status == "SUCCEEDED" else None, r.expectations,
           r.bronze_version, r.silver_version, r.started_at, r.finished_at, r.seconds)
    with _OPS_WRITE:
        catalog.append(spark, "ops.ingest_log", spark.createDataFrame([row], schema))
