"""Every table the platform writes, with its description and column comments, registered in one catalog."""

from __future__ import annotations

from jobs.catalog import STATS_COLUMNS, Catalog, TableSpec
from jobs.config import Settings
from pipelines.contracts import CONTRACTS, SourceContract

INGEST_METADATA = {
    "_extract_date": "Business date of the extract the row arrived in (when the bank knew it).",
    "_source_file": "Landing file the row came from.",
    "_batch_id": "Ingestion batch (one per source per load; deterministic from the files' checksums).",
    "_ingested_at": "When the batch was loaded.",
}
BRONZE_EXTRA = {
    "_file_checksum": "SHA-256 of the landing file.",
    "_malformed": "The line could not be parsed into fields.",
    "_raw_record": "The record exactly as received (JSON lines) or rebuilt from its fields (CSV, Parquet).",
}
SILVER_EXTRA = {"_record_hash": "128-bit xxHash64 fingerprint of the business columns, to tell corrections "
                                "from re-deliveries."}

QUARANTINE = TableSpec(
    "ops.quarantine",
    "Rows rejected by a source contract's row rules, with the rule, the column and the raw record. Restricted: "
    "raw records may hold direct identifiers.",
    comments={
        "source": "Landing source.", "batch_id": "Ingestion batch.", "extract_date": "Extract business date.",
        "source_file": "Landing file.", "record_key": "Business key as received ('|'-joined).",
        "rule": "First rule the row broke (malformed_record, null_key, bad_type, not_null, not_allowed, "
                "bad_pattern, out_of_range, future_date, unknown_reference).",
        "column": "Column the rule is about ('*' for the whole row).", "detail": "What was wrong.",
        "violations": "Every rule the row broke.", "raw_record": "The record as received.",
        "quarantined_at": "When it was quarantined.",
    },
)
INGEST_LOG = TableSpec(
    "ops.ingest_log",
    "One row per source per ingestion run: files, outcome, reconciliation (received = accepted + quarantined "
    "+ duplicates), Great Expectations result and the Delta versions written.",
    comments={
        "run_id": "crm invocation.", "batch_id": "Ingestion batch.", "source": "Landing source.",
        "status": "SUCCEEDED, FAILED, BLOCKED (a parent source failed) or NOTHING_TO_DO.",
        "problems": "Batch-level problems that failed the load.",
        "files": "Files in the batch with their business date, checksum and rows.",
        "rows_received": "Rows read from the files.", "rows_accepted": "Rows merged into silver.",
        "rows_quarantined": "Rows sent to ops.quarantine.", "rows_duplicate": "Rows dropped as duplicates or "
        "superseded versions of a key within the batch.",
        "rows_inserted": "New keys in silver.", "rows_updated": "Keys in silver replaced by a newer version.",
        "reconciled": "received = accepted + quarantined + duplicates.",
        "expectations": "Great Expectations suite result on the accepted batch.",
        "bronze_version": "Delta version of the bronze table after the load.",
        "silver_version": "Delta version of the silver table after the load.",
        "started_at": "Start.", "finished_at": "End.", "seconds": "Duration in seconds.",
    },
)


NEXT_BEST_OFFER = TableSpec(
    "serving.next_best_offer",
    "Each consenting customer's top eligible products to offer on a business date, with the reasons, from the "
    "champion cross-sell recommender.",
    comments={
        "run_date": "Business date the offers were scored for.",
        "customer_id": "Bank customer number.",
        "account_manager_id": "The customer's relationship manager, if any.",
        "branch_id": "Home branch.", "segment": "Bank segment on the run date.",
        "rank": "1 = the best offer for this customer.",
        "product_id": "Product offered.", "product_name": "Marketing name.", "category": "Product category.",
        "score": "Model score (relative within a customer); for cold-start rows, the segment's opening rate.",
        "reason": "Why, in words: the customer's signals that drive the score most.",
        "reason_items": "The items behind the reason (products, or ecom:<CATEGORY> side items).",
        "is_cold_start": "No signal the model knows: offered the segment's most popular eligible products.",
        "model_name": "Registered MLflow model.", "model_version": "Its version (the champion when scored).",
        "scored_at": "When the row was written.",
    },
    properties={"delta.enableChangeDataFeed": "true"},
    partition_by=("run_date",),
)

