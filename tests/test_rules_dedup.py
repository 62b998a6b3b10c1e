"""Row rules and de-duplication on inline rows: exact verdicts, the record kept only for rejected rows, and the
broadcast (narrow) de-duplication path agreeing with the full window path."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import functions as F

from pipelines.contracts import contract
from pipelines.ingest.dedup import ranked_versions, record_hash, repeated_keys, split_repeated
from pipelines.ingest.rules import ParseOptions, apply_row_rules, typed_sql, with_known_parents

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


def test_iso_formats_parse_with_a_plain_cast_exactly_as_the_formatted_parse_did(spark):
    # typed_sql skips the formatted parse for the ISO formats: every value that parse reads, the cast it falls
    # back to reads to the same instant, so the typed value and the verdict stay what they were.
    values = ["2026-01-29 09:09:21", "2026-1-29 09:09:21", "2026-01-29 9:09:21", "2026-01-29T09:09:21",
              "2026-01-29", "26-01-29 09:09:21", "2026-02-30 10:00:00", "2026-01-29 24:00:00",
              "12026-01-29 09:09:21", "+2026-01-29 09:09:21", "2026-01-29 09:09:21.123", "2026-01-29 09:09",
              "2026-01-29 09:09:21Z", "2026/01/29 09:09:21", "20260129", "abc", None]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    rows = df.selectExpr(
        "v",
        "try_to_timestamp(v, 'yyyy-MM-dd HH:mm:ss') IS NOT NULL AS ts_read",
        "try_cast(v AS timestamp) <=> try_to_timestamp(v, 'yyyy-MM-dd HH:mm:ss') AS ts_same",
        "try_to_timestamp(v, 'yyyy-MM-dd') IS NOT NULL AS d_read",
        "try_cast(v AS date) <=> cast(try_to_timestamp(v, 'yyyy-MM-dd') AS date) AS d_same",
    ).collect()
    assert [r["v"] for r in rows if r["ts_read"]] == ["2026-01-29 09:09:21"]
    assert [r["v"] for r in rows if r["ts_read"] and not r["ts_same"]] == []
    assert [r["v"] for r in rows if r["d_read"]] == ["2026-01-29"]
    assert [r["v"] for r in rows if r["d_read"] and not r["d_same"]] == []
    # and the rules take the cast for the default formats, the formatted parse (then the cast) for any other
    ts = contract("transactions").column("txn_ts")
    assert typed_sql(ts, "`x`", ParseOptions()) == "try_cast(`x` AS timestamp)"
    assert "try_to_timestamp" in typed_sql(ts, "`x`", ParseOptions(timestamp_format="dd/MM/yyyy HH:mm"))


def test_older_versions_names_each_superseded_accepted_row_by_either_path(spark):
    from jobs.ingest import _older_versions
    from jobs.spark import release

    rows = []  # (txn_id, value, updated_at, _extract_date, _source_file, _rule)
    for i in range(20):
        rows.append((f"K{i:02d}", f"v{i}", datetime(2026, 3, 1), date(2026, 3, 1), "f1", None))
    for i in range(0, 20, 4):  # a newer version later: the first delivery is superseded
        rows.append((f"K{i:02d}", f"v{i}-new", datetime(2026, 3, 2), date(2026, 3, 2), "f2", None))
    rows.append(("K01", "v1", datetime(2026, 3, 1), date(2026, 3, 1), "f1", None))  # the same line twice
    rows.append(("K02", "v2-bad", datetime(2026, 3, 5), date(2026, 3, 5), "f3", "bad_type:amount"))  # rejected
    df = spark.createDataFrame([(*r, n) for n, r in enumerate(rows)],
                               "txn_id string, value string, updated_at timestamp, _extract_date date, "
                               "_source_file string, _rule string, _row_id bigint")
    accepted = df.where(F.col("_rule").isNull()).withColumn("_record_hash", record_hash(["txn_id", "value"]))
    superseded = {0, 4, 8, 12, 16}  # the first deliveries of the re-sent keys
    for max_keys in (1000, 0):  # the repeated keys broadcast, or too many of them: the whole batch ranked
        older = _older_versions(accepted, TXN, max_keys)
        ids = {r["_row_id"] for r in older.collect()}
        release(older)
        # one of the two identical K01 rows (row 1 or row 25) is the duplicate; the rejected K02 never counts
        assert len(ids) == 6 and superseded < ids and len(ids & {1, 25}) == 1
    none = _older_versions(accepted.where(F.col("txn_id") != "K01").dropDuplicates(["txn_id"]), TXN, 1000)
    assert none.count() == 0
