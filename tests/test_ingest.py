"""Landing -> bronze -> silver on small inline extracts: quarantine reasons, de-duplication, corrections,
reconciliation, pseudonymisation, idempotent reruns and batch-level failures. One lake, built once."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from pyspark.sql import functions as F

from conftest import settings_for
from features.changes import signed_changes
from features.daily import KEY, as_known, collapse, customer_daily
from jobs.errors import BatchFailed
from jobs.features import daily_rows, update_customer_daily
from jobs.ingest import ingest
from jobs.tables import build_catalog
from landing_rows import extract, row, write_csv, write_json_lines
from pipelines.contracts import CONTRACTS

D1, D2 = "2026-01-01", "2026-01-02"
TXN_COLUMNS = list(row("transactions"))


def _write_landing(landing):
    write_csv(extract(landing, "customers", D1), [
        row("customers"),
        row("customers", customer_id="C00000002", full_name="Wang Fang", id_number="110101198502023456",
            phone="+8613800000002", email="wang.fang@example.com"),
        row("customers", customer_id="C00000003", segment="GOLD", phone="+8613800000003", email="c3@example.com"),
    ])
    write_csv(extract(landing, "products", D1), [row("products")])
    write_csv(extract(landing, "accounts", D1), [
        row("accounts"), row("accounts", account_id="A0000000002", customer_id="C00000002")])
    txns = write_csv(extract(landing, "transactions", D1), [
        row("transactions"),
        row("transactions", txn_id="T000000000002", amount="12,5O"),
        row("transactions", txn_id="T000000000003", currency="XXX"),
        row("transactions", txn_id="T000000000004", account_id="A0000000009"),
        row("transactions", txn_id="T000000000005", txn_ts="2027-03-01 00:00:00"),
        row("transactions"),                      # re-sent exactly: a duplicate
        row("transactions", txn_id=""),           # no key
    ], TXN_COLUMNS)
    with txns.open("a") as f:
        f.write("T000000000006,A0000000001\n")   # cut short: two fields of eighteen
    write_json_lines(extract(landing, "interactions", D1, "json"), [
        row("interactions"), '{"interaction_id": "I0000000002", "customer_id": ',
    ])
    # Day 2: a changed customer and a new one; a new transaction, a correction, a late arrival.
    write_csv(extract(landing, "customers", D2), [
        row("customers", segment="AFFLUENT", updated_at="2026-01-02 08:00:00"),
        row("customers", customer_id="C00000004", phone="+8613800000004", email="c4@example.com",
            updated_at="2026-01-02 08:00:00"),
    ])
    write_csv(extract(landing, "transactions", D2), [
        row("transactions", txn_id="T000000000007", txn_ts="2026-01-02 11:00:00", updated_at="2026-01-02 11:00:01"),
        row("transactions", status="REVERSED", updated_at="2026-01-02 09:00:00"),
        row("transactions", txn_id="T000000000008", txn_ts="2026-01-01 23:59:00", updated_at="2026-01-02 00:10:00",
            amount="20.00", mcc="5812"),
    ], TXN_COLUMNS)


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("ingest")
    settings = settings_for(root, "validation.max_quarantine_share=0.9", "validation.max_broken_foreign_key_share=0.5")
    _write_landing(root / "landing")
    catalog = build_catalog(settings)
    day1 = {r.source: r for r in ingest(spark, settings, as_of=date(2026, 1, 1))}
    after_day1 = {n: catalog.read(spark, n).collect() for n in ("silver.customers", "silver.transactions")}
    folds = [update_customer_daily(spark, catalog)]  # gold follows each night's silver
    day2 = {r.source: r for r in ingest(spark, settings)}
    folds.append(update_customer_daily(spark, catalog))
    return dict(settings=settings, catalog=catalog, day1=day1, day2=day2, after_day1=after_day1, root=root,
                folds=folds)


def test_quarantine_holds_each_bad_row_with_its_rule(spark, lake):
    q = lake["catalog"].read(spark, "ops.quarantine")
    got = {(r.source, r.record_key, r.rule, r.column) for r in q.collect()}
    assert got == {
        ("customers", "C00000003", "not_allowed", "segment"),
        ("transactions", "T000000000002", "bad_type", "amount"),
        ("transactions", "T000000000003", "not_allowed", "currency"),
        ("transactions", "T000000000004", "unknown_reference", "account_id"),
        ("transactions", "T000000000005", "future_date", "txn_ts"),
        ("transactions", "<null>", "null_key", "txn_id"),
        ("transactions", "T000000000006", "malformed_record", "*"),
        ("interactions", "<null>", "malformed_record", "*"),
    }
    bad_amount = q.where("rule = 'bad_type'").first()
    assert bad_amount.detail == "not a decimal(18,2): 12,5O"
    assert '"amount":"12,5O"' in bad_amount.raw_record
    assert q.where("source = 'interactions'").first().raw_record.startswith('{"interaction_id": "I0000000002"')


def test_each_load_reconciles(spark, lake):
    t = lake["day1"]["transactions"]
    assert (t.rows_received, t.rows_accepted, t.rows_quarantined, t.rows_duplicate) == (8, 1, 6, 1)
    log = lake["catalog"].read(spark, "ops.ingest_log").where("status = 'SUCCEEDED'").collect()
    assert len(log) == 7  # day 1: customers, products, accounts, transactions, interactions; day 2: two sources
    for r in log:
        assert r.reconciled and r.rows_received == r.rows_accepted + r.rows_quarantined + r.rows_duplicate
        assert r.expectations.endswith("expectations met")
    bronze_rows = lake["catalog"].read(spark, "bronze.transactions").count()
    assert bronze_rows == sum(r.rows_received for r in log if r.source == "transactions")


def test_later_versions_replace_earlier_ones_and_late_records_land(spark, lake):
    day1 = {r.customer_id: r for r in lake["after_day1"]["silver.customers"]}
    assert day1["C00000001"].segment == "MASS" and "C00000004" not in day1
    cust = {r.customer_id: r for r in lake["catalog"].read(spark, "silver.customers").collect()}
    assert cust["C00000001"].segment == "AFFLUENT" and cust["C00000001"]._extract_date == date(2026, 1, 2)
    assert set(cust) == {"C00000001", "C00000002", "C00000004"}
    txn = {r.txn_id: r for r in lake["catalog"].read(spark, "silver.transactions").collect()}
    assert set(txn) == {"T000000000001", "T000000000007", "T000000000008"}
    assert txn["T000000000001"].status == "REVERSED"
    late = txn["T000000000008"]
    assert (late.txn_ts.date(), late._extract_date) == (date(2026, 1, 1), date(2026, 1, 2))
    t2 = lake["day2"]["transactions"]
    assert (t2.rows_inserted, t2.rows_updated) == (2, 1)


def test_corrections_are_marked_with_deletion_vectors_not_rewritten(spark, lake):
    # a night's few corrections must not copy the untouched rows of the files that hold the corrected ones
    catalog = lake["catalog"]
    dvs = 0
    for name in ("silver.customers", "silver.transactions"):
        merges = [m.operationMetrics for m in
                  catalog.delta(spark, name).history().where("operation = 'MERGE'").collect()]
        assert merges and sum(int(m["numTargetRowsUpdated"]) for m in merges) >= 1, (name, merges)
        assert all(m["numTargetRowsCopied"] == "0" for m in merges), (name, merges)
        dvs += sum(int(m["numTargetDeletionVectorsAdded"]) for m in merges)
    assert dvs >= 1  # silver.customers' day-1 file holds more rows than the one corrected


def test_a_table_from_an_earlier_release_gains_the_properties_its_spec_names(spark, tmp_path):
    settings = settings_for(tmp_path)
    catalog = build_catalog(settings)
    name = "silver.products"
    spark.createDataFrame([("P1",)], "product_id string").write.format("delta").save(catalog.location(name))
    assert "delta.enableDeletionVectors" not in catalog.delta(spark, name).detail().first()["properties"]
    catalog.append(spark, name, spark.createDataFrame([("P2",)], "product_id string"))
    props = catalog.delta(spark, name).detail().first()["properties"]
    assert props["delta.enableDeletionVectors"] == "true" and props["delta.enableChangeDataFeed"] == "true"
    assert props["delta.dataSkippingStatsColumns"] == "product_id"  # only the columns the table has
    catalog.append(spark, name, spark.createDataFrame([("P3", None)], "product_id string, _extract_date date"))
    props = catalog.delta(spark, name).detail().first()["properties"]
    assert props["delta.dataSkippingStatsColumns"] == "product_id,_extract_date"  # and those it gains
    assert sorted(r[0] for r in catalog.read(spark, name).collect()) == ["P1", "P2", "P3"]


def test_statistics_are_kept_only_for_the_columns_reads_filter_on(spark, lake):
    catalog = lake["catalog"]

    def stats_columns(name: str) -> set[str]:
        log = spark.read.json(f"{catalog.location(name)}/_delta_log/*.json").where("add IS NOT NULL")
        kept = set()
        for r in log.select("add.stats").collect():
            kept |= set(json.loads(r["stats"])["nullCount"])
        return kept

    assert stats_columns("bronze.transactions") == {"_batch_id", "_extract_date", "_ingested_at"}
    silver = stats_columns("silver.transactions")
    assert {"txn_id", "account_id", "customer_id", "txn_ts", "amount", "updated_at", "_extract_date"} <= silver
    assert not silver & {"currency", "channel", "merchant_id", "_source_file", "_record_hash"}
    assert "email_token" not in stats_columns("silver.customers")


def test_silver_holds_no_direct_identifier(spark, lake):
    raw_values = set()
    for src in ("customers",):
        for r in lake["catalog"].read(spark, f"bronze.{src}").collect():
            raw_values |= {r[c.name] for c in CONTRACTS[src].pii_columns if r[c.name]}
    assert "+8613800000001" in raw_values
    checked = []
    for name in lake["catalog"].names:
        if not name.startswith(("silver.", "gold.")) or not lake["catalog"].exists(spark, name):
            continue
        checked.append(name)
        df = lake["catalog"].read(spark, name)
        strings = [f.name for f in df.schema.fields if f.dataType.simpleString() == "string"]
        for r in df.select(*strings).collect():
            assert not raw_values & set(r), f"{name} holds a direct identifier"
        if name.startswith("gold."):
            continue
        contract = CONTRACTS[name.split(".")[1].removesuffix("_versions")]
        assert not {c.name for c in contract.pii_columns} & set(df.columns)
        for c in contract.pii_columns:
            for r in df.select(c.silver_name).where(F.col(c.silver_name).isNotNull()).collect():
                assert re.fullmatch(r"[0-9a-f]{64}", r[0])
    assert {"silver.customers_versions", "gold.customer_daily"} <= set(checked)


def test_silver_columns_carry_comments(spark, lake):
    detail = spark.sql(f"DESCRIBE delta.`{lake['catalog'].location('silver.customers')}`").collect()
    comments = {r.col_name: r.comment for r in detail}
    assert comments["phone_token"].startswith("Keyed-hash token")
    assert comments["segment"] == "Bank segment."
    gold = spark.sql(f"DESCRIBE delta.`{lake['catalog'].location('gold.customer_daily')}`").collect()
    assert {r.col_name: r.comment for r in gold}["card_spend_grocery"] == "Card purchases at grocery merchants. (day)"


def test_rerun_changes_nothing(spark, lake):
    catalog = lake["catalog"]
    names = ["bronze.transactions", "silver.transactions", "silver.customers", "ops.quarantine"]
    before = {n: (catalog.version(spark, n), catalog.read(spark, n).count()) for n in names}
    again = ingest(spark, lake["settings"])
    assert {r.status for r in again} == {"NOTHING_TO_DO"}
    assert {n: (catalog.version(spark, n), catalog.read(spark, n).count()) for n in names} == before


def _failing_load(spark, lake, tmp_path, write):
    folder = tmp_path / "delivery"
    write(folder)
    catalog = lake["catalog"]
    before = catalog.version(spark, "silver.customers"), catalog.version(spark, "silver.transactions")
    with pytest.raises(BatchFailed) as e:
        ingest(spark, lake["settings"], path=str(folder), sources=["customers", "transactions"])
    assert (catalog.version(spark, "silver.customers"), catalog.version(spark, "silver.transactions")) == before
    return str(e.value)


def test_renamed_column_fails_the_batch_and_blocks_children(spark, lake, tmp_path):
    def write(folder):
        r = row("customers", customer_id="C00000009", updated_at="2026-01-03 08:00:00")
        r["customer_segment"] = r.pop("segment")
        write_csv(extract(folder, "customers", "2026-01-03"), [r])
        write_csv(extract(folder, "transactions", "2026-01-03"), [row("transactions", txn_id="T000000000099")])
    msg = _failing_load(spark, lake, tmp_path, write)
    assert "schema_drift" in msg and "missing segment" in msg and "unexpected customer_segment" in msg
    assert "blocked: transactions" in msg


def test_truncated_and_empty_files_fail_the_batch(spark, lake, tmp_path):
    def write(folder):
        write_csv(extract(folder, "customers", "2026-01-03"), [row("customers")], newline_at_end=False)
        p = extract(folder, "transactions", "2026-01-03")
        p.parent.mkdir(parents=True)
        p.write_text("")
    msg = _failing_load(spark, lake, tmp_path, write)
    assert "truncated_file" in msg
    failed = lake["catalog"].read(spark, "ops.ingest_log").where("status = 'FAILED'").collect()
    assert any("truncated_file" in p for r in failed for p in r.problems)


def test_customer_daily_folded_night_by_night_equals_a_build_from_scratch(spark, lake):
    catalog = lake["catalog"]
    day1_fold, day2_fold = lake["folds"][0][0], lake["folds"][1][0]
    assert day1_fold.source == "transactions" and day1_fold.rows > 0
    assert day2_fold.from_version == day1_fold.to_version + 1         # the second night reads only new changes
    feed = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0)
            .load(catalog.location("silver.transactions")))
    scratch = collapse(customer_daily(signed_changes(feed, ["txn_id"]), None, None), list(KEY))
    incremental = daily_rows(spark, catalog)
    assert sorted(incremental.collect()) == sorted(scratch.select(*incremental.columns).collect())

    version = catalog.version(spark, "gold.customer_daily")
    again = update_customer_daily(spark, catalog)
    assert [f.from_version for f in again] == [None] and catalog.version(spark, "gold.customer_daily") == version


def test_customer_daily_as_known_respects_arrival(spark, lake):
    daily = lake["catalog"].read(spark, "gold.customer_daily")

    def jan1(as_of):
        return {r["customer_id"]: r for r in as_known(daily, as_of).collect()
                if r["activity_date"] == date(2026, 1, 1)}["C00000001"]

    first, second = jan1(date(2026, 1, 1)), jan1(date(2026, 1, 2))
    # as known on day 1: T...001 (88.50 at a grocer) posted; T...008 (23:59 on day 1) not delivered until day 2
    assert (first["txn_count"], first["card_spend_grocery"], first["card_spend_dining"]) == (1, 88.5, 0)
    # as known on day 2: T...001 reversed, T...008 (20.00 at a restaurant) counted
    assert (second["txn_count"], second["card_spend_grocery"], second["card_spend_dining"]) == (1, 0, 20)


def test_versions_keep_what_was_known_on_each_date(spark, lake):
    from features.history import known_on

    catalog = lake["catalog"]
    versions = catalog.read(spark, "silver.customers_versions")
    c1 = sorted((r["_extract_date"], r["segment"]) for r in versions.where("customer_id = 'C00000001'").collect())
    assert c1 == [(date(2026, 1, 1), "MASS"), (date(2026, 1, 2), "AFFLUENT")]
    dates = spark.createDataFrame([(date(2026, 1, 1),), (date(2026, 1, 2),)], "as_of_date date")
    known = {(r["as_of_date"], r["customer_id"]): r["segment"]
             for r in known_on(versions, CONTRACTS["customers"], dates).collect()}
    assert known[(date(2026, 1, 1), "C00000001")] == "MASS"
    assert known[(date(2026, 1, 2), "C00000001")] == "AFFLUENT"
    assert (date(2026, 1, 1), "C00000004") not in known               # onboarded on day 2
    assert known[(date(2026, 1, 2), "C00000004")] is not None


def test_profile_snapshots_from_the_lake(spark, lake):
    from jobs.features import build_profiles

    catalog = lake["catalog"]
    build = build_profiles(spark, lake["settings"], catalog, [date(2026, 1, 1), date(2026, 1, 2)])
    rows = {(r["customer_id"], r["as_of_date"]): r for r in catalog.read(spark, "gold.customer_profile").collect()}
    assert build.rows == len(rows) and build.removed_dates == []
    assert rows[("C00000001", date(2026, 1, 1))]["segment"] == "MASS"
    assert rows[("C00000001", date(2026, 1, 2))]["segment"] == "AFFLUENT"
    assert ("C00000004", date(2026, 1, 1)) not in rows and ("C00000004", date(2026, 1, 2)) in rows
    assert rows[("C00000001", date(2026, 1, 1))]["card_spend_7d"] == 88.5
    # T...001 reversed; T...008 (late, 20.00) and T...007 (88.50 on day 2) counted
    assert rows[("C00000001", date(2026, 1, 2))]["card_spend_7d"] == 108.5
    # rebuilt alone, day 2 reads silver's latest records and carries value from day 1: the same snapshot
    rebuilt = build_profiles(spark, lake["settings"], catalog, [date(2026, 1, 2)])
    assert rebuilt.rows == build.rows - 2 and catalog.read(spark, "gold.customer_profile").count() == len(rows)
    again = {r["customer_id"]: r for r in catalog.read(spark, "gold.customer_profile")
             .where(F.col("as_of_date") == date(2026, 1, 2)).collect()}
    for (cid, day), before in rows.items():
        if day == date(2026, 1, 2):
            for name, value in before.asDict().items():
                want = pytest.approx(value) if isinstance(value, float) else value
                assert again[cid][name] == want, (cid, name)


def test_a_nightly_profile_carries_the_year_unless_its_days_were_restated(spark, lake):
    from jobs.features import PROFILE, TAGS, YEAR, build_profiles

    catalog, settings = lake["catalog"], lake["settings"]
    day1, day2, cid = date(2026, 1, 1), date(2026, 1, 2), "C00000001"
    build_profiles(spark, settings, catalog, [day1, day2])
    built = {name: catalog.version(spark, name) for name in (YEAR, PROFILE, TAGS)}

    def txns_365d() -> int:
        return (catalog.read(spark, "gold.customer_profile")
                .where((F.col("as_of_date") == day2) & (F.col("customer_id") == cid)).first()["txn_count_365d"])

    truth = txns_365d()
    day1_totals = (F.col("as_of_date") == day1) & (F.col("customer_id") == cid)
    try:
        # day 2 alone starts from day 1's totals: a mark left in them shows through
        catalog.delta(spark, YEAR).update(day1_totals, {"txn_count": F.col("txn_count") + 1000})
        build_profiles(spark, settings, catalog, [day2])
        assert txns_365d() == truth + 1000
        # were customer_daily folded again after day 1's totals (rows known by day 1 in a newer fold), day 2
        # sums its year afresh
        before_any_fold = F.create_map(F.lit("transactions"), F.lit(-1).cast("bigint"))
        catalog.delta(spark, YEAR).update(F.col("as_of_date") == day1, {"daily_watermarks": before_any_fold})
        build_profiles(spark, settings, catalog, [day2])
        assert txns_365d() == truth
    finally:   # the lake as this test found it, for the tests after it
        for name, version in built.items():
            catalog.delta(spark, name).restoreToVersion(version)
    assert txns_365d() == truth


def test_a_bad_tag_stops_the_profile_before_anything_is_written(spark, lake):
    from jobs.config import TagDefinition
    from jobs.errors import CrmError
    from jobs.features import PROFILE, YEAR, build_profiles

    catalog, settings = lake["catalog"], lake["settings"]
    build_profiles(spark, settings, catalog, [date(2026, 1, 1)])
    versions = {name: catalog.version(spark, name) for name in (PROFILE, YEAR)}
    broken = settings.features.model_copy(update={"tags": {
        **settings.features.tags, "typo": TagDefinition(description="x", condition="txn_count_31d > 0", owner="x")}})
    with pytest.raises(CrmError, match="tag 'typo'.*txn_count_31d"):
        build_profiles(spark, settings.model_copy(update={"features": broken}), catalog, [date(2026, 1, 2)])
    assert {name: catalog.version(spark, name) for name in (PROFILE, YEAR)} == versions