LIFECYCLE_SCORES = TableSpec(
    "serving.lifecycle_scores",
    "Each customer's lifecycle on a business date: stage and the rule behind it, churn propensity with its "
    "drivers, P(alive), expected purchases, and customer value (historical + current + potential) with its tier.",
    comments={
        "run_date": "Business date scored (the profile's as-of date).",
        "customer_id": "Bank customer number.",
        "account_manager_id": "The customer's relationship manager, if any.",
        "segment": "Bank segment on the run date.",
        "lifecycle_stage": "prospect, new, growing, mature, declining, dormant or churned "
                           "(models.lifecycle.stages rules).",
        "stage_rule": "Name of the rule that assigned the stage.",
        "stage_explanation": "The rule's explanation, in words.",
        "stage_since": "First run date of the current unbroken run of this stage (the run date itself when the "
                       "previous scores had another stage or there were none).",
        "previous_stage": "Stage in the latest earlier scores, if any.",
        "churn_probability": "Calibrated probability of churning in the label horizon (null: no churn champion).",
        "churn_drivers": "Features pushing the churn probability up most, in words.",
        "p_alive": "BG/NBD probability that the customer is still active as a buyer (null: no purchase yet).",
        "purchases_frequency": "Repeat purchase days so far (the CLV summary's frequency).",
        "expected_purchases": "Purchase days expected over the CLV horizon (models.clv.horizon_months).",
        "expected_purchase_value": "Present value of the purchases expected over the horizon, CNY.",
        "historical_value": "Revenue to the bank so far, CNY (from the profile).",
        "current_value": "Revenue over the last 12 months, CNY (from the profile).",
        "potential_value": "Present value of the revenue expected over the horizon, CNY: the bank's share of "
                           "expected purchases, plus balance revenue while the customer stays.",
        "customer_value": "historical_value + current_value + potential_value.",
        "value_tier": "Tier by customer_value (features.value.tiers).",
        "clv_model_version": "Version of the CLV model used (null: none).",
        "churn_model_version": "Version of the churn model used (null: none).",
        "scored_at": "When the row was written.",
    },
    properties={"delta.enableChangeDataFeed": "true"},
    partition_by=("run_date",),
)


FRAUD_SCORES = TableSpec(
    "serving.fraud_scores",
    "Every transaction of a business date scored by the champion fraud model, with the decision at the daily "
    "alert budget and the reasons in words.",
    comments={
        "run_date": "Business date scored (the transactions' UTC day).",
        "txn_id": "Transaction reference.", "customer_id": "Account holder.", "account_id": "Account.",
        "txn_ts": "When the transaction happened (UTC).", "amount_cny": "Amount in CNY at the reference rate.",
        "txn_type": "Kind of movement.", "channel": "Where it was initiated.",
        "fraud_score": "Blend of the supervised probability and the anomaly percentile (models.fraud.anomaly_weight).",
        "anomaly_score": "Isolation Forest score as a percentile of the training transactions (1: more unusual than "
                         "any of them).",
        "supervised_score": "Gradient-boosted probability of confirmed fraud (null: trained without enough labels).",
        "alert_rank": "Rank by fraud_score within the day (1 = most suspicious).",
        "decision": "ALERT when alert_rank is within the day's budget (models.fraud.alert_budget), else PASS.",
        "reasons": "The strongest signals behind the score, in words (e.g. 'amount 14x usual', 'new country').",
        "model_name": "Registered MLflow model.", "model_version": "Its version (the champion when scored).",
        "scored_at": "When the row was written.",
    },
    properties={"delta.enableChangeDataFeed": "true"},
    partition_by=("run_date",),
)


