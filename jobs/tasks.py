"""`crm tasks --date D`: serving.maintenance_tasks, every account manager's prioritised worklist for D.

Reads what the bank knew on D: the customer profile and tags of D (gold), the customers, accounts, products,
NAV prices and interactions known by then (silver), and, when they exist, the lifecycle scores, next best
offers, AML alerts and fraud scores (serving). Without those models the engine still runs: their task
families (retention, offers) and suppressions (AML, fraud) simply have nothing to work on, and the summary
says which inputs were absent. The rules are models.maintenance; this module only reads, calls and writes.
D's slice of the table is replaced, and earlier slices are only read, so a rerun of D gives the same rows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.profile.holdings import open_accounts
from jobs.aml import open_alerts_before
from jobs.catalog import Catalog
from jobs.config import Settings
from jobs.errors import CrmError
from jobs.features import PROFILE, TAGS, PointInTime, scoring_date
from jobs.logs import Phases
from jobs.tables import (AML_ALERTS, FRAUD_SCORES, LIFECYCLE_SCORES, MAINTENANCE_TASKS, NEXT_BEST_OFFER,
                         build_catalog)
from models.maintenance.after_sales import NAV_MAX_AGE_DAYS, after_sales
from models.maintenance.care import care
from models.maintenance.events import event_invitations
from models.maintenance.plan import (PLANNED, check_templates, expired, history_window, planned, prioritised,
                                     rules_version, task_rows)
from models.maintenance.retention import offer_conversations, retention_calls
from models.maintenance.service import service
from models.maintenance.wealth_checkup import wealth_checkup

log = logging.getLogger(__name__)
TABLE = MAINTENANCE_TASKS.name
CONTEXT = ("customer_id", "account_manager_id", "branch_id", "segment", "value_tier", "orientation",
           "marketing_consent")


@dataclass
class TasksRun:
    run_date: date
    profile_date: date
    rows: int
    by_status: dict[str, int]
    by_family: dict[str, int]               # planned tasks per family
    managers: int
    max_planned_per_manager: int
    absent: list[str] = field(default_factory=list)   # optional inputs not there (their families are empty)
    seconds: float = 0.0

    def line(self) -> str:
        status = ", ".join(f"{k.lower()} {v:,}" for k, v in sorted(self.by_status.items()))
        fam = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_family.items()))
        text = (f"{TABLE:<24} {self.run_date}: {self.rows:,} tasks ({status}); planned by family: {fam or 'none'}; "
                f"{self.managers:,} worklists, at most {self.max_planned_per_manager} tasks each")
        if self.absent:
            text += f"; without {', '.join(self.absent)}"
        return text + f", {self.seconds:.0f}s"


def _latest_on_or_before(spark: SparkSession, catalog: Catalog, name: str, column: str, as_of: date,
                         max_age_days: int) -> date | None:
    d = catalog.latest_date(spark, name, column, on_or_before=as_of)
    return d if d is not None and (as_of - d).days <= max_age_days else None


def _profile(spark: SparkSession, catalog: Catalog, as_of: date, cfg) -> tuple[date, DataFrame]:
    d = _latest_on_or_before(spark, catalog, PROFILE, "as_of_date", as_of, cfg.profile_max_age_days)
    if d is None:
        raise CrmError(f"no customer profile on or up to {cfg.profile_max_age_days} days before {as_of} "
                       f"(tasks.profile_max_age_days); run `crm features --date {as_of}` first")
    if d != as_of:
        log.warning("tasks for %s use the customer profile of %s (the latest within tasks.profile_max_age_days)",
                    as_of, d)
    p = catalog.read(spark, PROFILE).where((F.col("as_of_date") == F.lit(d)) & (F.col("relationship_status") == "ACTIVE"))
    return d, p


def _suppressions(spark: SparkSession, settings: Settings, catalog: Catalog, interactions: DataFrame,
                  as_of: date, absent: list[str]) -> DataFrame:
    """(customer_id, reason) of the customers no marketing task may reach on `as_of` (consent aside)."""
    s = settings.tasks.suppression
    raised = F.to_date("interaction_ts")
    complaints = interactions.where((F.col("interaction_type") == "COMPLAINT") & (
        (raised > F.lit(as_of - timedelta(s.complaint_quiet_days)))
        | F.col("resolved_ts").isNull() | (F.to_date("resolved_ts") > F.lit(as_of))))
    out = complaints.select("customer_id", F.lit("complaint quiet period").alias("reason"))
    alerts = open_alerts_before(spark, catalog, as_of + timedelta(1), settings.models.aml)   # open at the end of D
    if alerts is None:
        absent.append(AML_ALERTS.name)
    else:
        out = out.unionByName(alerts.select("customer_id", F.lit("open AML alert").alias("reason")))
    if catalog.exists(spark, FRAUD_SCORES.name):
        hold = catalog.read(spark, FRAUD_SCORES.name).where(
            (F.col("run_date") > F.lit(as_of - timedelta(s.fraud_hold_days))) & (F.col("run_date") <= F.lit(as_of))
            & (F.col("decision") == "ALERT"))
        out = out.unionByName(hold.select("customer_id", F.lit("fraud hold").alias("reason")))
    else:
        absent.append(FRAUD_SCORES.name)
    return out.distinct()


def _scores(spark: SparkSession, catalog: Catalog, name: str, as_of: date, cfg, absent: list[str]) -> DataFrame | None:
    d = _latest_on_or_before(spark, catalog, name, "run_date", as_of, cfg.retention.scores_max_age_days)
    if d is None:
        absent.append(name)
        return None
    return catalog.read(spark, name).where(F.col("run_date") == F.lit(d))


def candidate_tasks(spark: SparkSession, settings: Settings, catalog: Catalog, as_of: date, profile: DataFrame,
                    profile_date: date, absent: list[str]) -> tuple[DataFrame, DataFrame]:
    """Every rule's candidates for `as_of`, and the interactions known by then (suppression reads them too)."""
    cfg = settings.tasks
    pit = PointInTime(spark, settings, catalog)
    customers = pit.known("customers", [as_of]).where(F.col("status") == "ACTIVE")
    products = catalog.read(spark, "silver.products").select("product_id", "product_name", "category", "risk_level")
    accounts = open_accounts(pit.known("accounts", [as_of])).join(products, "product_id")
    # the rules look back at most NAV_MAX_AGE_DAYS before the longest of their own NAV windows
    a = cfg.after_sales
    nav_from = as_of - timedelta(NAV_MAX_AGE_DAYS + max(a.nav_move_days, a.dividend_lookback_days))
    nav = pit.arrived("silver.nav_prices", "nav_date").where(
        (F.col("_extract_date") <= F.lit(as_of)) & F.col("nav_date").between(nav_from, as_of))
    # a complaint can stay open for years: the service rules and suppression read the whole history, once
    interactions = pit.arrived("silver.interactions", "interaction_ts").where(
        (F.col("_extract_date") <= F.lit(as_of)) & (F.to_date("interaction_ts") <= F.lit(as_of))).persist()
    tags = catalog.read(spark, TAGS).where(F.col("as_of_date") == F.lit(profile_date))

    out = after_sales(accounts, nav, as_of, cfg.after_sales)
    out = out.unionByName(wealth_checkup(profile, as_of, cfg.wealth_checkup))
    out = out.unionByName(care(customers, profile, as_of, cfg.care))
    out = out.unionByName(event_invitations(profile, tags, as_of, cfg.events))
    out = out.unionByName(service(interactions, as_of, cfg.service))
    lifecycle = _scores(spark, catalog, LIFECYCLE_SCORES.name, as_of, cfg, absent)
    if lifecycle is not None:
        out = out.unionByName(retention_calls(lifecycle, as_of, cfg.retention))
    offers = _scores(spark, catalog, NEXT_BEST_OFFER.name, as_of, cfg, absent)
    if offers is not None:
        out = out.unionByName(offer_conversations(offers, as_of, cfg.retention))
    return out, interactions


