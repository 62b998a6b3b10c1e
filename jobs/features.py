"""`crm features`: the gold feature tables, kept up to date incrementally from silver.

gold.customer_daily folds in only what silver changed since the last run, read from the Delta change data
feed of silver.transactions and silver.ecommerce_orders. Each fold is one replace of the rows tagged with
its source and the silver version it reached, so the rows and the watermark commit together: a rerun after a
crash redoes exactly the unfinished fold, and history is never rescanned.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from features.arrival import known_from, versions_known_from
from features.changes import signed_changes
from features.daily import CUSTOMER_DAILY, KEY, collapse, customer_daily, customer_links
from features.history import known_on
from features.conditions import ConditionError
from features.profile import CUSTOMER_PROFILE, ProfileRules, ProfileSources, customer_profile
from features.profile.activity import SHORT_LOOKBACK as ACTIVITY_LOOKBACK
from features.profile.year_window import (ACTIVITY_365D, DAYS as YEAR_DAYS, STATE_COUNTS, carried_totals,
                                          year_totals)
from features.profile.service import LOOKBACK as SERVICE_LOOKBACK
from features.profile.supply_chain import LOOKBACK as SUPPLY_CHAIN_LOOKBACK, known_invoices, latest_invoices
from features.profile.wealth import NAV_MAX_AGE_DAYS
from features.profile.relationship import LOYALTY_STAGES, ORIENTATIONS, RELATIONSHIP, Rule, check_rules
from features.profile.value import ValueRules
from features.tags import CUSTOMER_TAGS, Tag, check_tags, customer_tags
from jobs.catalog import Catalog
from jobs.config import Settings
from jobs.errors import CrmError
from jobs.logs import Phases
from pipelines.contracts import contract

log = logging.getLogger(__name__)

DAILY = CUSTOMER_DAILY.name
PROFILE = CUSTOMER_PROFILE.name
TAGS = CUSTOMER_TAGS.name
YEAR = ACTIVITY_365D.name
# Which silver tables feed customer_daily, with the column that says when each record happened.
DAILY_SOURCES = {"transactions": "txn_ts", "ecommerce_orders": "order_ts"}


@dataclass
class Fold:
    source: str
    from_version: int | None   # first silver version read; None: nothing new
    to_version: int | None
    rows: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        if self.from_version is None:
            return f"{DAILY:<24} {self.source:<18} up to date (silver version {self.to_version})"
        return (f"{DAILY:<24} {self.source:<18} silver versions {self.from_version}..{self.to_version}: "
                f"{self.rows:,} daily rows")


def extract_span(spark: SparkSession, catalog: Catalog) -> dict[str, tuple[date, date]]:
    """Each source's first extract date ingested (its initial load) and its latest, from ops.ingest_log."""
    if not catalog.exists(spark, "ops.ingest_log"):
        return {}
    rows = (catalog.read(spark, "ops.ingest_log").where(F.col("status") == "SUCCEEDED")
            .select("source", F.explode("files").alias("f"))
            .groupBy("source").agg(F.min("f.extract_date").alias("first"), F.max("f.extract_date").alias("last"))
            .collect())
    return {r["source"]: (r["first"], r["last"]) for r in rows}


def update_customer_daily(spark: SparkSession, catalog: Catalog,
                          initial_load_at_event_time: bool = True) -> list[Fold]:
    """Folds every silver change not yet in gold.customer_daily into it; returns what each source added.

    When the table lacks a measure the code now defines, it is refolded from each source's first version:
    the earlier rows cannot be completed any other way.
    """
    if catalog.exists(spark, DAILY):
        have = set(catalog.read(spark, DAILY).columns)
        missing = [n for n in CUSTOMER_DAILY.column_names if n not in have]
        if missing:
            log.warning("features: %s lacks %s (new measures): refolding it from the silver change feeds",
                        DAILY, ", ".join(missing))
            catalog.delta(spark, DAILY).delete()
    done = _watermarks(spark, catalog)
    initial = ({source: first for source, (first, _) in extract_span(spark, catalog).items()}
               if initial_load_at_event_time else {})
    folds = []
    for source, happened in DAILY_SOURCES.items():
        name = f"silver.{source}"
        if not catalog.exists(spark, name):
            log.info("features: %s does not exist yet; customer_daily skips it", name)
            continue
        started = time.monotonic()
        latest = catalog.version(spark, name)
        start = done.get(source, -1) + 1
        if start > latest:
            folds.append(Fold(source, None, latest))
            continue
        feed = (spark.read.format("delta").option("readChangeFeed", "true")
                .option("startingVersion", start).option("endingVersion", latest).load(catalog.location(name)))
        changes = known_from(signed_changes(feed, list(contract(source).silver_key)), "known_date",
                             F.col(happened), initial.get(source))
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
        folds.append(Fold(source, start, latest, rows, time.monotonic() - started))
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