AML_ALERTS = TableSpec(
    "serving.aml_alerts",
    "Anti-money-laundering alerts raised or updated on a business date: one row per customer and typology "
    "alerted that day (within the daily budget), with the evidence behind it. An alert stays open, and is updated "
    "rather than raised again, until an investigation of the customer closes or it goes unraised for "
    "models.aml.reopen_after_days.",
    comments={
        "run_date": "Business date scored.",
        "alert_id": "Stable alert reference: the same while the alert is open, across run dates.",
        "customer_id": "Bank customer number.",
        "typology": "STRUCTURING, FAN_IN, FAN_OUT, ROUND_TRIPPING, PASS_THROUGH, DORMANT_REACTIVATION, "
                    "HIGH_RISK_COUNTRY, PROFILE_CHANGE (models.aml.rules), or ANOMALY (no rule hit: "
                    "the anomaly and supervised parts alone).",
        "alert_status": "NEW (raised on run_date) or UPDATED (an open alert raised again on run_date).",
        "opened_date": "Run date the alert was first raised.",
        "days_alerted": "Run dates on which this alert was raised, this one included.",
        "risk_score": "Customer risk score: the weighted blend of rules, anomaly and supervised parts "
                      "(models.aml.weights).",
        "risk_rank": "Rank of the customer by risk_score among the customers scored on run_date (1 = highest).",
        "typology_severity": "Severity of this typology's rule hit (0.5 at its threshold, toward 1 above; 0 for "
                             "ANOMALY).",
        "rules_score": "Largest rule severity of the customer.", "anomaly_score": "Isolation Forest percentile.",
        "supervised_score": "Probability from the model trained on reported cases (null: no supervised part).",
        "explanation": "Why, in words, from the rule's explanation and the customer's features.",
        "other_typologies": "The customer's other typologies hit on run_date.",
        "evidence_txn_ids": "Transactions behind the alert (largest first, at most models.aml.max_evidence), as in "
                            "silver.transactions.",
        "evidence_counterparties": "Counterparty accounts of those transactions.",
        "cycle_path": "ROUND_TRIPPING: the customers the largest cycle passed through, origin first and last.",
        "window_start": "Earliest day of the evidence.", "window_end": "Latest day of the evidence.",
        "model_name": "Registered MLflow model.", "model_version": "Its version (the champion when scored).",
        "scored_at": "When the row was written.",
    },
    properties={"delta.enableChangeDataFeed": "true"},
    partition_by=("run_date",),
)


