"""The running window totals (7 to 365 days): carried from one snapshot to the next, they equal a from-scratch
sum exactly, through new days, days leaving each window, late records, corrections and retracted days."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from features.daily import CUSTOMER_DAILY, MEASURES
from features.profile.year_window import ACTIVITY_365D, carried_totals, year_totals

START = date(2025, 1, 1)


def _daily(spark, rows: list[dict]):
    """customer_daily rows from dicts naming only the measures they hold (the rest are 0 or empty)."""
    names = [f.name for f in MEASURES]
    given = {k for r in rows for k in r} - {"customer_id", "activity_date", "known_date"}
    assert given <= set(names), given - set(names)
    df = spark.createDataFrame(
        [(r["customer_id"], r["activity_date"], r["known_date"], *[r.get(n) for n in sorted(given)]) for r in rows],
        "customer_id string, activity_date date, known_date date"
        + "".join(f", `{n}` {next(f.type for f in MEASURES if f.name == n)}" for n in sorted(given)))
    cols = []
    for f in MEASURES:
        if f.name in given:
            cols.append(F.coalesce(F.col(f.name), F.lit(0)).cast(f.type).alias(f.name))
        elif f.type.startswith("array"):
            cols.append(F.array().cast(f.type).alias(f.name))
        else:
            cols.append(F.lit(0).cast(f.type).alias(f.name))
    return df.select("customer_id", "activity_date", "known_date", *cols).select(*CUSTOMER_DAILY.column_names)


def _rows(df) -> dict:
    return {r["customer_id"]: r.asDict() for r in df.collect()}


def _scratch(spark, daily, on: date) -> dict:
    return _rows(year_totals(daily, spark.createDataFrame([(on,)], "as_of_date date")))


@pytest.fixture(scope="module")
def history(spark):
    """Two years of activity for 30 customers: fractional amounts, deliveries up to 20 days late, corrections
    that retract a day's records or restate an amount, and e-commerce orders, some delivered up to 60 days late
    on their own and some of those withdrawn."""
    rnd = random.Random(7)
    rows = []
    for c in range(30):
        cid = f"C{c:02d}"
        for day in rnd.sample(range(730), rnd.randint(0, 40)):
            act = START + timedelta(days=day)
            late = rnd.random() < 0.3
            known = act + timedelta(days=rnd.randint(1, 20) if late else 0)
            n = rnd.randint(1, 3)
            amount = round(rnd.lognormvariate(4, 1.5), 6)
            row = dict(customer_id=cid, activity_date=act, known_date=known, txn_count=n, debit_amount=amount,
                       credit_amount=round(amount / 3, 4), fee_amount=round(rnd.random(), 6),
                       card_spend_amount=amount * 0.7, income_amount=rnd.random() * 10,
                       abroad_amount=amount if rnd.random() < 0.1 else 0.0, debit_amount_pos=amount / 2,
                       card_spend_grocery=round(amount * 0.7, 2), cash_out_amount=rnd.choice([0.0, 200.0]),
                       fund_purchase_amount=rnd.choice([0.0, 0.0, amount * 3]))
            if rnd.random() < 0.3:
                row.update(ecom_order_count=1, ecom_order_amount=amount / 2, ecom_amount_electronics=amount / 2)
            rows.append(row)
            if rnd.random() < 0.15:   # a correction retracts the day's records a few days later
                back = {k: (-v if isinstance(v, (int, float)) else v) for k, v in row.items()}
                back["known_date"] = known + timedelta(days=rnd.randint(1, 10))
                rows.append(back)
            elif rnd.random() < 0.15:  # or restates an amount, leaving the day's transaction count as it was
                rows.append(dict(customer_id=cid, activity_date=act, known_date=known + timedelta(
                    days=rnd.randint(1, 10)), debit_amount=round(rnd.uniform(-amount, amount), 6)))
            if rnd.random() < 0.1:    # an order of that day delivered late, on its own, and maybe withdrawn later
                order_known = act + timedelta(days=rnd.randint(1, 60))
                rows.append(dict(customer_id=cid, activity_date=act, known_date=order_known, ecom_order_count=1,
                                 ecom_order_amount=9.5, ecom_amount_electronics=9.5))
                if rnd.random() < 0.5:
                    rows.append(dict(customer_id=cid, activity_date=act, known_date=order_known + timedelta(days=3),
                                     ecom_order_count=-1, ecom_order_amount=-9.5, ecom_amount_electronics=-9.5))
    return _daily(spark, rows).cache()


@pytest.mark.parametrize("previous, gaps", [
    (date(2025, 12, 31), [1]),                 # a nightly step
    (date(2026, 3, 10), [1, 1, 5, 1]),         # a chain of nights, with a gap (a long weekend)
    (date(2026, 6, 1), [30]),                  # a month at once
    (date(2025, 3, 1), [400]),                 # a gap longer than the window
])
def test_carried_totals_equal_a_sum_from_scratch(spark, history, previous, gaps):
    on = previous
    state = year_totals(history, spark.createDataFrame([(on,)], "as_of_date date"))
    for gap in gaps:
        nxt = on + timedelta(days=gap)
        state = carried_totals(history, state, on, nxt).localCheckpoint()
        on = nxt
        assert _rows(state) == _scratch(spark, history, on), on
    assert state.columns == ACTIVITY_365D.column_names


def test_the_window_moves_corrections_count_and_a_retracted_latest_day_is_looked_up(spark):
    d = date
    daily = _daily(spark, [
        dict(customer_id="A", activity_date=d(2025, 6, 2), known_date=d(2025, 6, 2), txn_count=1, fee_amount=1.25),
        dict(customer_id="A", activity_date=d(2026, 5, 20), known_date=d(2026, 5, 20), txn_count=2,
             debit_amount=10.000001),
        dict(customer_id="A", activity_date=d(2026, 5, 30), known_date=d(2026, 5, 30), txn_count=1,
             debit_amount=5.0),
        # the 30 May record is retracted on 2 June: A's latest active day is 20 May again
        dict(customer_id="A", activity_date=d(2026, 5, 30), known_date=d(2026, 6, 2), txn_count=-1,
             debit_amount=-5.0),
        # B's late record: a day of May, delivered on 2 June
        dict(customer_id="B", activity_date=d(2026, 5, 10), known_date=d(2026, 6, 2), txn_count=1,
             ecom_order_count=1, ecom_order_amount=3.0),
    ])
    before = year_totals(daily, spark.createDataFrame([(d(2026, 6, 1),)], "as_of_date date"))
    a = _rows(before)["A"]
    assert (a["txn_count"], a["active_days"], a["last_txn_date"], a["fee_micro"], a["debit_micro"]) == \
        (4, 3, d(2026, 5, 30), 1_250_000, 15_000_001)
    assert "B" not in _rows(before)
    after = _rows(carried_totals(daily, before, d(2026, 6, 1), d(2026, 6, 2)))
    # 2 June 2025 left the window, 30 May was retracted, 20 May is the latest active day
    assert (after["A"]["txn_count"], after["A"]["active_days"], after["A"]["last_txn_date"],
            after["A"]["fee_micro"], after["A"]["debit_micro"]) == (2, 1, d(2026, 5, 20), 0, 10_000_001)
    assert (after["B"]["txn_count"], after["B"]["last_order_date"], after["B"]["ecom_micro"]) == \
        (1, d(2026, 5, 10), 3_000_000)
    assert after == _scratch(spark, daily, d(2026, 6, 2))


def test_carrying_backwards_is_refused(spark, history):
    state = year_totals(history, spark.createDataFrame([(date(2026, 1, 1),)], "as_of_date date"))
    with pytest.raises(ValueError, match="go forward"):
        carried_totals(history, state, date(2026, 1, 1), date(2026, 1, 1))


def test_a_fold_after_the_snapshot_that_restates_its_days_is_noticed(spark):
    from jobs.features import _restated

    daily = spark.createDataFrame(
        [("transactions", 3, date(2026, 1, 1)), ("transactions", 5, date(2026, 1, 3)),
         ("ecommerce_orders", 2, date(2026, 1, 2))], "source string, source_version bigint, known_date date")
    on = date(2026, 1, 2)
    assert not _restated(daily, {"transactions": 5, "ecommerce_orders": 2}, on)
    assert not _restated(daily, {"transactions": 4, "ecommerce_orders": 2}, on)   # version 5 came after the 2nd
    assert _restated(daily, {"transactions": 2, "ecommerce_orders": 2}, on)       # version 3 restated the 1st
    assert _restated(daily, {"transactions": 5}, on)                              # orders never seen then


def test_the_short_windows_move_with_the_date_and_take_late_records(spark):
    d = date
    daily = _daily(spark, [
        # 25 May: leaves the 7-day window on 1 June, stays in the 30-day one
        dict(customer_id="A", activity_date=d(2026, 5, 25), known_date=d(2026, 5, 25), txn_count=1,
             debit_amount=4.0, debit_amount_pos=4.0, card_spend_amount=4.0, card_spend_grocery=4.0),
        # 3 March: in the 90-day window of 31 May, not of 1 June; in the trend's 120 days on both
        dict(customer_id="A", activity_date=d(2026, 3, 3), known_date=d(2026, 3, 3), txn_count=2,
             card_spend_amount=9.5, cash_out_amount=100.0),
        # 29 May, and a record of that day known only on 1 June
        dict(customer_id="A", activity_date=d(2026, 5, 29), known_date=d(2026, 5, 29), txn_count=1,
             transfer_out_amount=50.0, ecom_order_count=1, ecom_order_amount=20.0),
        dict(customer_id="A", activity_date=d(2026, 5, 29), known_date=d(2026, 6, 1), txn_count=1,
             fund_purchase_amount=1000.0),
    ])
    state = year_totals(daily, spark.createDataFrame([(d(2026, 5, 31),)], "as_of_date date"))
    b = _rows(state)["A"]
    assert (b["txn_count_7d"], b["active_days_7d"], b["txn_count_90d"], b["active_days_90d"]) == (2, 2, 4, 3)
    assert (b["cash_out_micro_90d"], b["card_spend_micro_120d"], b["fund_purchase_micro_90d"]) == \
        (100_000_000, 13_500_000, 0)
    after = _rows(carried_totals(daily, state, d(2026, 5, 31), d(2026, 6, 1)))
    a = after["A"]
    assert (a["txn_count_7d"], a["active_days_7d"], a["txn_count_30d"], a["active_days_30d"]) == (2, 1, 3, 2)
    assert (a["txn_count_90d"], a["active_days_90d"], a["cash_out_micro_90d"]) == (3, 2, 0)
    assert (a["debit_pos_micro_90d"], a["card_spend_grocery_micro_90d"], a["card_spend_micro_120d"]) == \
        (4_000_000, 4_000_000, 13_500_000)
    assert (a["fund_purchase_micro_90d"], a["transfer_out_micro_90d"], a["ecom_order_count_90d"]) == \
        (1_000_000_000, 50_000_000, 1)
    assert (a["txn_count"], a["active_days"]) == (5, 3)
    assert after == _scratch(spark, daily, d(2026, 6, 1))


def test_a_snapshot_an_earlier_release_built_is_not_carried(spark, history):
    from jobs.features import _built_from

    on = date(2026, 1, 1)
    state = year_totals(history, spark.createDataFrame([(on,)], "as_of_date date")).withColumn(
        "daily_watermarks", F.create_map(F.lit("transactions"), F.lit(7).cast("bigint")))
    assert _built_from(state) == {"transactions": 7}
    assert _built_from(state.where(F.lit(False))) is None                        # no snapshot that day
    assert _built_from(state.drop("txn_count_7d", "active_days_90d")) is None     # the 365-day layout only
    assert _built_from(state.withColumn("card_spend_micro_120d", F.lit(None).cast("bigint"))) is None  # added since
