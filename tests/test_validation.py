"""The Great Expectations suite a batch meets before it reaches silver, and the optimizer fence the rule
verdicts are filtered behind: exact outcomes on inline rows."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pyspark.sql import functions as F

from jobs.ingest import SILVER_METADATA
from jobs.spark import where_computed
from pipelines.contracts import contract
from pipelines.ingest.rules import ParseOptions, apply_row_rules
from pipelines.validation import expectation_suite, validate

TXN = contract("transactions")


def _silver_batch(spark, rows: list[dict]):
    base = {"account_id": "A0000001", "customer_id": "C0000001", "txn_ts": datetime(2026, 3, 1, 10),
            "amount": Decimal("12.50"), "currency": "CNY", "direction": "DEBIT", "txn_type": "CARD_PURCHASE",
            "channel": "POS", "merchant_id": "M000001", "mcc": "5411", "country": "CN", "status": "POSTED",
            "updated_at": datetime(2026, 3, 1, 10)}
    meta = (date(2026, 3, 1), "file:/landing/t.csv", "b1", datetime(2026, 3, 2), "0" * 32)
    data = [tuple({**base, **r}.get(c.silver_name) for c in TXN.columns) + meta for r in rows]
    schema = TXN.spark_ddl() + (", _extract_date date, _source_file string, _batch_id string, "
                                "_ingested_at timestamp, _record_hash string")
    return spark.createDataFrame(data, schema)


def test_suite_passes_a_clean_batch_and_leaves_it_uncached(spark):
    batch = _silver_batch(spark, [{"txn_id": "T000000000001"}, {"txn_id": "T000000000002"}])
    result = validate(batch, expectation_suite(TXN, SILVER_METADATA))
    assert result.success, result.summary()
    assert result.evaluated == len(expectation_suite(TXN, SILVER_METADATA).expectations)
    # the Spark source of Great Expectations caches every batch it is given unless told not to
    assert not batch.is_cached


def test_suite_names_what_a_faulty_batch_breaks(spark):
    batch = _silver_batch(spark, [{"txn_id": "T000000000001"}, {"txn_id": "T000000000001", "currency": "XXX"},
                                  {"txn_id": "T000000000003", "amount": Decimal("-1.00")}])
    result = validate(batch, expectation_suite(TXN, SILVER_METADATA))
    assert not result.success
    failed = {(f["expectation"], f["column"]): f["unexpected_count"] for f in result.failures}
    assert failed == {("expect_column_values_to_be_unique", "txn_id"): 2,
                      ("expect_column_values_to_be_in_set", "currency"): 1,
                      ("expect_column_values_to_be_between", "amount"): 1}
    assert "3 of" in result.summary()


def test_filtering_on_the_rule_verdict_evaluates_the_rules_once(spark):
    cols = TXN.column_names
    good = {"txn_id": "T000000000001", "account_id": "A0000001", "customer_id": "C0000001",
            "txn_ts": "2026-03-01 10:00:00", "amount": "12.50", "currency": "CNY", "direction": "DEBIT",
            "txn_type": "CARD_PURCHASE", "channel": "POS", "country": "CN", "status": "POSTED",
            "updated_at": "2026-03-01 10:00:00"}
    rows = [good, {**good, "txn_id": "T000000000002", "currency": "XXX"}]
    raw = spark.createDataFrame([tuple(r.get(c) for c in cols) + (False, date(2026, 3, 1)) for r in rows],
                                ", ".join(f"`{c}` string" for c in cols) + ", _malformed boolean, _extract_date date")
    raw = raw.repartition(1)  # as a scan would be: not a local relation the optimizer folds away
    checked = apply_row_rules(raw, TXN, ParseOptions()).withColumn("_rule", F.get("_violations", 0))
    fenced = where_computed(checked, F.col("_rule").isNull())
    plain = checked.where(F.col("_rule").isNull())
    assert sorted(fenced.collect()) == sorted(plain.collect())
    assert [r["txn_id"] for r in fenced.collect()] == ["T000000000001"]
    assert fenced.columns == checked.columns

    def rule_sets(df):  # how often the joined verdict of every rule is computed per row
        return df._jdf.queryExecution().optimizedPlan().toString().count("concat_ws(")

    spark.conf.set("spark.sql.debug.maxToStringFields", "10000")  # the plan text in full, not "... more fields"
    try:
        assert rule_sets(fenced) == 1
        assert rule_sets(plain) > 1  # what the fence is for: Spark copies the verdict into the pushed-down filter
    finally:
        spark.conf.unset("spark.sql.debug.maxToStringFields")