MAINTENANCE_TASKS = TableSpec(
    "serving.maintenance_tasks",
    "Each account manager's relationship-maintenance tasks for a business date: every task the rules raised "
    "(tasks in conf/), PLANNED on the manager's worklist in priority order, DEFERRED (capacity, one contact a "
    "day, contact frequency: it rolls over), SUPPRESSED (marketing the customer may not get) or EXPIRED (deferred "
    "until its window closed). docs/tasks.md explains the rules and the priority formula.",
    comments={
        "run_date": "Business date the worklist is for.",
        "task_id": "Stable task reference: the same customer, task type and trigger give the same id on every "
                   "run date (reruns and follow-up days update it, never duplicate it).",
        "manager_id": "The customer's account manager, or BRANCH-<branch_id> (the branch pool) without one.",
        "manager_kind": "ACCOUNT_MANAGER or BRANCH_POOL.", "branch_id": "Customer's home branch.",
        "customer_id": "Bank customer number.",
        "family": "after_sales, wealth_checkup, care, events, service or retention_growth.",
        "task_type": "Rule that raised the task (tasks.types), e.g. DEPOSIT_MATURITY, BIRTHDAY, COMPLAINT_RESOLVE.",
        "status": "PLANNED (on the worklist), DEFERRED (rolls over), SUPPRESSED or EXPIRED.",
        "status_reason": "Why a task is not PLANNED, in words (null when planned).",
        "worklist_position": "1 = first on the manager's worklist (PLANNED only).",
        "due_date": "When the task is due (the maturity, the birthday, the service-level deadline...).",
        "days_to_due": "due_date - run_date (negative: overdue).",
        "priority": "value_weight x urgency x benefit x mix_weight x (1 + tasks.ageing_per_day x days_waiting).",
        "value_weight": "Weight of the customer's value tier (tasks.value_weights).",
        "urgency": "Type urgency, doubled when due today or overdue, up to doubled as the due date nears.",
        "benefit": "Type benefit x (1 + log10(1 + amount_cny / tasks.benefit_amount_scale)).",
        "mix_weight": "Weight of the task family for the customer's orientation (tasks.mix).",
        "days_waiting": "Days since the task was first raised (rolled-over tasks age up).",
        "first_raised_date": "First run date the task was raised.",
        "suggested_channel": "How to reach the customer (tasks.types.<type>.channel).",
        "message": "The task in words, from the type's template and the facts.",
        "facts": "The facts behind the task, by name (account, amounts, dates, scores), as text.",
        "trigger_key": "What the task is about within its type (account and due date, complaint and stage, "
                       "occasion date...).",
        "amount_cny": "Money at stake, CNY (null: none).",
        "is_compliance": "A compliance task: first in line, never held back by contact frequency.",
        "is_marketing": "A marketing task: needs consent, suppressed under an open AML alert, a fraud hold or a "
                        "complaint's quiet period.",
        "segment": "Bank segment on the run date.", "value_tier": "Value tier on the run date.",
        "orientation": "Relationship orientation on the run date (relationship, value or service).",
        "model_name": "The rule set (tasks.model_name).",
        "model_version": "Fingerprint of the tasks settings the rows were planned with.",
        "planned_at": "When the row was written.",
    },
    properties={"delta.enableChangeDataFeed": "true"},
    partition_by=("run_date",),
)


# Delta keeps per-file minimum, maximum and null count of the columns named here, for data skipping; by default
# it keeps them for the first 32 columns, and on the wide string columns of a landing batch that bookkeeping
# cost 20 s of a 52 s write (M-tier transactions, 11M rows). Bronze is read by batch and extract date only.
BRONZE_STATS_COLUMNS = ("_batch_id", "_extract_date", "_ingested_at")


def bronze_spec(c: SourceContract) -> TableSpec:
    comments = {col.name: f"As received (string). {col.description}" for col in c.columns}
    comments.update(INGEST_METADATA)
    comments.update(BRONZE_EXTRA)
    return TableSpec(f"bronze.{c.name}", f"{c.description} Append-only, as received, with ingest metadata. "
                                         "Restricted: holds direct identifiers.", comments=comments,
                     properties={STATS_COLUMNS: ",".join(BRONZE_STATS_COLUMNS)})


def silver_stats_columns(c: SourceContract) -> list[str]:
    """The silver columns reads filter on, which keep Delta's data-skipping statistics: the business key, the
    foreign keys, every date, time and number (cheap to track), the extract date and the ingest time. Free text,
    codes and tokens are left out: nothing filters on ranges of them, and they are most of the cost; Delta keeps
    none for booleans."""
    cols = [col.silver_name for col in c.columns
            if col.name in c.key or col.references or (col.type not in ("string", "boolean") and not col.pii)]
    return [*cols, "_extract_date", "_ingested_at"]


# The change feed is what gold folds read. Deletion vectors let the nightly MERGE mark the rows a late correction
# replaces instead of rewriting every file that holds one: a few hundred corrections scattered over a year of
# transactions otherwise rewrite the whole table (5.4 GB at the M tier) every night.
SILVER_PROPERTIES = {"delta.enableChangeDataFeed": "true", "delta.enableDeletionVectors": "true"}


