"""From candidate tasks to each manager's worklist: ids, priority, suppression, contact rules and capacity.

For a run date D (every step a DataFrame operation; the order is the bank's policy):
1. **Identity.** task_id = hash of (customer, task type, trigger): the same trigger is the same task on every day
   it fires. A task planned on an earlier day is done (the manager had it); it is not planned again.
2. **Priority** = value_weight[value tier] x urgency x benefit x mix[orientation][family] x ageing, with
   urgency = type urgency x (2 when due today or overdue, else 1 + max(0, 1 - days to due / urgency_horizon_days)),
   benefit = type benefit x (1 + log10(1 + amount_cny / benefit_amount_scale)),
   ageing = 1 + ageing_per_day x days since the task was first raised (a rolled-over task climbs).
   The orientation's mix is the bank's playbook: relationship-oriented customers get care first, value-oriented
   check-ups and after-sales tracking, service-oriented after-sales tracking and events.
3. **Suppression.** A marketing task (tasks.types.<T>.marketing) is SUPPRESSED, with the reason, for a customer
   without marketing consent, under an open AML alert, on fraud hold, or in the quiet period after a complaint.
4. **Contact frequency.** A task of the gap_families is DEFERRED while the customer had such a contact planned
   within contact_gap_days of their value tier (compliance tasks never wait).
5. **One contact a day.** Of a customer's remaining tasks only the first (compliance first, then priority) is a
   contact today; the others are DEFERRED.
6. **Capacity.** Each manager (or branch pool) gets the first manager_tasks_per_day (branch_pool_tasks_per_day)
   contacts, compliance first, then priority: PLANNED, with their position; the rest DEFERRED.
A DEFERRED task rolls over: it fires again the next day with its first-raised date, so it ages up. One that
was DEFERRED on the previous run and no longer fires (its window closed) is written once more as EXPIRED, so a
missed contact is on record rather than gone.
"""

from __future__ import annotations

import hashlib
import json
import string
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from models.maintenance.candidates import lookup

PLANNED, DEFERRED, SUPPRESSED, EXPIRED = "PLANNED", "DEFERRED", "SUPPRESSED", "EXPIRED"
BRANCH_POOL = "BRANCH_POOL"
TASK_COLUMNS = (
    "run_date", "task_id", "manager_id", "manager_kind", "branch_id", "customer_id", "family", "task_type",
    "status", "status_reason", "worklist_position", "due_date", "days_to_due", "priority", "value_weight",
    "urgency", "benefit", "mix_weight", "days_waiting", "first_raised_date", "suggested_channel", "message",
    "facts", "trigger_key", "amount_cny", "is_compliance", "is_marketing", "segment", "value_tier", "orientation",
    "model_name", "model_version")


class TemplateError(ValueError):
    """A message template names a fact its rule does not record."""


def rules_version(cfg) -> str:
    """A fingerprint of the tasks settings: the same rules and weights give the same version."""
    return "rules-" + hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]


def task_id() -> Column:
    return F.concat(F.lit("T-"), F.upper(F.substring(
        F.sha2(F.concat_ws("|", "customer_id", "task_type", "trigger_key"), 256), 1, 16)))


def placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def check_templates(types: dict, facts_by_type: dict[str, set[str]]) -> None:
    """Every placeholder of a type's template must be a fact its rule recorded (checked on the types that fired)."""
    for t, keys in facts_by_type.items():
        if t not in types:
            raise TemplateError(f"task type {t} has no entry in tasks.types")
        missing = [p for p in placeholders(types[t].template) if p not in keys]
        if missing:
            raise TemplateError(f"tasks.types.{t}.template names {', '.join(missing)}, which the rule does not "
                                f"record (its facts: {', '.join(sorted(keys))})")


def message(types: dict) -> Column:
    """The message of each task: its type's template with the facts filled in."""
    out = F.lit(None).cast("string")
    for t, spec in types.items():
        parts = []
        for literal, name, _, _ in string.Formatter().parse(spec.template):
            if literal:
                parts.append(F.lit(literal))
            if name:
                parts.append(F.coalesce(F.col("facts")[name], F.lit("-")))
        out = F.when(F.col("task_type") == t, F.concat(*parts) if parts else F.lit("")).otherwise(out)
    return out