def snapshot_dates(start: date, end: date, cadence: str) -> list[date]:
    """The as-of dates a backfill builds: every date of the cadence in [start, end], and `end` itself."""
    out, d = [], start
    while d <= end:
        if cadence == "daily" or (cadence == "weekly" and d.weekday() == 6) or \
                (cadence == "month_end" and (d + timedelta(days=1)).day == 1):
            out.append(d)
        d += timedelta(days=1)
    if end not in out:
        out.append(end)
    return out


def latest_business_date(spark: SparkSession, catalog: Catalog) -> date | None:
    """The newest extract date loaded into silver: the natural as-of date of a nightly run."""
    span = extract_span(spark, catalog)   # the small ingest log, rather than a scan of silver
    loaded = [span[s][1] for s in ("transactions", "customers", "accounts") if s in span]
    if loaded:
        return max(loaded)
    latest = None
    for source in ("transactions", "customers", "accounts"):
        name = f"silver.{source}"
        if catalog.exists(spark, name):
            d = catalog.read(spark, name).agg(F.max("_extract_date")).first()[0]
            latest = d if latest is None or (d and d > latest) else latest
    return latest


def scoring_date(spark: SparkSession, catalog: Catalog, as_of: date | None) -> date:
    """`as_of`, or the latest business date loaded; CrmError when nothing is ingested yet."""
    as_of = as_of or latest_business_date(spark, catalog)
    if as_of is None:
        raise CrmError("nothing ingested yet; run `crm ingest` (or `crm demo`) first")
    return as_of


@dataclass
class ProfileBuild:
    as_of_dates: list[date]
    rows: int
    removed_dates: list[date]
    tags: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        span = (f"{self.as_of_dates[0]}" if len(self.as_of_dates) == 1
                else f"{len(self.as_of_dates)} as-of dates {self.as_of_dates[0]}..{self.as_of_dates[-1]}")
        removed = f"; {len(self.removed_dates)} old snapshots removed" if self.removed_dates else ""
        return f"{PROFILE:<24} {span}: {self.rows:,} rows, {self.tags:,} tags held{removed}"


PROFILE_INPUTS = ("silver.customers_versions", "silver.accounts_versions", "silver.products", "silver.interactions")


def profile_rules(settings: Settings) -> ProfileRules:
    f = settings.features
    v = f.value
    try:
        value = ValueRules(v.deposit_margin, v.loan_margin, v.investment_fee, v.card_interchange,
                           tuple((t.tier, t.min_value) for t in v.tiers))
    except ValueError as e:
        raise CrmError(f"features.value: {e}") from None
    return ProfileRules(
        value,
        tuple(Rule(r.rule, r.assigns, r.condition, r.explanation) for r in f.orientation),
        tuple(Rule(r.rule, r.assigns, r.condition, r.explanation) for r in f.loyalty))


def _read_or_empty(spark: SparkSession, catalog: Catalog, name: str) -> DataFrame:
    """A source a bank may not have (no wealth products, no supply-chain feed): an empty table stands in."""
    if catalog.exists(spark, name):
        return catalog.read(spark, name)
    source = name.split(".", 1)[1].removesuffix("_versions")
    c = contract(source)
    meta = ", _extract_date date, _source_file string"
    return spark.createDataFrame([], c.spark_ddl() + meta)


def previous_snapshot(spark: SparkSession, catalog: Catalog, before: date) -> tuple[DataFrame | None, date | None]:
    """The latest profile snapshot before `before` (the base its historical value is carried from)."""
    latest = catalog.latest_date(spark, PROFILE, "as_of_date", before=before)
    if latest is None:
        return None, None
    return catalog.read(spark, PROFILE).where(F.col("as_of_date") == F.lit(latest)), latest


