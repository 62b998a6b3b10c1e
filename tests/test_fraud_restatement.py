"""The nightly gold.txn_features build on a real Delta silver.transactions: day D is built whole, and the earlier
days of the restate horizon only for the customers whose history late or corrected records reached since those
days were built."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import functions as F
from silver_rows import versions

from jobs.fraud import FEATURES_TABLE, SOURCE_VERSION, TRANSACTIONS, build_txn_features, nightly_txn_features
from jobs.tables import build_catalog
from conftest import settings_for

D = date(2026, 3, 10)
CUSTOMERS = ("C1", "C2", "C3")


def _card(txn_id: str, customer: str, day: date, hour: int, amount: float, extract: date | None = None) -> dict:
    ts = datetime.combine(day, time(hour))
    return dict(txn_id=txn_id, account_id=f"A_{customer}", customer_id=customer, txn_ts=ts,
                amount=Decimal(f"{amount:.2f}"), currency="CNY", direction="DEBIT", txn_type="CARD_PURCHASE",
                channel="POS", merchant_id="M1", mcc="5411", country="CN", device_id=None, status="POSTED",
                updated_at=ts, _extract_date=extract or day)


# two purchases a day per customer on D-6 .. D
ROWS = [_card(f"T{c}_{k}_{h}", c, D - timedelta(k), h, 100 + 10 * k + h)
        for c in CUSTOMERS for k in range(6, -1, -1) for h in (9, 15)]


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("restate"), "models.fraud.restate_days=3")
    catalog = build_catalog(settings)
    catalog.append(spark, TRANSACTIONS, versions(spark, "transactions", ROWS))
    return settings, catalog


def _day(spark, catalog, day: date):
    return {r["txn_id"]: r for r in catalog.read(spark, FEATURES_TABLE).where(F.col("txn_date") == day).collect()}


def test_nightly_build_restates_only_what_late_records_reached(spark, lake):
    settings, catalog = lake
    build_txn_features(spark, settings, D - timedelta(6), D - timedelta(4), catalog=catalog)

    # the first night: the horizon days were never built, so they are built whole with the day
    first = nightly_txn_features(spark, settings, D, catalog=catalog)
    assert (first.start, first.end, first.days, first.restated) == (D - timedelta(3), D, 4, [])
    assert first.rows == 4 * 2 * len(CUSTOMERS)

    # a rerun with nothing new: the day alone
    again = nightly_txn_features(spark, settings, D, catalog=catalog)
    assert (again.start, again.end, again.days, again.restated) == (D, D, 1, [])
    before = {d: _day(spark, catalog, d) for d in (D - timedelta(3), D - timedelta(2), D - timedelta(1))}

    # a late record for C1 dated D-2 (delivered in D's extract): C1 is restated from D-2, no one else
    catalog.append(spark, TRANSACTIONS, versions(spark, "transactions",
                                                 [_card("TC1_late", "C1", D - timedelta(2), 20, 900, extract=D)]))
    late = nightly_txn_features(spark, settings, D, catalog=catalog)
    assert late.days == 1 and late.restated == [D - timedelta(2), D - timedelta(1)]
    assert late.restated_customers == 1 and late.restated_rows == 2 + 1 + 2
    version = catalog.version(spark, TRANSACTIONS)
    d2, d1 = _day(spark, catalog, D - timedelta(2)), _day(spark, catalog, D - timedelta(1))
    assert d2["TC1_late"]["prior_txn_count"] == 4 * 2 + 2              # its own features: D-6 .. D-3, then D-2's two
    # the late record is now in the history of C1's later transactions
    assert d1["TC1_1_9"]["prior_txn_count"] == before[D - timedelta(1)]["TC1_1_9"]["prior_txn_count"] + 1
    assert d1["TC1_1_9"]["seconds_since_prev_txn"] == (9 + 24 - 20) * 3600
    # everyone else's rows are as they were, and every row of the restated days holds for tonight's version
    for day, rows in ((D - timedelta(2), d2), (D - timedelta(1), d1)):
        for txn_id, row in before[day].items():
            if row["customer_id"] != "C1":
                assert row.asDict() | {SOURCE_VERSION: version} == rows[txn_id].asDict(), txn_id
        assert {r[SOURCE_VERSION] for r in rows.values()} == {version}
    # D-3 is older than the late record: untouched
    assert _day(spark, catalog, D - timedelta(3)) == before[D - timedelta(3)]

    # the same night again: the late record is already in, the day alone is built
    assert nightly_txn_features(spark, settings, D, catalog=catalog).restated == []

    # a correction of C2's transaction of D-5, before the horizon: C2's history changed on every horizon day,
    # and D-5 itself (closed) is not rebuilt
    d5 = _day(spark, catalog, D - timedelta(5))
    catalog.delta(spark, TRANSACTIONS).update(F.col("txn_id") == "TC2_5_9",
                                              {"status": F.lit("DECLINED"), "_extract_date": F.lit(D)})
    corrected = nightly_txn_features(spark, settings, D, catalog=catalog)
    assert corrected.restated == [D - timedelta(3), D - timedelta(2), D - timedelta(1)]
    assert corrected.restated_customers == 1
    assert _day(spark, catalog, D - timedelta(5)) == d5
    d3 = _day(spark, catalog, D - timedelta(3))
    # a declined transaction is not posted history: C2 has one earlier posted transaction fewer
    assert d3["TC2_3_9"]["prior_txn_count"] == before[D - timedelta(3)]["TC2_3_9"]["prior_txn_count"] - 1
    assert d3["TC1_3_9"]["prior_txn_count"] == before[D - timedelta(3)]["TC1_3_9"]["prior_txn_count"]


def test_a_table_built_before_versions_were_recorded_restates_the_horizon_whole(spark, tmp_path):
    settings = settings_for(tmp_path, "models.fraud.restate_days=2")
    catalog = build_catalog(settings)
    catalog.append(spark, TRANSACTIONS, versions(spark, "transactions", ROWS))
    build_txn_features(spark, settings, D - timedelta(2), D, catalog=catalog)
    catalog.delta(spark, FEATURES_TABLE).update(F.col("txn_date") == D - timedelta(1),
                                                {SOURCE_VERSION: F.lit(None).cast("bigint")})
    build = nightly_txn_features(spark, settings, D, catalog=catalog)
    # D-1 has no version: rebuilt whole; D-2 holds for the current version: nothing to restate
    assert (build.start, build.end, build.days, build.restated) == (D - timedelta(1), D, 2, [])
