"""The synthetic bank: deterministic for a seed, every landing row within its contract, the planted truth
findable in the landing, and a faulty copy holding exactly the faults its manifest lists."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.generate import generate
from jobs.hadoop_fs import data_files, read_bytes
from pipelines.contracts import CONTRACTS
from pipelines.generator import GeneratorParams, generate_bank
from pipelines.generator.faults import BAD_NUMBER, FAULT_KINDS

CUSTOMERS, DAYS, DAILY = 150, 20, 7


@pytest.fixture(scope="module")
def bank(spark, test_settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic_bank")
    settings = test_settings.model_copy(update={
        "generator": test_settings.generator.model_copy(update={"daily_extract_days": DAILY})})
    summary = generate(spark, settings, out=str(out), customers=CUSTOMERS, days=DAYS, seed=7, faults=list(FAULT_KINDS))
    return {"summary": summary, "root": f"file:{out}", "settings": settings}


def read_strings(spark, root: str, source: str, fmt: str, landing: str = "landing") -> DataFrame:
    """A landing source as strings, as ingestion would see it, with extract_date from the folder."""
    c = CONTRACTS[source]
    path = f"{root}/{landing}/{source}"
    schema = ", ".join(f"`{n}` string" for n in c.column_names) + ", extract_date string"
    if fmt == "csv":
        return spark.read.option("header", True).schema(schema).csv(path)
    if fmt == "json":
        return spark.read.schema(schema).json(path)
    df = spark.read.parquet(path)
    return df.select(*[F.col(n).cast("string").alias(n) for n in c.column_names],
                     F.col("extract_date").cast("string").alias("extract_date"))


_FORMAT_RE = {
    "date": r"^\d{4}-\d{2}-\d{2}$",
    "timestamp": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
    "boolean": r"^(true|false)$",
    "int": r"^-?\d+$", "bigint": r"^-?\d+$",
    "decimal(18,2)": r"^-?\d+(\.\d{1,2})?$", "decimal(18,6)": r"^-?\d+(\.\d{1,6})?$",
    "double": r"^-?\d+(\.\d+)?$",
}


def violations(df: DataFrame, source: str) -> dict[str, int]:
    """Rows breaking each rule of the contract, counted with Spark expressions in one pass."""
    checks = {}
    for col in CONTRACTS[source].columns:
        v = F.col(col.name)
        if not col.nullable:
            checks[f"{col.name}:not_null"] = v.isNull() | (v == "")
        if col.type in _FORMAT_RE:
            checks[f"{col.name}:type"] = v.isNotNull() & ~v.rlike(_FORMAT_RE[col.type])
        if col.allowed:
            checks[f"{col.name}:allowed"] = v.isNotNull() & ~v.isin(*col.allowed)
        if col.pattern:
            checks[f"{col.name}:pattern"] = v.isNotNull() & ~v.rlike(f"^(?:{col.pattern})$")
        if col.min is not None:
            checks[f"{col.name}:min"] = v.isNotNull() & (v.cast("double") < col.min)
        if col.max is not None:
            checks[f"{col.name}:max"] = v.isNotNull() & (v.cast("double") > col.max)
        if col.event_time:
            checks[f"{col.name}:event_time"] = v.isNotNull() & (F.substring(v, 1, 10) > F.col("extract_date"))
    row = df.agg(*[F.sum(F.when(cond, 1).otherwise(0)).alias(name) for name, cond in checks.items()]).first()
    return {k: row[k] for k in checks if row[k]}


def test_every_landing_row_passes_its_contract(spark, bank):
    formats = bank["summary"]["formats"]
    bad = {}
    for source in CONTRACTS:
        df = read_strings(spark, bank["root"], source, formats[source])
        assert bank["summary"]["rows"][source] > 0, source
        broken = violations(df, source)
        if broken:
            bad[source] = broken
    assert bad == {}


def test_foreign_keys_resolve_within_the_generated_data(spark, bank):
    formats = bank["summary"]["formats"]
    frames = {s: read_strings(spark, bank["root"], s, formats[s]) for s in CONTRACTS}
    broken = {}
    for source, c in CONTRACTS.items():
        for col in c.foreign_keys:
            parent, pcol = col.references.split(".")
            child = frames[source].where(F.col(col.name).isNotNull()).select(F.col(col.name).alias("k"))
            known = frames[parent].select(F.col(pcol).alias("k")).distinct()
            n = child.join(known, "k", "left_anti").count()
            if n:
                broken[f"{source}.{col.name}"] = n
    assert broken == {}


def test_csv_and_json_headers_and_columns_follow_the_contract(spark, bank):
    formats = bank["summary"]["formats"]
    for source, c in CONTRACTS.items():
        if formats[source] == "csv":
            f = data_files(spark, f"{bank['root']}/landing/{source}")[0]
            header = read_bytes(spark, f).split(b"\n", 1)[0].decode()
            assert header.split(",") == c.column_names, source
        elif formats[source] == "parquet":
            cols = spark.read.parquet(f"{bank['root']}/landing/{source}").columns
            assert cols == c.column_names + ["extract_date"], source


def test_bulk_then_one_daily_extract_per_day(spark, bank):
    s = bank["summary"]
    bulk = date.fromisoformat(s["bulk_date"])
    assert bulk == date(2026, 1, 1) + timedelta(days=DAYS - DAILY - 1)
    days = [(bulk + timedelta(days=k)).isoformat() for k in range(DAILY + 1)]
    for source in CONTRACTS:
        files = data_files(spark, f"{bank['root']}/landing/{source}")
        dates = sorted({f.split("extract_date=")[1].split("/")[0] for f in files})
        assert dates[0] >= s["bulk_date"] and dates[-1] <= s["end_date"], source
        if source in ("customers", "products", "accounts", "transactions", "interactions", "ecommerce_events"):
            assert s["bulk_date"] in dates, source
    txn_files = data_files(spark, f"{bank['root']}/landing/transactions")
    per_day = {d: sum(1 for f in txn_files if f"extract_date={d}/" in f) for d in days}
    assert all(per_day[d] == 1 for d in days[1:]), per_day   # one file per daily extract
    assert per_day[days[0]] >= 1


def test_late_records_and_corrections_arrive_in_later_extracts(spark, bank):
    fmt = bank["summary"]["formats"]["transactions"]
    t = read_strings(spark, bank["root"], "transactions", fmt)
    daily = t.where(F.col("extract_date") > bank["summary"]["bulk_date"])
    late = daily.where(F.substring("txn_ts", 1, 10) < F.col("extract_date")).count()
    assert late > 0
    versions = t.groupBy("txn_id").agg(F.count("*").alias("n"), F.max(F.when(F.col("status") == "REVERSED", 1)).alias("rev"),
                                       F.countDistinct("updated_at").alias("u"))
    corrected = versions.where((F.col("n") == 2) & (F.col("rev") == 1) & (F.col("u") == 2)).count()
    assert corrected > 0
    assert versions.where(F.col("n") > 2).count() == 0


def test_slow_changing_sources_resend_changes(spark, bank):
    formats, bulk = bank["summary"]["formats"], bank["summary"]["bulk_date"]
    for source in ("customers", "accounts", "interactions"):
        df = read_strings(spark, bank["root"], source, formats[source])
        key = CONTRACTS[source].key[0]
        resent = df.groupBy(key).agg(F.countDistinct("updated_at").alias("v")).where(F.col("v") > 1).count()
        assert resent > 0, source
        assert df.where(F.col("extract_date") > bulk).count() > 0, source


def test_fraud_episode_transactions_exist_and_are_mostly_labelled(spark, bank):
    formats = bank["summary"]["formats"]
    fe = spark.read.parquet(f"{bank['root']}/truth/fraud_episodes")
    assert {r[0] for r in fe.select("episode_type").distinct().collect()} == {
        "ACCOUNT_TAKEOVER", "CARD_TESTING", "COMPROMISED_MERCHANT"}
    txns = read_strings(spark, bank["root"], "transactions", formats["transactions"]).select("txn_id").distinct()
    assert fe.join(txns, "txn_id", "left_anti").count() == 0
    labels = read_strings(spark, bank["root"], "fraud_labels", formats["fraud_labels"])
    assert labels.join(fe, "txn_id").count() > 0
    assert labels.join(fe.select("txn_id", F.col("txn_ts").cast("string").alias("ts")), "txn_id") \
        .where(F.col("label_ts") <= F.col("ts")).count() == 0


def test_each_aml_typology_is_planted_and_round_trips_return_to_origin(spark, bank):
    formats = bank["summary"]["formats"]
    aml = spark.read.parquet(f"{bank['root']}/truth/aml_typologies")
    assert {r[0] for r in aml.select("typology").distinct().collect()} == {
        "STRUCTURING", "FAN_IN", "FAN_OUT", "ROUND_TRIPPING", "PASS_THROUGH", "DORMANT_REACTIVATION"}
    txns = read_strings(spark, bank["root"], "transactions", formats["transactions"])
    ids = aml.select("typology", F.explode("txn_ids").alias("txn_id"))
    assert ids.join(txns.select("txn_id").distinct(), "txn_id", "left_anti").count() == 0
    st = ids.where(F.col("typology") == "STRUCTURING").join(txns, "txn_id")
    assert st.where((F.col("amount").cast("double") >= 50_000) | (F.col("amount").cast("double") < 45_000)).count() == 0
    for r in aml.where(F.col("typology") == "ROUND_TRIPPING").collect():
        path = r["cycle_path"]
        assert path[0] == path[-1] == r["customer_id"] and len(set(path)) == len(path) - 1 >= 2
        legs = txns.where(F.col("txn_id").isin(r["txn_ids"]))
        outs = legs.where(F.col("txn_type") == "TRANSFER_OUT").select("customer_id", "counterparty_account",
                                                                      "counterparty_bank").collect()
        assert len(outs) == len(path) - 1 and all(o["counterparty_bank"] == "OWN" for o in outs)
        assert sorted(o["customer_id"] for o in outs) == sorted(path[:-1])
        ins = legs.where(F.col("txn_type") == "TRANSFER_IN").select("account_id").collect()
        assert sorted(i["account_id"] for i in ins) == sorted(o["counterparty_account"] for o in outs)


def test_other_truth_tables(spark, bank):
    root = bank["root"]
    assert spark.read.parquet(f"{root}/truth/product_affinity").count() == CUSTOMERS
    churn = spark.read.parquet(f"{root}/truth/churn")
    assert churn.where(F.col("churn_start_date") >= F.col("churn_date")).count() == 0


def test_ecommerce_users_share_the_banks_phone_and_email(spark, bank):
    formats = bank["summary"]["formats"]
    cust = read_strings(spark, bank["root"], "customers", formats["customers"]).select("customer_id", "phone").distinct()
    orders = read_strings(spark, bank["root"], "ecommerce_orders", formats["ecommerce_orders"])
    linked = orders.join(cust, "phone").select("platform_user_id").distinct().count()
    assert 0 < linked < orders.select("platform_user_id").distinct().count()


def _fingerprint(df: DataFrame, cols: list[str]) -> tuple:
    """An order-free fingerprint of every row: the count and the sum of a hash of the row."""
    row = df.select(F.count("*"), F.sum(F.xxhash64(*[F.col(c).cast("string") for c in cols]).cast("decimal(38,0)"))).first()
    return tuple(row)


def test_same_seed_same_bank_other_seed_other_bank(spark, bank):
    cols = ["txn_id", "account_id", "txn_ts", "amount", "status", "updated_at", "extract_date"]
    written = _fingerprint(read_strings(spark, bank["root"], "transactions", bank["summary"]["formats"]["transactions"]), cols)

    def rebuilt(seed):
        params = GeneratorParams.from_mapping(bank["settings"].generator, customers=CUSTOMERS, days=DAYS, seed=seed)
        return _fingerprint(generate_bank(spark, params, sources=["transactions"], with_truth=False)
                            .landing["transactions"], cols)

    assert rebuilt(7) == written
    other = rebuilt(8)
    assert other[1] != written[1]


def test_faulty_copy_holds_exactly_the_manifest(spark, bank):
    root = bank["root"]
    manifest = {r["fault"]: r for r in spark.read.parquet(f"{root}/truth/faults").collect()}
    assert set(manifest) == set(FAULT_KINDS)
    fmt = bank["summary"]["formats"]["transactions"]
    last = manifest["duplicates"]["extract_date"].isoformat()
    faulty = read_strings(spark, root, "transactions", fmt, "landing_faulty").where(F.col("extract_date") == last)
    clean = read_strings(spark, root, "transactions", fmt).where(F.col("extract_date") == last)
    assert faulty.where(F.col("currency") == "XXX").count() == manifest["unknown_code"]["rows_affected"]
    assert faulty.where(F.col("txn_id").isNull()).count() == manifest["null_key"]["rows_affected"]
    assert faulty.where(F.col("amount") == BAD_NUMBER).count() == manifest["bad_type"]["rows_affected"]
    assert faulty.where(F.substring("txn_ts", 1, 10) > F.col("extract_date")).count() == \
        manifest["future_date"]["rows_affected"]
    assert faulty.count() - faulty.distinct().count() == manifest["duplicates"]["rows_affected"]
    assert faulty.count() == clean.count() + manifest["duplicates"]["rows_affected"]
    for r in manifest.values():
        assert r["level"] == ("batch" if r["fault"] in ("truncated_file", "renamed_column") else "row")
        assert r["rows_affected"] > 0
    nav = read_bytes(spark, manifest["truncated_file"]["file_path"])
    assert not nav.endswith(b"\n")
    events = read_bytes(spark, manifest["renamed_column"]["file_path"])
    assert b"item_category" in events.split(b"\n", 1)[0]
    # the clean landing is untouched
    assert clean.where(F.col("currency") == "XXX").count() == 0
    assert not read_bytes(spark, data_files(spark, f"{root}/landing/nav_prices/extract_date={manifest['truncated_file']['extract_date']}")[0]).endswith(b"x")


def test_ingestion_rejects_each_injected_fault_with_the_right_reason(spark, bank, tmp_path):
    """The generator's faulty copy through the real ingestion: every manifest row is caught as it says."""
    from conftest import settings_for
    from jobs.errors import BatchFailed
    from jobs.ingest import ingest
    from jobs.tables import build_catalog

    settings = settings_for(tmp_path)
    manifest = {r["fault"]: r for r in spark.read.parquet(f"{bank['root']}/truth/faults").collect()}
    sources = ["customers", "products", "accounts", "transactions", "nav_prices", "ecommerce_events"]
    with pytest.raises(BatchFailed) as e:
        ingest(spark, settings, path=f"{bank['root']}/landing_faulty", sources=sources)
    results = {r.source: r for r in e.value.results}
    # Batch-level faults fail their source (and only it) with the expected rule.
    for fault in ("truncated_file", "renamed_column"):
        m = manifest[fault]
        assert results[m["source"]].status == "FAILED"
        assert any(p.startswith(m["expected_rule"]) for p in results[m["source"]].problems)
    # Row-level faults land in quarantine, one row per damaged record, under the expected rule.
    assert results["transactions"].status == "SUCCEEDED"
    q = build_catalog(settings).read(spark, "ops.quarantine").where("source = 'transactions'")
    by_rule = {r["rule"]: r["n"] for r in q.groupBy("rule").agg(F.count(F.lit(1)).alias("n")).collect()}
    row_faults = {k: m for k, m in manifest.items() if m["level"] == "row" and k != "duplicates"}
    assert by_rule == {m["expected_rule"]: m["rows_affected"] for m in row_faults.values()}
    # Exact duplicates are dropped and counted, never quarantined.
    assert results["transactions"].rows_duplicate >= manifest["duplicates"]["rows_affected"]
    assert results["transactions"].reconciled