class PointInTime:
    """Silver records as the bank knew them: from their delivery date, or (initial-load policy) from when they
    happened for the records of a source's first extract."""

    def __init__(self, spark: SparkSession, settings: Settings, catalog: Catalog):
        self.spark, self.catalog = spark, catalog
        self.span = extract_span(spark, catalog)
        self.initial = ({source: first for source, (first, _) in self.span.items()}
                        if settings.features.initial_load_known_at_event_time else {})

    def arrived(self, name: str, happened: str) -> DataFrame:
        """Table `name` with `_extract_date` the day each row became known (`happened`: its event column)."""
        source = name.split(".", 1)[1].removesuffix("_versions")
        return known_from(_read_or_empty(self.spark, self.catalog, name), "_extract_date", F.col(happened),
                          self.initial.get(source))

    def all_delivered(self, source: str, as_of_dates: list[date]) -> bool:
        """The nightly case: one as-of date, on or after the latest extract of `source` loaded, so the version
        of each record known then is silver's latest."""
        last = self.span.get(source, (None, None))[1]
        return len(as_of_dates) == 1 and last is not None and as_of_dates[0] >= last

    def known(self, source: str, as_of_dates: list[date], dates: DataFrame | None = None) -> DataFrame:
        """The version of each `source` record known on each as-of date, with an `as_of_date` column."""
        if self.all_delivered(source, as_of_dates):
            # the nightly case: every version was delivered by the as-of date, so the one known then is
            # silver's latest; reading silver spares ranking the whole version history
            known = self.catalog.read(self.spark, f"silver.{source}").withColumn("as_of_date", F.lit(as_of_dates[0]))
        else:
            if dates is None:
                dates = self.spark.createDataFrame([(d,) for d in as_of_dates], "as_of_date date")
            c = contract(source)
            versions = versions_known_from(_read_or_empty(self.spark, self.catalog, f"silver.{source}_versions"),
                                           list(c.silver_key), c.version_column, c.record_start,
                                           self.initial.get(source))
            known = known_on(versions, c, dates)
        return _open_until_closed(known, source)


# A closing is a change, made when the version saying so was: a version standing for its record back to the
# record's start (an initial bulk load carries only each record's latest version) tells us the record was
# still open before that version's own timestamp.
_CLOSING = {"customers": ("status", "CLOSED", "ACTIVE", "updated_at")}


def _open_until_closed(known: DataFrame, source: str) -> DataFrame:
    if source not in _CLOSING:
        return known
    column, closed, open_, stamp = _CLOSING[source]
    early = (F.col(column) == closed) & (F.col("as_of_date") < F.to_date(F.col(stamp)))
    return known.withColumn(column, F.when(early, F.lit(open_)).otherwise(F.col(column)))


def build_profiles(spark: SparkSession, settings: Settings, catalog: Catalog, as_of_dates: list[date],
                   folds: list[Fold] | None = None) -> ProfileBuild:
    """gold.customer_profile for every date given, in one pass; each date's snapshot is replaced whole.

    `folds`, the customer_daily folds just made, tell which silver versions customer_daily has reached;
    without them that is read from the table."""
    started = time.monotonic()
    phase = Phases(log, "features profile")
    for name in PROFILE_INPUTS:
        if not catalog.exists(spark, name):
            raise CrmError(f"customer_profile needs {name}; run `crm ingest` first")
    tags = _checked_definitions(spark, settings)  # a bad definition stops the run before anything is written
    as_of_dates = sorted(set(as_of_dates))
    dates = spark.createDataFrame([(d,) for d in as_of_dates], "as_of_date date")
    daily = catalog.read(spark, DAILY) if catalog.exists(spark, DAILY) else \
        spark.createDataFrame([], CUSTOMER_DAILY.ddl() + ", source string, source_version bigint")
    previous, previous_date = previous_snapshot(spark, catalog, as_of_dates[0])
    watermarks = {f.source: f.to_version for f in folds} if folds is not None else _watermarks(spark, catalog)
    year = _year_totals(spark, catalog, daily, as_of_dates, dates, previous_date, watermarks)
    phase("365-day totals")
    sources = profile_sources(spark, settings, catalog, as_of_dates, dates, daily, previous, previous_date,
                              year)
    try:
        profile = customer_profile(sources, profile_rules(settings))
    except ConditionError as e:
        raise CrmError(f"features: {e}") from None
    phase("inputs and plan")
    in_dates = ", ".join(f"DATE'{d}'" for d in as_of_dates)
    catalog.replace_where(spark, PROFILE, profile, f"as_of_date IN ({in_dates})")
    phase("profile write")
    written = catalog.read(spark, PROFILE).where(F.col("as_of_date").isin(as_of_dates))
    rows = written.count()
    catalog.replace_where(spark, TAGS, customer_tags(written, tags), f"as_of_date IN ({in_dates})")
    tagged = catalog.read(spark, TAGS).where(F.col("as_of_date").isin(as_of_dates)).count()
    phase("tags")
    removed = _apply_retention(spark, settings, catalog)
    phase("retention")
    return ProfileBuild(as_of_dates, rows, removed, tagged, time.monotonic() - started)


