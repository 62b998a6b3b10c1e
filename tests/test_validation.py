"""The Great Expectations suite a batch meets before it reaches silver: exact outcomes on inline rows."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from jobs.ingest import SILVER_METADATA
from pipelines.contracts import contract
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
