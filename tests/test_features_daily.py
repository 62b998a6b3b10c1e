"""customer_daily on inline rows: exact aggregates, signed corrections, point-in-time reads, e-commerce links,
and the change feed of a real Delta table turned into signed rows."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import functions as F

from features.changes import signed_changes
from features.daily import (CUSTOMER_DAILY, as_known, customer_daily, customer_links, ecommerce_activity,
                            transaction_activity)
from features.reference import merchant_group

TXN_COLS = ("txn_id string, customer_id string, txn_ts timestamp, amount decimal(18,2), currency string, "
            "direction string, txn_type string, channel string, mcc string, counterparty_account string, "
            "country string, status string, _sign int, known_date date")
D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


def _txn(txn_id, customer, ts, amount, direction, txn_type, channel="MOBILE", mcc=None, counterparty=None,
         currency="CNY", country="CN", status="POSTED", sign=1, known=None):
    return (txn_id, customer, ts, amount, currency, direction, txn_type, channel, mcc, counterparty, country, status,
            sign, known or ts.date())


@pytest.fixture(scope="module")
def txns(spark):
    from decimal import Decimal as Dec
    t = datetime
    rows = [
        _txn("T1", "C1", t(2026, 3, 1, 9), Dec("100.00"), "DEBIT", "CARD_PURCHASE", "POS", mcc="5411"),
        _txn("T2", "C1", t(2026, 3, 1, 12), Dec("50.00"), "DEBIT", "CARD_PURCHASE", "ECOM", mcc="4511",
             currency="USD", country="US"),
        _txn("T3", "C1", t(2026, 3, 1, 18), Dec("8000.00"), "CREDIT", "SALARY", "ONLINE"),
        _txn("T4", "C1", t(2026, 3, 1, 19), Dec("300.00"), "DEBIT", "TRANSFER_OUT", counterparty="X1"),
        _txn("T5", "C1", t(2026, 3, 1, 20), Dec("200.00"), "DEBIT", "TRANSFER_OUT", counterparty="X2"),
        _txn("T6", "C1", t(2026, 3, 1, 21), Dec("999.00"), "DEBIT", "CARD_PURCHASE", "POS", mcc="7011",
             status="DECLINED"),
        _txn("T7", "C1", t(2026, 3, 1, 22), Dec("500.00"), "DEBIT", "CASH_WITHDRAWAL", "ATM"),
        # a late record for day 1, delivered on day 3
        _txn("T8", "C1", t(2026, 3, 1, 23), Dec("40.00"), "DEBIT", "CARD_PURCHASE", "POS", mcc="5812", known=D3),
        # T1 corrected on day 2: reversed (retract the posted version, add the reversed one)
        _txn("T1", "C1", t(2026, 3, 1, 9), Dec("100.00"), "DEBIT", "CARD_PURCHASE", "POS", mcc="5411",
             sign=-1, known=D2),
        _txn("T1", "C1", t(2026, 3, 1, 9), Dec("100.00"), "DEBIT", "CARD_PURCHASE", "POS", mcc="5411",
             status="REVERSED", known=D2),
        _txn("T9", "C2", t(2026, 3, 2, 10), Dec("1000.00"), "CREDIT", "CASH_DEPOSIT", "BRANCH"),
    ]
    return spark.createDataFrame(rows, TXN_COLS)


def test_transaction_aggregates_are_exact_per_delivery(txns):
    rows = {(r["customer_id"], r["activity_date"], r["known_date"]): r
            for r in transaction_activity(txns).collect()}
    assert set(rows) == {("C1", D1, D1), ("C1", D1, D2), ("C1", D1, D3), ("C2", D2, D2)}
    day1 = rows[("C1", D1, D1)]
    assert day1["txn_count"] == 6                      # the declined one is not posted
    assert day1["card_spend_amount"] == pytest.approx(100 + 50 * 7.10)
    assert day1["card_spend_grocery"] == 100 and day1["card_spend_travel"] == pytest.approx(355.0)
    assert day1["debit_amount_pos"] == 100 and day1["debit_amount_ecom"] == pytest.approx(355.0)
    assert day1["salary_amount"] == 8000 and day1["income_amount"] == 8000 and day1["credit_amount_online"] == 8000
    assert day1["transfer_out_count"] == 2 and day1["transfer_out_amount"] == 500
    assert day1["transfer_counterparties"] == ["X1", "X2"]
    assert day1["cash_out_amount"] == 500 and day1["cash_out_count"] == 1
    assert day1["abroad_amount"] == pytest.approx(355.0) and day1["abroad_count"] == 1
    assert day1["declined_count"] == 1
    correction = rows[("C1", D1, D2)]
    assert correction["txn_count"] == -1 and correction["card_spend_grocery"] == -100
    assert rows[("C1", D1, D3)]["card_spend_dining"] == 40


def test_as_known_never_sees_a_record_delivered_after_the_as_of_date(txns):
    daily = customer_daily(txns, None, None)
    assert daily.columns == CUSTOMER_DAILY.column_names

    def day1(as_of):
        return {r["customer_id"]: r for r in as_known(daily, as_of).collect() if r["activity_date"] == D1}["C1"]

    assert day1(D1)["card_spend_amount"] == pytest.approx(455.0)          # T1 still posted
    assert day1(D2)["card_spend_amount"] == pytest.approx(355.0)          # T1 reversed
    assert day1(D2)["card_spend_dining"] == 0                             # T8 not delivered yet
    assert day1(D3)["card_spend_dining"] == 40 and day1(D3)["txn_count"] == 6
    assert {r["customer_id"] for r in as_known(daily, D1).collect()} == {"C1"}


def test_ecommerce_orders_link_by_unique_phone_then_email(spark):
    customers = spark.createDataFrame(
        [("C1", "p1", "e1"), ("C2", "p2", "shared"), ("C3", "p3", "shared")],
        "customer_id string, phone_token string, email_token string")
    links = customer_links(customers)
    assert {r["token"]: r["customer_id"] for r in links.collect()} == {"p1": "C1", "e1": "C1", "p2": "C2",
                                                                      "p3": "C3"}
    orders = spark.createDataFrame([
        ("O1", "p1", None, datetime(2026, 3, 1, 8), 200.0, "CNY", 2, "FASHION", "COMPLETED", 1, D1),
        ("O2", None, "e1", datetime(2026, 3, 1, 9), 100.0, "USD", 1, "TRAVEL", "COMPLETED", 1, D1),
        ("O3", "p9", "shared", datetime(2026, 3, 1, 9), 80.0, "CNY", 1, "HOME", "COMPLETED", 1, D1),
        ("O4", "p2", None, datetime(2026, 3, 1, 9), 60.0, "CNY", 1, "HOME", "CANCELLED", 1, D1),
    ], "order_id string, phone_token string, email_token string, order_ts timestamp, amount double, "
       "currency string, item_count int, category string, status string, _sign int, known_date date")
    got = {r["customer_id"]: r for r in ecommerce_activity(orders, links).collect()}
    assert set(got) == {"C1", "C2"}                                       # O3's tokens identify nobody
    assert got["C1"]["ecom_order_count"] == 2 and got["C1"]["ecom_item_count"] == 3
    assert got["C1"]["ecom_order_amount"] == pytest.approx(200 + 710.0)
    assert got["C1"]["ecom_amount_travel"] == pytest.approx(710.0)
    assert got["C2"]["ecom_order_count"] == 0                             # cancelled


def test_merchant_groups(spark):
    df = spark.createDataFrame([("5411",), ("3512",), ("4511",), ("1234",), (None,)], "mcc string")
    assert [r[0] for r in df.select(merchant_group(F.col("mcc"))).collect()] == [
        "grocery", "travel", "travel", "other", None]


def test_signed_changes_from_a_real_delta_change_feed(spark, tmp_path):
    from delta.tables import DeltaTable

    path = str(tmp_path / "silver_txn")
    schema = "txn_id string, customer_id string, amount double, status string, _extract_date date"
    first = spark.createDataFrame([("T1", "C1", 10.0, "POSTED", D1), ("T2", "C1", 5.0, "POSTED", D1)], schema)
    (DeltaTable.create(spark).location(path).addColumns(first.schema)
     .property("delta.enableChangeDataFeed", "true").execute())
    first.write.format("delta").mode("append").save(path)
    correction = spark.createDataFrame([("T1", "C1", 10.0, "REVERSED", D2), ("T3", "C2", 7.0, "POSTED", D2)], schema)
    (DeltaTable.forPath(spark, path).alias("t").merge(correction.alias("s"), "t.txn_id = s.txn_id")
     .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
    feed = spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0).load(path)
    got = sorted((r["txn_id"], r["status"], r["_sign"], r["known_date"])
                 for r in signed_changes(feed, ["txn_id"]).collect())
    assert got == [("T1", "POSTED", -1, D2), ("T1", "POSTED", 1, D1), ("T1", "REVERSED", 1, D2),
                   ("T2", "POSTED", 1, D1), ("T3", "POSTED", 1, D2)]
