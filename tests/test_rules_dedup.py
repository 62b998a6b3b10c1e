"""Row rules and de-duplication on inline rows: exact verdicts, the record kept only for rejected rows, and the
broadcast (narrow) de-duplication path agreeing with the full window path."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import functions as F

from pipelines.contracts import contract
from pipelines.ingest.dedup import ranked_versions, record_hash, repeated_keys, split_repeated
from pipelines.ingest.rules import ParseOptions, apply_row_rules, with_known_parents

TXN = contract("transactions")


def _raw(spark, rows: list[dict]):
    cols = TXN.column_names
    data = [tuple(r.get(c) for c in cols) + (False, date(2026, 3, 1)) for r in rows]
    schema = ", ".join(f"`{c}` string" for c in cols) + ", `_malformed` boolean, `_extract_date` date"
    return spark.createDataFrame(data, schema)


def _txn(txn_id: str, **over) -> dict:
    row = {"txn_id": txn_id, "account_id": "A0000001", "customer_id": "C0000001", "txn_ts": "2026-03-01 10:00:00",
           "amount": "12.50", "currency": "CNY", "direction": "DEBIT", "txn_type": "CARD_PURCHASE",
           "channel": "POS", "merchant_id": "M000001", "mcc": "5411", "country": "CN", "status": "POSTED",
           "updated_at": "2026-03-01 10:00:00"}
    row.update(over)
    return row


def test_rules_list_every_violation_in_rule_order_and_keep_only_rejected_records(spark):
    raw = _raw(spark, [
        _txn("T000000000001"),
        _txn("T000000000002", amount="12,50", currency="XXX", mcc="54A1"),
        _txn("T000000000003", account_id="A9999999", txn_ts="2026-03-09 00:00:00"),
        _txn(None, status=None),
    ])
    parents = {"accounts.account_id": spark.createDataFrame([("A0000001",)], "key string"),
               "customers.customer_id": spark.createDataFrame([("C0000001",)], "key string")}
    checked = apply_row_rules(with_known_parents(raw, TXN, parents), TXN, ParseOptions())
    got = {r["txn_id"]: r for r in checked.collect()}

    good = got["T000000000001"]
    assert good["_violations"] == [] and good["_raw_record"] is None
    assert good["amount"] == 12.5 and good["txn_ts"] == datetime(2026, 3, 1, 10)

    assert got["T000000000002"]["_violations"] == ["bad_type:amount", "not_allowed:currency", "bad_pattern:mcc"]
    assert '"amount":"12,50"' in got["T000000000002"]["_raw_record"]
    assert got["T000000000003"]["_violations"] == ["future_date:txn_ts", "unknown_reference:account_id"]
    assert got[None]["_violations"] == ["null_key:txn_id", "not_null:status"]
    assert not [c for c in checked.columns if c.startswith("_fk_")]


def test_split_dedup_keeps_the_same_rows_as_the_full_window(spark):
    rows = [(None, "no key", datetime(2026, 3, 1), date(2026, 3, 1), "f1")] * 2  # rejected later, never ranked
    for i in range(40):
        rows.append((f"K{i:03d}", f"v{i}", datetime(2026, 3, 1), date(2026, 3, 1), "f1"))
    for i in range(0, 40, 4):  # re-sent later with a newer version
        rows.append((f"K{i:03d}", f"v{i}-new", datetime(2026, 3, 2), date(2026, 3, 2), "f2"))
    for i in range(1, 40, 8):  # re-delivered unchanged in a later extract: the later extract wins the tie
        rows.append((f"K{i:03d}", f"v{i}", datetime(2026, 3, 1), date(2026, 3, 3), "f3"))
    df = spark.createDataFrame(rows, "txn_id string, value string, updated_at timestamp, _extract_date date, "
                                     "_source_file string")
    df = df.withColumn("_record_hash", record_hash(["txn_id", "value", "updated_at"]))
    repeated = repeated_keys(df, ["txn_id"])
    assert repeated.count() == 15
    assert repeated.agg(F.sum(F.col("_versions") - 1)).first()[0] == 15

    full = ranked_versions(df.where(F.col("txn_id").isNotNull()), TXN, ["txn_id"])
    once, repeats = split_repeated(df, ["txn_id"], repeated)
    assert once.columns == repeats.columns == df.columns
    assert once.count() + repeats.count() == df.count()  # every row on exactly one side
    assert once.where(F.col("txn_id").isNull()).count() == 2
    ranked = ranked_versions(repeats, TXN, ["txn_id"])
    split = once.where(F.col("txn_id").isNotNull()).unionByName(ranked.where("_rank = 1").drop("_rank"))
    assert sorted(split.collect()) == sorted(full.where("_rank = 1").drop("_rank").collect())
    assert ranked.where("_rank > 1").count() == full.where("_rank > 1").count() == 15
    latest = {r["txn_id"]: r for r in split.collect()}
    assert len(latest) == 40
    assert latest["K000"]["value"] == "v0-new"
    assert latest["K001"]["_source_file"] == "f3"
    assert latest["K002"]["_source_file"] == "f1"


def test_record_hash_tells_changes_apart(spark):
    df = spark.createDataFrame([("a", 1), ("a", 2), ("a", 1), (None, 1)], "k string, v int")
    hashes = [r[0] for r in df.select(record_hash(["k", "v"])).collect()]
    assert hashes[0] == hashes[2] and len(set(hashes)) == 3
    assert all(len(h) == 32 for h in hashes)