def build_tasks(spark: SparkSession, settings: Settings, as_of: date | None = None,
                catalog: Catalog | None = None) -> TasksRun:
    started = time.monotonic()
    catalog = catalog or build_catalog(settings)
    as_of = scoring_date(spark, catalog, as_of)
    cfg = settings.tasks
    phase = Phases(log, f"tasks {as_of}")
    absent: list[str] = []
    profile_date, profile = _profile(spark, catalog, as_of, cfg)
    profile = profile.persist()
    cands, interactions = candidate_tasks(spark, settings, catalog, as_of, profile, profile_date, absent)
    cands = cands.localCheckpoint()
    keys = cands.select("task_type", F.explode(F.map_keys("facts")).alias("k")).distinct().collect()
    facts: dict[str, set[str]] = {}
    for r in keys:
        facts.setdefault(r["task_type"], set()).add(r["k"])
    check_templates(cfg.types, facts)
    phase("candidates")

    start, end = history_window(as_of, cfg)
    history = None
    if catalog.exists(spark, TABLE):
        history = catalog.read(spark, TABLE).where(F.col("run_date").between(F.lit(start), F.lit(end))).persist()
    suppressed = _suppressions(spark, settings, catalog, interactions, as_of, absent)
    customers = profile.select(*CONTEXT)
    plan = planned(prioritised(cands, customers, history, as_of, cfg), suppressed, history, as_of, cfg)
    rows = task_rows(plan, as_of, cfg, rules_version(cfg))
    gone = expired(history, rows, as_of)
    if gone is not None:
        rows = rows.unionByName(gone.select(*rows.columns))
    rows = rows.withColumn("planned_at", F.current_timestamp())
    catalog.replace_where(spark, TABLE, rows, f"run_date = DATE'{as_of}'")
    phase("plan and write")

    # one small aggregate of the written slice (a row per manager, status and family) answers the summary
    counts = (catalog.read(spark, TABLE).where(F.col("run_date") == F.lit(as_of))
              .groupBy("manager_id", "status", "family").count().collect())
    by_status: dict[str, int] = {}
    by_family: dict[str, int] = {}
    per_manager: dict[str, int] = {}
    for r in counts:
        by_status[r["status"]] = by_status.get(r["status"], 0) + r["count"]
        if r["status"] == PLANNED:
            by_family[r["family"]] = by_family.get(r["family"], 0) + r["count"]
            per_manager[r["manager_id"]] = per_manager.get(r["manager_id"], 0) + r["count"]
    for df in (profile, interactions, history):
        if df is not None:
            df.unpersist()
    run = TasksRun(as_of, profile_date, sum(by_status.values()), by_status, by_family, len(per_manager),
                   max(per_manager.values(), default=0), absent, time.monotonic() - started)
    log.info(run.line())
    return run