def profile_sources(spark: SparkSession, settings: Settings, catalog: Catalog, as_of_dates: list[date],
                    dates: DataFrame, daily: DataFrame, previous: DataFrame | None, previous_date: date | None,
                    year: DataFrame | None) -> ProfileSources:
    """What the profile of `as_of_dates` (sorted; `dates` as a DataFrame) reads, each input bounded to what
    those dates can see."""
    if previous_date is not None:
        # Only the 90 days of the distinct counterparties and what arrived since the previous snapshot (whose
        # historical value is carried) are read: literal bounds let Delta skip the older files, so a nightly
        # run does not grow with history.
        window_start = as_of_dates[0] - timedelta(days=ACTIVITY_LOOKBACK)
        daily = daily.where((F.col("activity_date") > F.lit(window_start))
                            | (F.col("known_date") > F.lit(previous_date)))
    pit = PointInTime(spark, settings, catalog)
    arrived = pit.arrived

    def since(days: int) -> Column:
        # the earliest day any as-of date looks back to: a literal bound lets Delta skip older files
        return F.lit(as_of_dates[0] - timedelta(days=days))

    def known(source: str) -> DataFrame:
        return pit.known(source, as_of_dates, dates)

    return ProfileSources(
        as_of_dates=dates,
        customers_known=known("customers"),
        accounts_known=known("accounts"),
        products=catalog.read(spark, "silver.products"),
        nav=arrived("silver.nav_prices", "nav_date").where(F.col("nav_date") >= since(NAV_MAX_AGE_DAYS)),
        daily=daily,
        interactions=arrived("silver.interactions", "interaction_ts")
        .where(F.to_date("interaction_ts") > since(SERVICE_LOOKBACK)),
        firms_known=known("firms"),
        invoices_known=latest_invoices(catalog.read(spark, "silver.invoices"), as_of_dates[0])
        if pit.all_delivered("invoices", as_of_dates) else
        known_invoices(arrived("silver.invoices_versions", "updated_at")
                       .where(F.col("issue_date") > since(SUPPLY_CHAIN_LOOKBACK)), dates),
        previous=previous, previous_date=previous_date, year=year)


def _checked_definitions(spark: SparkSession, settings: Settings) -> list[Tag]:
    """The configured tags, once they, the orientation rules and the loyalty rules are checked over the
    profile's columns (a rule over those it may use: all but the relationship ones it assigns)."""
    tags = [Tag(name, t.condition, t.owner, t.description) for name, t in settings.features.tags.items()]
    rules = profile_rules(settings)
    shape = spark.createDataFrame([], CUSTOMER_PROFILE.ddl())
    try:
        before_rules = shape.drop(*RELATIONSHIP.names)
        check_rules(before_rules, "orientation", list(rules.orientation), ORIENTATIONS)
        check_rules(before_rules, "loyalty", list(rules.loyalty), LOYALTY_STAGES)
        check_tags(shape, tags)
    except ConditionError as e:
        raise CrmError(f"features: {e}") from None
    return tags