def _typed(cands: DataFrame, types: dict) -> DataFrame:
    t = F.col("task_type")
    return cands.select(
        "*", lookup({k: v.family for k, v in types.items()}, t, None).alias("family"),
        lookup({k: v.compliance for k, v in types.items()}, t, False).alias("is_compliance"),
        lookup({k: v.marketing for k, v in types.items()}, t, False).alias("is_marketing"),
        lookup({k: v.channel for k, v in types.items()}, t, None).alias("suggested_channel"),
        lookup({k: v.urgency for k, v in types.items()}, t, 1.0).alias("_urgency_base"),
        lookup({k: v.benefit for k, v in types.items()}, t, 1.0).alias("_benefit_base"))


def _mix(cfg) -> Column:
    weights = {f"{o}|{f}": float(w) for o, fam in cfg.mix.items() for f, w in fam.items()}
    return lookup(weights, F.concat_ws("|", "orientation", "family"), 1.0)


def prioritised(cands: DataFrame, customers: DataFrame, history: DataFrame | None, as_of: date, cfg) -> DataFrame:
    """Steps 1-2: the candidate tasks not planned before, of active customers, with their manager and priority.
    `customers`: (customer_id, account_manager_id, branch_id, segment, value_tier, orientation,
    marketing_consent) of the customers active on D; `history`: earlier task rows (run_date < D)."""
    x = _typed(cands.withColumn("task_id", task_id()).dropDuplicates(["task_id"]), cfg.types)
    x = x.join(customers, "customer_id")
    if history is not None:
        done = history.where(F.col("status") == PLANNED).select("task_id")
        x = x.join(done, "task_id", "left_anti")
        first = history.groupBy("task_id").agg(F.min("run_date").alias("_first"))
        x = x.join(first, "task_id", "left")
    else:
        x = x.withColumn("_first", F.lit(None).cast("date"))
    d = F.lit(as_of)
    days_to_due = F.datediff("due_date", d)
    urgency = F.col("_urgency_base") * F.when(days_to_due <= 0, F.lit(2.0)).otherwise(
        1 + F.greatest(F.lit(0.0), 1 - days_to_due / F.lit(float(cfg.urgency_horizon_days))))
    benefit = F.col("_benefit_base") * (1 + F.log10(1 + F.greatest(F.coalesce("amount_cny", F.lit(0.0)), F.lit(0.0))
                                                    / F.lit(cfg.benefit_amount_scale)))
    pool = F.col("account_manager_id").isNull()
    return (x.withColumn("first_raised_date", F.coalesce("_first", d))
            .withColumn("days_waiting", F.datediff(d, "first_raised_date"))
            .withColumn("days_to_due", days_to_due)
            .withColumn("value_weight", lookup(cfg.value_weights, F.col("value_tier"), cfg.default_value_weight))
            .withColumn("urgency", urgency).withColumn("benefit", benefit).withColumn("mix_weight", _mix(cfg))
            .withColumn("priority", F.round(F.col("value_weight") * F.col("urgency") * F.col("benefit")
                                            * F.col("mix_weight") * (1 + cfg.ageing_per_day * F.col("days_waiting")), 4))
            .withColumn("manager_id", F.when(pool, F.concat(F.lit("BRANCH-"), F.col("branch_id")))
                        .otherwise(F.col("account_manager_id")))
            .withColumn("manager_kind", F.when(pool, F.lit(BRANCH_POOL)).otherwise(F.lit("ACCOUNT_MANAGER")))
            .drop("_first", "_urgency_base", "_benefit_base", "account_manager_id"))