def silver_spec(c: SourceContract) -> TableSpec:
    comments = {}
    for col in c.columns:
        text = col.description
        if col.pii:
            text = f"Keyed-hash token (HMAC-SHA256) of {col.name}. {text}"
        comments[col.silver_name] = text
    comments.update(INGEST_METADATA)
    comments.update(SILVER_EXTRA)
    return TableSpec(f"silver.{c.name}", f"{c.description} Typed, pseudonymised, one row per "
                                         f"{', '.join(c.silver_key)} (latest version).", comments=comments,
                     properties={**SILVER_PROPERTIES, STATS_COLUMNS: ",".join(silver_stats_columns(c))})


def versions_spec(c: SourceContract) -> TableSpec:
    """Every distinct version of a slowly changing source's records, for point-in-time reads."""
    silver = silver_spec(c)
    comments = dict(silver.comments)
    comments["_extract_date"] = ("Extract date of the delivery that first brought this version: the version is "
                                 "what the bank knew from this date until the next version's.")
    return TableSpec(f"silver.{c.name}_versions",
                     f"{c.description} Every distinct version of each {', '.join(c.silver_key)} as received, "
                     "typed and pseudonymised, with the date it became known (silver.{c.name} keeps only the "
                     "latest).".replace("{c.name}", c.name), comments=comments,
                     properties={STATS_COLUMNS: silver.properties[STATS_COLUMNS]})


DAILY_LINEAGE = {"source": "Silver source these rows were folded in from.",
                 "source_version": "Silver Delta version the fold reached (the next fold starts after it)."}


def gold_specs() -> list[TableSpec]:
    from features.aml import AML_FEATURES
    from features.daily import CUSTOMER_DAILY
    from features.profile import CUSTOMER_PROFILE
    from features.profile.year_window import ACTIVITY_365D
    from features.tags import CUSTOMER_TAGS
    from features.txn import TXN_FEATURES

    return [TableSpec(CUSTOMER_DAILY.name, CUSTOMER_DAILY.description,
                      comments={**CUSTOMER_DAILY.comments, **DAILY_LINEAGE}),
            TableSpec(CUSTOMER_PROFILE.name, CUSTOMER_PROFILE.description, comments=CUSTOMER_PROFILE.comments,
                      partition_by=("as_of_date",)),
            TableSpec(ACTIVITY_365D.name, ACTIVITY_365D.description,
                      comments={**ACTIVITY_365D.comments,
                                "daily_watermarks": "customer_daily fold versions (per source) the totals were "
                                                    "built from; a later fold of rows known by the as-of date "
                                                    "makes the next build sum the year afresh."},
                      partition_by=("as_of_date",)),
            TableSpec(CUSTOMER_TAGS.name, CUSTOMER_TAGS.description, comments=CUSTOMER_TAGS.comments,
                      partition_by=("as_of_date",)),
            TableSpec(TXN_FEATURES.name, TXN_FEATURES.description, comments=TXN_FEATURES.comments,
                      partition_by=("txn_date",)),
            TableSpec(AML_FEATURES.name, AML_FEATURES.description, comments=AML_FEATURES.comments,
                      partition_by=("as_of_date",))]


def build_catalog(settings: Settings) -> Catalog:
    catalog = Catalog(settings)
    for c in CONTRACTS.values():
        catalog.register(bronze_spec(c))
        catalog.register(silver_spec(c))
        if c.keeps_versions:
            catalog.register(versions_spec(c))
    for spec in gold_specs():
        catalog.register(spec)
    catalog.register(NEXT_BEST_OFFER)
    catalog.register(LIFECYCLE_SCORES)
    catalog.register(FRAUD_SCORES)
    catalog.register(AML_ALERTS)
    catalog.register(MAINTENANCE_TASKS)
    catalog.register(QUARANTINE)
    catalog.register(INGEST_LOG)
    return catalog