def _year_totals(spark: SparkSession, catalog: Catalog, daily: DataFrame, as_of_dates: list[date],
                 dates: DataFrame, previous_date: date | None, watermarks: dict[str, int]) -> DataFrame:
    """gold.customer_activity_365d on the as-of dates, written and read back.

    A nightly build (one date, after a snapshot) carries the previous snapshot's totals forward, provided
    customer_daily has not since gained rows the bank knew of by then (a fold after that snapshot was built
    that restated its days); otherwise the totals are summed from the year of customer_daily. The totals are
    stamped with `watermarks`, the silver version each customer_daily source has been folded to."""
    carried = None
    if len(as_of_dates) == 1 and previous_date is not None and catalog.exists(spark, YEAR):
        before = catalog.read(spark, YEAR).where(F.col("as_of_date") == F.lit(previous_date))
        built = _built_from(before)
        if built is not None and not _restated(daily, built, previous_date):
            carried = carried_totals(daily, before.drop("daily_watermarks"), previous_date, as_of_dates[0])
    if carried is None:
        start = as_of_dates[0] - timedelta(days=YEAR_DAYS)
        carried = year_totals(daily.where(F.col("activity_date") > F.lit(start)), dates)
    in_dates = ", ".join(f"DATE'{d}'" for d in as_of_dates)
    stamped = carried.withColumn("daily_watermarks", F.create_map(
        *[x for source, v in sorted(watermarks.items()) for x in (F.lit(source), F.lit(v).cast("bigint"))])
        if watermarks else F.lit(None).cast("map<string,bigint>"))
    catalog.replace_where(spark, YEAR, stamped, f"as_of_date IN ({in_dates})")
    return catalog.read(spark, YEAR).where(F.col("as_of_date").isin(as_of_dates)).drop("daily_watermarks")


def _built_from(snapshot: DataFrame) -> dict[str, int] | None:
    """The fold versions a snapshot of the totals was built from; None when there is no snapshot or an earlier
    release built it (it lacks totals this one carries: a column it did not have, or one added since, null)."""
    if not set(STATE_COUNTS) <= set(snapshot.columns):
        return None
    built = snapshot.select("daily_watermarks", *STATE_COUNTS).limit(1).collect()
    if not built or None in tuple(built[0])[1:]:
        return None
    return built[0][0] or {}


def _restated(daily: DataFrame, built_from: dict[str, int], on: date) -> bool:
    """Whether customer_daily gained rows known by `on` in a fold after `built_from` (source -> version)."""
    newer = None
    for source in DAILY_SOURCES:
        fold = (F.col("source") == source) & (F.col("source_version") > F.lit(built_from.get(source, -1)))
        newer = fold if newer is None else newer | fold
    return daily.where(newer & (F.col("known_date") <= F.lit(on))).limit(1).count() > 0


def _apply_retention(spark: SparkSession, settings: Settings, catalog: Catalog) -> list[date]:
    """Daily snapshots are kept `daily_snapshot_days`; older ones only on the cadence, up to the retention."""
    f = settings.features
    kept = sorted(catalog.distinct_values(spark, PROFILE, "as_of_date"))
    if not kept:
        return []
    latest = max(kept)
    cadence = set(snapshot_dates(min(kept), latest, f.snapshot_cadence))
    drop = [d for d in kept if (latest - d).days > f.snapshot_retention_days
            or ((latest - d).days > f.daily_snapshot_days and d not in cadence)]
    if drop:
        for name in (PROFILE, TAGS, YEAR):
            if catalog.exists(spark, name):
                catalog.delta(spark, name).delete(F.col("as_of_date").isin(drop))
    return sorted(drop)


def run_features(spark: SparkSession, settings: Settings, *, as_of: date | None = None,
                 start: date | None = None, end: date | None = None) -> tuple[list[Fold], ProfileBuild | None]:
    """Folds silver changes into customer_daily, then builds the profile for `as_of` (default: the latest
    business date loaded) or, with `start`/`end`, for every snapshot date of the cadence in that range."""
    from jobs.tables import build_catalog

    catalog = build_catalog(settings)
    folds = update_customer_daily(spark, catalog, settings.features.initial_load_known_at_event_time)
    if start or end:
        if not (start and end) or start > end:
            raise CrmError("a backfill needs --from and --to, with --from on or before --to")
        dates = snapshot_dates(start, end, settings.features.snapshot_cadence)
    else:
        as_of = as_of or latest_business_date(spark, catalog)
        if as_of is None:
            log.info("features: nothing ingested yet; no profile built")
            return folds, None
        dates = [as_of]
    build = build_profiles(spark, settings, catalog, dates, folds)
    log.info("features %s", build.line())
    return folds, build