def planned(tasks: DataFrame, suppressed: DataFrame, history: DataFrame | None, as_of: date, cfg) -> DataFrame:
    """Steps 3-6 on `prioritised` rows: status, status_reason and worklist_position. `suppressed`:
    (customer_id, reason) of the customers no marketing may reach on D (consent is checked here)."""
    reasons = suppressed.groupBy("customer_id").agg(
        F.concat_ws("; ", F.array_sort(F.collect_set("reason"))).alias("_suppressed"))
    x = tasks.join(reasons, "customer_id", "left")
    no_consent = ~F.coalesce(F.col("marketing_consent"), F.lit(False))
    suppress = F.col("is_marketing") & (no_consent | F.col("_suppressed").isNotNull())
    why = F.concat_ws("; ", F.when(no_consent, F.lit("no marketing consent")), F.col("_suppressed"))

    held = F.lit(False)
    if history is not None and cfg.gap_families:
        last = (history.where((F.col("status") == PLANNED) & F.col("family").isin(*cfg.gap_families))
                .groupBy("customer_id").agg(F.max("run_date").alias("_last_gap_contact")))
        x = x.join(last, "customer_id", "left")
        gap_until = F.date_add(F.col("_last_gap_contact"),
                               lookup(cfg.contact_gap_days, F.col("value_tier"), cfg.default_contact_gap_days))
        held = (F.col("family").isin(*cfg.gap_families) & ~F.col("is_compliance")
                & F.coalesce(gap_until > F.lit(as_of), F.lit(False)))
    else:
        x = x.withColumn("_last_gap_contact", F.lit(None).cast("date"))
        gap_until = F.lit(None).cast("date")
    x = x.withColumn("status", F.when(suppress, F.lit(SUPPRESSED)).when(held, F.lit(DEFERRED))).withColumn(
        "status_reason", F.when(suppress, why).when(held, F.concat(
            F.lit("contact frequency: last contact "), F.col("_last_gap_contact").cast("string"),
            F.lit(", next from "), gap_until.cast("string"))))

    order = [F.desc("is_compliance"), F.desc("priority"), F.asc("due_date"), F.asc("task_id")]
    open_ = x.where(F.col("status").isNull())
    open_ = open_.withColumn("_k", F.row_number().over(Window.partitionBy("customer_id").orderBy(*order)))
    contacts = open_.where("_k = 1").withColumn(
        "_pos", F.row_number().over(Window.partitionBy("manager_id").orderBy(*order)))
    cap = F.when(F.col("manager_kind") == BRANCH_POOL, F.lit(cfg.capacity.branch_pool_tasks_per_day)).otherwise(
        F.lit(cfg.capacity.manager_tasks_per_day))
    contacts = contacts.select(
        *[c for c in contacts.columns if c not in ("status", "status_reason", "_pos", "_k")],
        F.when(F.col("_pos") <= cap, F.lit(PLANNED)).otherwise(F.lit(DEFERRED)).alias("status"),
        F.when(F.col("_pos") > cap, F.concat(F.lit("manager capacity: "), cap.cast("string"),
                                             F.lit(" tasks a day"))).alias("status_reason"),
        F.when(F.col("_pos") <= cap, F.col("_pos")).cast("int").alias("worklist_position"))
    others = open_.where("_k > 1").drop("_k").withColumn("status", F.lit(DEFERRED)).withColumn(
        "status_reason", F.lit("one contact a day: another task of the customer comes first")).withColumn(
        "worklist_position", F.lit(None).cast("int"))
    closed = x.where(F.col("status").isNotNull()).withColumn("worklist_position", F.lit(None).cast("int"))
    out = contacts.unionByName(others).unionByName(closed)
    return out.drop("_suppressed", "_last_gap_contact", "marketing_consent")


def expired(history: DataFrame | None, today: DataFrame, as_of: date) -> DataFrame | None:
    """The tasks DEFERRED on the latest earlier run that no longer fire on D: written once more as EXPIRED."""
    if history is None:
        return None
    last = history.agg(F.max("run_date")).first()[0]
    if last is None:
        return None
    prev = history.where((F.col("run_date") == F.lit(last)) & (F.col("status") == DEFERRED))
    gone = prev.join(today.select("task_id"), "task_id", "left_anti")
    return gone.withColumn("run_date", F.lit(as_of)).withColumn("status", F.lit(EXPIRED)).withColumn(
        "status_reason", F.concat(F.lit("no longer due: deferred on "), F.lit(str(last)),
                                  F.lit(", its window closed before it was planned"))).withColumn(
        "worklist_position", F.lit(None).cast("int")).withColumn("days_to_due", F.datediff("due_date", F.lit(as_of)))


def task_rows(plan: DataFrame, as_of: date, cfg, version: str) -> DataFrame:
    """The serving rows (TASK_COLUMNS) of a plan."""
    out = (plan.withColumn("run_date", F.lit(as_of)).withColumn("message", message(cfg.types))
           .withColumn("model_name", F.lit(cfg.model_name)).withColumn("model_version", F.lit(version)))
    return out.select(*TASK_COLUMNS)


def history_window(as_of: date, cfg) -> tuple[date, date]:
    return as_of - timedelta(cfg.history_days), as_of - timedelta(1)
