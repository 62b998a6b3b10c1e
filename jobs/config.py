"""Layered configuration: conf/base -> conf/<env> (or a folder of overrides) -> --set key=value.

Every YAML file under a layer is merged key by key; the result is validated into typed settings. An unknown
key or a wrong type is a ConfigError that names the file and the dotted key, so a typo never passes silently.
"""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.contracts.core_banking import TXN_TYPES

PROJECT_DIR = Path(__file__).resolve().parent.parent
CONF_DIR = PROJECT_DIR / "conf"


class ConfigError(ValueError):
    """A configuration problem a user can fix; the message names the file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LakeSettings(_Strict):
    root: str
    landing: str
    truth: str
    local_data: str
    database: str | None = None


class SparkSettings(_Strict):
    master: str
    app_name: str
    driver_memory: str
    shuffle_partitions: int = Field(gt=0)
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"]
    ui_enabled: bool
    show_progress: bool
    delta_version: str
    jars_cache: str
    conf: dict[str, str] = Field(default_factory=dict)


class LoggingSettings(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class PrivacySettings(_Strict):
    key_env_var: str
    allow_local_key: bool
    local_key_file: str


class MlflowSettings(_Strict):
    tracking_uri: str | None = None
    registry_uri: str | None = None
    artifact_root: str | None = None


class CsvSettings(_Strict):
    delimiter: str
    quote: str
    escape: str
    encoding: str
    timestamp_format: str
    date_format: str


class SourcesSettings(_Strict):
    csv: CsvSettings
    formats: dict[str, Literal["csv", "json", "parquet"]] = Field(default_factory=dict)


class ValidationSettings(_Strict):
    min_rows_per_file: int = Field(ge=0)
    require_trailing_newline: bool
    row_count_collapse_ratio: float = Field(ge=0, le=1)
    row_count_history_batches: int = Field(gt=0)
    row_count_min_typical: int = Field(ge=0)
    max_broken_foreign_key_share: float = Field(ge=0, le=1)
    max_quarantine_share: float = Field(ge=0, le=1)
    future_date_tolerance_days: int = Field(ge=0)
    run_great_expectations: bool


class IngestSettings(_Strict):
    parallel_sources: int = Field(ge=1)
    critical_path_weight: int = Field(ge=1)
    broadcast_max_keys: int = Field(ge=0)


class TagDefinition(_Strict):
    description: str
    condition: str                # Spark SQL over gold.customer_profile columns
    owner: str


class ValueTier(_Strict):
    tier: str
    min_value: float


class ValueSettings(_Strict):
    deposit_margin: float = Field(ge=0, le=1)
    loan_margin: float = Field(ge=0, le=1)
    investment_fee: float = Field(ge=0, le=1)
    card_interchange: float = Field(ge=0, le=1)
    tiers: list[ValueTier] = Field(min_length=1)


class RuleDefinition(_Strict):
    rule: str
    assigns: str
    condition: str                # Spark SQL over gold.customer_profile columns
    explanation: str


class FeaturesSettings(_Strict):
    snapshot_cadence: Literal["daily", "weekly", "month_end"]
    daily_snapshot_days: int = Field(ge=0)
    snapshot_retention_days: int = Field(gt=0)
    initial_load_known_at_event_time: bool = True
    tags: dict[str, TagDefinition] = Field(default_factory=dict)
    value: ValueSettings
    orientation: list[RuleDefinition] = Field(default_factory=list)
    loyalty: list[RuleDefinition] = Field(default_factory=list)


class InteractionWeightSettings(_Strict):
    held: float = Field(ge=0)
    opened: float = Field(ge=0)
    closed: float = Field(ge=0)
    responded: float = Field(ge=0)
    converted: float = Field(ge=0)
    ecommerce_day: float = Field(ge=0)
    half_life_days: float = Field(gt=0)
    ecommerce_window_days: int = Field(gt=0)


class AlsSettings(_Strict):
    factors: int = Field(gt=0)
    regularization: float = Field(ge=0)
    alpha: float = Field(gt=0)
    iterations: int = Field(gt=0)
    random_state: int = 42
    num_threads: int = Field(default=0, ge=0)
    use_cg: bool = True
    cg_steps: int = Field(default=3, gt=0)
    start: Literal["spectral", "random"] = "spectral"   # models.recommend.train.STARTS (too heavy to import here)


class BprSettings(_Strict):
    factors: int = Field(gt=0)
    learning_rate: float = Field(gt=0)
    regularization: float = Field(ge=0)
    iterations: int = Field(gt=0)
    random_state: int = 42
    fold_in_alpha: float = Field(gt=0)
    fold_in_regularization: float = Field(ge=0)
    num_threads: int = Field(default=0, ge=0)


class ContactSettings(_Strict):
    require_consent: bool
    contact_window_days: int = Field(gt=0)
    max_contacts: int = Field(gt=0)


class RecommenderSettings(_Strict):
    model_name: str
    candidates: list[Literal["als", "bpr"]] = Field(min_length=1)
    holdout_days: int = Field(gt=0)
    baseline_window_days: int = Field(gt=0)
    k: list[int] = Field(min_length=1)
    promotion_metric: str
    top_k: int = Field(gt=0)
    reasons: int = Field(ge=1, le=5)
    weights: InteractionWeightSettings
    als: AlsSettings
    bpr: BprSettings
    tune: dict[Literal["als", "bpr"], list[dict[str, float | int]]] = Field(default_factory=dict)
    contact: ContactSettings


class PurchaseSettings(_Strict):
    txn_types: list[Literal[TXN_TYPES]] = Field(min_length=1)
    direction: Literal["DEBIT", "CREDIT"]
    status: Literal["POSTED", "REVERSED", "DECLINED"]


class ClvSettings(_Strict):
    model_name: str
    time_unit: Literal["day", "week", "month"]
    holdout_days: int = Field(gt=0)
    purchases: PurchaseSettings
    horizon_months: int = Field(gt=0)
    annual_discount_rate: float = Field(ge=0)
    revenue_rate: float = Field(ge=0)
    balance_revenue: bool


class GbmSettings(_Strict):
    learning_rate: float = Field(gt=0)
    max_iter: int = Field(gt=0)
    max_leaf_nodes: int = Field(gt=1)
    min_samples_leaf: int = Field(gt=0)
    l2_regularization: float = Field(ge=0)
    random_state: int = 42


class ChurnSettings(_Strict):
    model_name: str
    horizon_days: int = Field(gt=0)
    tolerance_days: int = Field(ge=0)
    dormant_days: int = Field(gt=0)
    aum_loss_share: float = Field(gt=0, le=1)
    min_aum: float = Field(ge=0)
    evaluation_dates: int = Field(gt=0)
    training_dates: int = Field(gt=0)
    max_training_rows: int = Field(gt=0)
    calibration: Literal["isotonic", "sigmoid"]
    calibration_share: float = Field(gt=0, lt=1)
    refit: bool
    drivers: int = Field(ge=0, le=10)
    gbm: GbmSettings


class TxnFeatureSettings(_Strict):
    lookback_days: int = Field(ge=7)
    min_history: int = Field(ge=2)
    min_std_cny: float = Field(gt=0)
    utc_offset_minutes: int = Field(ge=-14 * 60, le=14 * 60)
    night_start_hour: int = Field(ge=0, le=23)
    night_end_hour: int = Field(ge=0, le=23)
    small_auth_cny: float = Field(gt=0)
    card_test_minutes: int = Field(gt=0, le=7 * 24 * 60)
    merchant_risk_days: int = Field(gt=0)


class FraudReasonSettings(_Strict):
    amount_ratio: float = Field(gt=0)
    card_test_auths: int = Field(gt=0)
    debits_1h: int = Field(gt=0)
    debits_24h: int = Field(gt=0)
    merchant_frauds: int = Field(gt=0)


class FraudRuleSettings(_Strict):
    amount_ratio: float = Field(gt=0)
    count_1h: int = Field(gt=0)
    amount_24h: float = Field(gt=0)
    small_auths: int = Field(gt=0)


class IsolationForestSettings(_Strict):
    n_estimators: int = Field(gt=0)
    max_samples: int = Field(gt=1)
    random_state: int = 42


class FraudSettings(_Strict):
    model_name: str
    holdout_days: int = Field(gt=0)
    training_days: int = Field(gt=0)
    max_training_rows: int = Field(gt=0)
    min_positives: int = Field(ge=2)
    alert_budget: float = Field(gt=0, lt=1)
    promotion_metric: Literal["pr_auc", "recall_at_budget"]
    reasons: int = Field(ge=0, le=10)
    anomaly_weight: float = Field(ge=0, le=1)
    feature_chunk_days: int = Field(gt=0)
    restate_days: int = Field(ge=0)
    features: TxnFeatureSettings
    reason_thresholds: FraudReasonSettings
    rules: FraudRuleSettings
    gbm: GbmSettings
    isolation_forest: IsolationForestSettings


class AmlFeatureSettings(_Strict):
    reporting_thresholds: dict[str, float] = Field(min_length=1)
    threshold_band: float = Field(gt=0, lt=1)
    flow_types: list[Literal[TXN_TYPES]] = Field(min_length=1)
    passive_types: list[Literal[TXN_TYPES]]
    pass_through_hours: int = Field(gt=0)
    pass_through_min_cny: float = Field(ge=0)
    cycle_min_cny: float = Field(ge=0)
    cycle_max_hops: int = Field(ge=2, le=4)
    cycle_window_hours: int = Field(gt=0)
    cycle_max_hop_gap_hours: int = Field(gt=0)
    cycle_hop_loss: float = Field(ge=0, lt=1)
    cycle_hop_gain: float = Field(ge=0)
    link_min_cny: float = Field(ge=0)
    hub_max_customers: int = Field(ge=2)
    max_group_iterations: int = Field(ge=1)
    max_case_hops: int = Field(ge=1)
    dormant_days: int = Field(gt=0, le=60)
    change_floor_cny: float = Field(gt=0)
    peer_min_customers: int = Field(ge=2)
    high_risk_countries: list[str]


AML_EVIDENCE = ("near_threshold", "new_senders", "new_receivers", "cycles", "pass_through", "flows_30d",
                "high_risk_country")


class AmlRuleSettings(_Strict):
    typology: str = Field(pattern=r"^[A-Z][A-Z_]*$")
    condition: str                 # Spark SQL over gold.aml_features columns
    strength: str                  # Spark SQL: 1 at the rule's threshold, more the further over it
    explanation: str               # words, with {column} placeholders filled from the customer's features
    evidence: Literal[AML_EVIDENCE]


class AmlWeightSettings(_Strict):
    rules: float = Field(ge=0)
    anomaly: float = Field(ge=0)
    supervised: float = Field(ge=0)


class AmlSettings(_Strict):
    model_name: str
    holdout_days: int = Field(gt=0)
    training_days: int = Field(gt=0)
    step_days: int = Field(gt=0)
    label_horizon_days: int = Field(gt=0)
    case_lead_days: int = Field(gt=0)
    min_positives: int = Field(ge=2)
    alert_budget: float = Field(gt=0, lt=1)
    min_risk_score: float = Field(ge=0, le=1)
    reopen_after_days: int = Field(gt=0)
    max_evidence: int = Field(gt=0)
    promotion_metric: Literal["recall_at_budget", "precision_at_budget"]
    evaluation_truth: str | None = None    # a synthetic bank's truth folder (generator), to evaluate against
    weights: AmlWeightSettings
    features: AmlFeatureSettings
    rules: list[AmlRuleSettings] = Field(min_length=1)
    baseline: list[str] = Field(min_length=1)   # threshold rules: Spark SQL conditions, one point each
    gbm: GbmSettings
    isolation_forest: IsolationForestSettings


class LifecycleSettings(_Strict):
    stages: list[RuleDefinition] = Field(min_length=1)


class ModelsSettings(_Strict):
    recommender: RecommenderSettings
    clv: ClvSettings
    churn: ChurnSettings
    lifecycle: LifecycleSettings
    fraud: FraudSettings
    aml: AmlSettings


class HoldingLines(_Strict):
    take_profit: float = Field(gt=0)
    stop_loss: float = Field(gt=0, lt=1)


class AfterSalesSettings(_Strict):
    deposit_maturity_days: int = Field(ge=0)
    card_due_days: int = Field(ge=0)
    loan_due_days: int = Field(ge=0)
    loan_maturity_days: int = Field(ge=0)
    nav_move_days: int = Field(ge=1)
    nav_move_band: float = Field(gt=0)
    dividend_lookback_days: int = Field(ge=0)
    lines: dict[Literal["R1", "R2", "R3", "R4", "R5"], HoldingLines]
    customer_lines: dict[str, HoldingLines] = Field(default_factory=dict)


class WealthCheckupSettings(_Strict):
    min_investment_value: float = Field(ge=0)
    monthly_tiers: list[str] = Field(default_factory=list)
    drift_share: float = Field(ge=0, le=1)
    concentration_limit: float = Field(gt=0, le=1)
    concentration_min_holdings: int = Field(ge=1)


class FestivalSettings(_Strict):
    name: str
    calendar: Literal["gregorian", "lunar"]
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    lead_days: int = Field(ge=0)


class CareSettings(_Strict):
    birthday_lead_days: int = Field(ge=0)
    anniversary_lead_days: int = Field(ge=0)
    relationship_milestones: list[int] = Field(default_factory=list)
    festival_tiers: list[str] = Field(default_factory=list)
    festivals: list[FestivalSettings] = Field(default_factory=list)


class EventSettings(_Strict):
    event_id: str
    name: str
    kind: str
    date: date
    invite_days: int = Field(ge=0)
    tiers: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    city: str | None = None
    capacity: int = Field(ge=1)


class ServiceTaskSettings(_Strict):
    acknowledge_days: int = Field(ge=0)
    resolve_days: int = Field(ge=1)
    resolve_warning_days: int = Field(ge=0)
    follow_up_days: int = Field(ge=0)
    follow_up_window_days: int = Field(ge=1)
    low_satisfaction: int = Field(ge=1, le=5)
    survey_window_days: int = Field(ge=1)


class RetentionSettings(_Strict):
    churn_probability: float = Field(ge=0, le=1)
    stages: list[str] = Field(default_factory=list)
    scores_max_age_days: int = Field(ge=0)
    offer_min_rank: int = Field(ge=1)


class CapacitySettings(_Strict):
    manager_tasks_per_day: int = Field(ge=1)
    branch_pool_tasks_per_day: int = Field(ge=1)


class SuppressionSettings(_Strict):
    fraud_hold_days: int = Field(ge=0)
    complaint_quiet_days: int = Field(ge=0)


class TaskTypeSettings(_Strict):
    family: Literal["after_sales", "wealth_checkup", "care", "events", "service", "retention_growth"]
    compliance: bool = False
    marketing: bool = False
    channel: Literal["PHONE", "MESSAGING", "EMAIL", "VISIT", "BRANCH", "MOBILE_APP"]
    urgency: float = Field(gt=0)
    benefit: float = Field(gt=0)
    template: str


class TasksSettings(_Strict):
    model_name: str
    history_days: int = Field(ge=1)
    profile_max_age_days: int = Field(ge=0)
    after_sales: AfterSalesSettings
    wealth_checkup: WealthCheckupSettings
    care: CareSettings
    events: list[EventSettings] = Field(default_factory=list)
    service: ServiceTaskSettings
    retention: RetentionSettings
    value_weights: dict[str, float]
    default_value_weight: float = Field(gt=0)
    urgency_horizon_days: int = Field(ge=1)
    benefit_amount_scale: float = Field(gt=0)
    ageing_per_day: float = Field(ge=0)
    mix: dict[Literal["relationship", "value", "service"], dict[str, float]]
    contact_gap_days: dict[str, int]
    default_contact_gap_days: int = Field(ge=0)
    gap_families: list[str] = Field(default_factory=list)
    capacity: CapacitySettings
    suppression: SuppressionSettings
    types: dict[str, TaskTypeSettings]


class GeneratorSettings(_Strict):
    customers: int = Field(gt=0)
    days: int = Field(gt=0)
    seed: int
    start_date: date
    daily_extract_days: int = Field(ge=0)
    sme_share: float = Field(ge=0, le=1)
    trading_partners_per_firm: int = Field(ge=0)
    ecommerce_share: float = Field(ge=0, le=1)
    txn_per_customer_day: float = Field(gt=0)
    late_record_share: float = Field(ge=0, le=1)
    correction_share: float = Field(ge=0, le=1)
    fraud_episodes: int = Field(ge=0)
    aml_cases_per_typology: int = Field(ge=0)
    churn_share: float = Field(ge=0, le=1)
    max_records_per_file: int = Field(gt=0)
    parallel_writes: int = Field(ge=1)


class TableOverride(_Strict):
    location: str | None = None
    metastore_name: str | None = None


class CatalogSettings(_Strict):
    location_pattern: str
    tables: dict[str, TableOverride] = Field(default_factory=dict)
    compact_file_mb: int = Field(ge=1)


class Settings(_Strict):
    lake: LakeSettings
    spark: SparkSettings
    logging: LoggingSettings
    privacy: PrivacySettings
    mlflow: MlflowSettings
    sources: SourcesSettings
    validation: ValidationSettings
    ingest: IngestSettings
    features: FeaturesSettings
    models: ModelsSettings
    tasks: TasksSettings
    generator: GeneratorSettings
    catalog: CatalogSettings
    env: str = "local"

    def path(self, value: str) -> str:
        """A configured location as a URI Spark and Hadoop understand: relative paths hang off the project."""
        return resolve_uri(value)

    @property
    def lake_root(self) -> str:
        return self.path(self.lake.root)

    @property
    def local_data_dir(self) -> Path:
        uri = self.path(self.lake.local_data)
        if not uri.startswith("file:"):
            raise ConfigError(f"lake.local_data must be a local folder, got {self.lake.local_data!r}")
        return Path(uri[len("file:"):])


def resolve_uri(value: str) -> str:
    if "://" in value or value.startswith("file:"):
        return value
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = PROJECT_DIR / p
    return "file:" + str(p.resolve())


def _merge(base: dict, override: dict, origin: dict[str, str], source: str, prefix: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(out.get(key), dict) and value:
            out[key] = _merge(out[key], value, origin, source, dotted + ".")
        else:
            out[key] = copy.deepcopy(value)
            _record_origin(value, origin, source, dotted)
    return out


def _record_origin(value: Any, origin: dict[str, str], source: str, dotted: str) -> None:
    origin[dotted] = source
    if isinstance(value, dict):
        for k, v in value.items():
            _record_origin(v, origin, source, f"{dotted}.{k}")


def _read_layer(folder: Path, merged: dict, origin: dict[str, str]) -> dict:
    for f in sorted(list(folder.glob("*.yaml")) + list(folder.glob("*.yml"))):
        try:
            data = yaml.safe_load(f.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{_rel(f)}: not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{_rel(f)}: expected a mapping of sections at the top level")
        merged = _merge(merged, data, origin, _rel(f))
    return merged


def _rel(f: Path) -> str:
    try:
        return str(f.resolve().relative_to(PROJECT_DIR))
    except ValueError:
        return str(f)


def _parse_set(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set spark.shuffle_partitions=4")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def env_folder(env: str) -> Path:
    """`local` and `cluster` are folders under conf/; anything else is a path to a folder of overrides."""
    named = CONF_DIR / env
    if named.is_dir() and env not in ("base",):
        return named
    p = Path(env).expanduser()
    if p.is_dir():
        return p
    raise ConfigError(f"--env {env!r}: no folder conf/{env}/ and no folder at that path")


def load_settings(env: str = "local", overrides: list[str] | tuple[str, ...] = ()) -> Settings:
    origin: dict[str, str] = {}
    merged = _read_layer(CONF_DIR / "base", {}, origin)
    merged = _read_layer(env_folder(env), merged, origin)
    for item in overrides:
        key, value = _parse_set(item)
        nested: dict = value
        for part in reversed(key.split(".")):
            nested = {part: nested}
        merged = _merge(merged, nested, origin, f"--set {key}")
    merged["env"] = env
    try:
        return Settings.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(_explain(e, origin)) from None


def _explain(e: ValidationError, origin: dict[str, str]) -> str:
    lines = []
    for err in e.errors():
        dotted = ".".join(str(p) for p in err["loc"])
        where = _origin_of(dotted, origin)
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key '{dotted}'")
        elif err["type"] == "missing":
            lines.append(f"{where}: missing key '{dotted}'")
        else:
            lines.append(f"{where}: key '{dotted}': {err['msg']} (got {err.get('input')!r})")
    return "invalid configuration: " + "; ".join(lines)


def _origin_of(dotted: str, origin: dict[str, str]) -> str:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in origin:
            return origin[key]
    return "conf/base"
