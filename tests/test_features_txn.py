"""txn_features on inline silver rows: exact amount, velocity (across midnight), first-seen, night, card-testing
and merchant-risk values; no leakage from later transactions or from labels not yet known; reasons that say
what the features say."""

from __future__ import annotations

import statistics
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from silver_rows import versions

from features.merchant_risk import merchant_fraud_by_day
from features.txn import (TXN_FEATURES, ReasonThresholds, TxnFeatureParams, merchant_fraud_counts, reasons,
                          transaction_features)

D = date(2026, 3, 10)


def at(days: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A UTC timestamp `days` from D."""
    return datetime.combine(D + timedelta(days=days), time(hour, minute, second))


def _row(txn_id, customer, ts, amount, direction, txn_type, channel, merchant, mcc, country, device, status,
         currency, account):
    return dict(txn_id=txn_id, account_id=account or f"A_{customer}", customer_id=customer, txn_ts=ts,
                amount=Decimal(f"{amount:.2f}"), currency=currency, direction=direction, txn_type=txn_type,
                channel=channel, merchant_id=merchant, mcc=mcc, country=country, device_id=device, status=status,
                updated_at=ts, _extract_date=ts.date())


def card(txn_id, customer, ts, amount, merchant="M1", mcc="5411", channel="POS", country="CN", device=None,
         status="POSTED", currency="CNY", account=None):
    return _row(txn_id, customer, ts, amount, "DEBIT", "CARD_PURCHASE", channel, merchant, mcc, country, device,
                status, currency, account)


def other(txn_id, customer, ts, amount, txn_type, direction="DEBIT", channel="MOBILE", country="CN", device=None,
          status="POSTED"):
    return _row(txn_id, customer, ts, amount, direction, txn_type, channel, None, None, country, device, status,
                "CNY", None)


def silver_txns(spark, rows):
    return versions(spark, "transactions", rows).drop("_extract_date", "_source_file")


AMOUNT_HISTORY = [100, 200, 300, 400, 500]
HISTORY = [
    # amounts: five posted debits, one reversed later (it was posted), one declined, a salary, one too old
    *[card(f"TA{i}", "C_AMT", at(-21 + i, 10), a) for i, a in enumerate(AMOUNT_HISTORY, start=1)],
    card("TA6", "C_AMT", at(-15, 10), 600, status="REVERSED"),
    card("TA7", "C_AMT", at(-14, 10), 9999, status="DECLINED"),
    other("TA8", "C_AMT", at(-13, 10), 8000, "SALARY", direction="CREDIT", channel="ONLINE"),
    card("TA0", "C_AMT", at(-95, 10), 50000),
    card("TAZ", "C_AMT", at(-90, 5), 70000),   # in the day's 90-day reach, but 90 days + 5 h before TA9
    card("TS1", "C_SHORT", at(-5, 10), 100),
    card("TS2", "C_SHORT", at(-4, 10), 300),
    # velocity: windows end at 00:30 / 00:45 on D and reach into D-1 and D-7
    card("TV1", "C_VEL", at(-8, 12), 1000),
    card("TV2", "C_VEL", at(-7, 1), 70),
    card("TV3", "C_VEL", at(-1, 0, 29), 10),
    card("TV4", "C_VEL", at(-1, 0, 30), 20),
    card("TV5", "C_VEL", at(-1, 23, 50), 40),
    other("TV6", "C_VEL", at(-1, 23, 55), 5000, "SALARY", direction="CREDIT", channel="ONLINE"),
    card("TV7", "C_VEL", at(-1, 23, 58), 15, status="DECLINED"),
    # first seen
    card("TF1", "C_SEEN", at(-30, 9), 80, merchant="M1", mcc="5411"),
    card("TF2", "C_SEEN", at(-29, 9), 90, merchant="M2", mcc="5399", channel="ECOM", device="D1"),
    other("TF3", "C_SEEN", at(-28, 9), 500, "TRANSFER_OUT", device="D1"),
    card("TF4", "C_SEEN", at(-27, 9), 70, merchant="M9", mcc="5732", channel="ECOM", country="JP", device="D9",
         status="DECLINED"),
    card("TF5", "C_SEEN", at(-95, 9), 60, merchant="M5", mcc="5812", country="FR"),
    # card testing: one ordinary purchase days before
    card("TC0", "C_CT", at(-3, 12), 3000, merchant="M0", mcc="5411", account="A_CARD"),
    # merchant risk
    card("TM0", "C_MR", at(-3, 12), 100, merchant="M0"),
]
DAY = [
    card("TA9", "C_AMT", at(0, 10), 4200),
    card("TAA", "C_AMT", at(0, 11), 300),
    other("TAB", "C_AMT", at(0, 12), 1000, "TRANSFER_IN", direction="CREDIT"),
    card("TS3", "C_SHORT", at(0, 12), 1000),
    card("TN0", "C_NONE", at(0, 12), 250),
    card("TV8", "C_VEL", at(0, 0, 30), 100),
    card("TV9", "C_VEL", at(0, 0, 45), 200),
    card("TVA", "C_VEL", at(0, 0, 45), 300),  # the same instant as TV9, a higher txn_id: after it
    card("TF6", "C_SEEN", at(0, 9, 0), 80, merchant="M1", mcc="5411"),
    card("TF7", "C_SEEN", at(0, 9, 10), 85, merchant="M3", mcc="5411", channel="ECOM", country="US", device="D2"),
    other("TF8", "C_SEEN", at(0, 9, 20), 400, "TRANSFER_OUT", device="D1"),
    card("TF9", "C_SEEN", at(0, 9, 30), 70, merchant="M9", mcc="5732", channel="ECOM", country="JP", device="D9"),
    card("TFA", "C_SEEN", at(0, 9, 40), 60, merchant="M5", mcc="5812", country="FR"),
    other("TFB", "C_SEEN", at(0, 9, 50), 300, "CASH_WITHDRAWAL", channel="ATM"),
    card("TFC", "C_SEEN", at(0, 10, 0), 90, merchant="M3", mcc="5411", country="US"),
    # card testing on A_CARD: small USD authorisations at two merchants, then the cash-out
    card("TC1", "C_CT", at(0, 10, 0, 0), 3, merchant="MA", mcc="5399", channel="ECOM", country="US", device="DX",
         currency="USD", account="A_CARD"),
    card("TC2", "C_CT", at(0, 10, 0, 40), 2, merchant="MB", mcc="5399", channel="ECOM", country="US", device="DX",
         currency="USD", account="A_CARD", status="DECLINED"),
    card("TC3", "C_CT", at(0, 10, 1, 20), 4, merchant="MA", mcc="5399", channel="ECOM", country="US", device="DX",
         currency="USD", account="A_CARD"),
    card("TC4", "C_CT", at(0, 10, 2), 5, merchant="MD", mcc="5399", account="A_OTHER"),   # another account
    card("TC5", "C_CT", at(0, 10, 3), 60, merchant="MA", mcc="5399", account="A_CARD"),   # not small
    card("TC6", "C_CT", at(0, 10, 5), 6000, merchant="MC", mcc="5732", account="A_CARD"),
    card("TC7", "C_CT", at(0, 10, 10, 30), 10, merchant="MA", mcc="5399", account="A_CARD"),
    # night in UTC+8: local midnight is 16:00 UTC
    card("TN1", "C_NIGHT", at(0, 15, 59, 59), 50),
    card("TN2", "C_NIGHT", at(0, 16, 0, 0), 50),
    card("TN3", "C_NIGHT", at(0, 21, 59, 59), 50),
    card("TN4", "C_NIGHT", at(0, 22, 0, 0), 50),
    card("TMX", "C_MR", at(0, 12), 100, merchant="MX"),
    card("TMY", "C_MR", at(0, 13), 100, merchant="MY"),
    card("TMZ", "C_MR", at(0, 14), 100, merchant="MZ"),
    other("TMT", "C_MR", at(0, 15), 100, "TRANSFER_OUT"),
]
# Other customers' transactions at MX and MY in the 30 days before D, and the fraud labels on some of them.
MERCHANT_TXNS = [
    card("F1", "C_X1", at(-10, 12), 500, merchant="MX"),   # confirmed on D-2: known
    card("F2", "C_X2", at(-5, 12), 500, merchant="MX"),    # confirmed at 00:00 on D: not known on D
    card("N1", "C_X3", at(-9, 12), 50, merchant="MX"),
    card("N2", "C_X4", at(-8, 12), 50, merchant="MX"),
    card("N3", "C_X5", at(-1, 23), 50, merchant="MX"),
    card("F4", "C_X6", at(-40, 12), 500, merchant="MX"),   # before the 30 days
    card("F3", "C_X7", at(-3, 12), 500, merchant="MY"),    # confirmed on D+3
    card("F5", "C_X8", at(-6, 12), 500, merchant="MY"),    # confirmed one second before D
    card("N4", "C_X9", at(-2, 12), 50, merchant="MY"),
]
LABELS = [
    ("F1", at(-2, 12)), ("F2", at(0, 0)), ("F3", at(3, 9)), ("F4", at(-20, 9)), ("F5", at(-1, 23, 59, 59)),
]


@pytest.fixture(scope="module")
def silver(spark):
    labels = versions(spark, "fraud_labels", [
        dict(txn_id=t, label_ts=ts, fraud_type="OTHER", label_source="CHARGEBACK", _extract_date=ts.date())
        for t, ts in LABELS]).drop("_extract_date", "_source_file")
    return dict(history=silver_txns(spark, HISTORY + DAY), day=silver_txns(spark, DAY), labels=labels,
                merchant_txns=silver_txns(spark, MERCHANT_TXNS))


@pytest.fixture(scope="module")
def merchant_fraud(silver):
    return merchant_fraud_counts(silver["labels"], silver["merchant_txns"], D, days=30)


@pytest.fixture(scope="module")
def features_df(silver, merchant_fraud):
    out = transaction_features(silver["day"], silver["history"], merchant_fraud).cache()
    yield out
    out.unpersist()


@pytest.fixture(scope="module")
def features(features_df):
    return {r["txn_id"]: r.asDict() for r in features_df.collect()}


def test_every_transaction_of_the_day_gets_one_documented_row(features_df, features):
    assert features_df.columns == TXN_FEATURES.column_names
    assert all(f.description for f in TXN_FEATURES.features)
    assert set(features) == {r["txn_id"] for r in DAY}
    assert {r["txn_date"] for r in features.values()} == {D}


def test_amount_against_the_customers_usual(features):
    prior = AMOUNT_HISTORY + [600]            # posted debits; the reversed one was posted at the time
    f = features["TA9"]
    assert f["prior_debit_count"] == 6 and f["prior_txn_count"] == 7     # + the salary; not the declined
    assert f["usual_amount_cny"] == pytest.approx(statistics.geometric_mean(prior))      # 299.38
    assert f["amount_zscore"] == pytest.approx((4200 - statistics.mean(prior)) / statistics.stdev(prior))
    assert f["amount_percentile"] == 1.0
    assert f["amount_to_usual_ratio"] == pytest.approx(4200 / statistics.geometric_mean(prior))   # 14.03
    assert f["seconds_since_prev_txn"] == 13 * 86400.0                   # the salary, 13 days before
    # an hour later the 4200 is part of the history, and 300 is the third smallest of seven
    g = features["TAA"]
    prior.append(4200)
    assert g["prior_debit_count"] == 7
    assert g["usual_amount_cny"] == pytest.approx(statistics.geometric_mean(prior))
    assert g["amount_percentile"] == pytest.approx(3 / 7)
    assert g["amount_to_usual_ratio"] == pytest.approx(300 / statistics.geometric_mean(prior))
    assert g["amount_zscore"] == pytest.approx((300 - statistics.mean(prior)) / statistics.stdev(prior))
    # money in is not compared
    credit = features["TAB"]
    assert credit["prior_debit_count"] == 8
    assert credit["amount_zscore"] is None and credit["amount_percentile"] is None
    assert credit["amount_to_usual_ratio"] is None


def test_too_little_history_gives_nulls_not_guesses(features):
    short = features["TS3"]
    assert short["prior_debit_count"] == 2
    assert short["usual_amount_cny"] == pytest.approx(statistics.geometric_mean([100, 300]))
    assert short["amount_zscore"] is None and short["amount_percentile"] is None
    assert short["amount_to_usual_ratio"] is None
    new = features["TN0"]
    assert new["prior_debit_count"] == 0 and new["prior_txn_count"] == 0
    assert new["usual_amount_cny"] is None and new["seconds_since_prev_txn"] is None
    assert new["debit_count_7d"] == 0 and new["debit_amount_7d"] == 0.0
    assert not any(new[f"is_new_{a}"] for a in ("merchant", "mcc", "country", "device", "channel"))


def _velocity(f):
    return tuple((f[f"debit_count_{w}"], f[f"debit_amount_{w}"]) for w in ("1h", "24h", "7d"))


def test_velocity_windows_cross_midnight(features):
    # 00:30 on D: 23:50 and the declined 23:58 in the hour; from 00:30 on D-1 (exactly 24 h) in the day;
    # from 01:00 on D-7 in the week; the salary is money in and never counts
    assert _velocity(features["TV8"]) == ((2, 55.0), (3, 75.0), (5, 155.0))
    assert features["TV8"]["seconds_since_prev_txn"] == 32 * 60.0
    # 00:45: 00:30 on D-1 has left the 24 h window; 01:00 on D-7 is still in the week
    assert _velocity(features["TV9"]) == ((3, 155.0), (3, 155.0), (6, 255.0))
    assert features["TV9"]["seconds_since_prev_txn"] == 15 * 60.0


def test_a_transaction_of_the_same_instant_counts_only_for_the_higher_txn_id(features):
    assert _velocity(features["TVA"]) == ((4, 355.0), (4, 355.0), (7, 455.0))
    assert features["TVA"]["seconds_since_prev_txn"] == 0.0
    assert features["TVA"]["prior_debit_count"] == features["TV9"]["prior_debit_count"] + 1


def _new(f):
    return tuple(f[f"is_new_{a}"] for a in ("merchant", "mcc", "country", "device", "channel"))


def test_first_seen_flags(features):
    assert _new(features["TF6"]) == (False, False, False, False, False)   # all seen; no device is not new
    assert _new(features["TF7"]) == (True, False, True, True, False)      # new merchant, country and device
    assert _new(features["TF8"]) == (False, False, False, False, False)   # a transfer has no merchant
    # M9, 5732, JP and D9 were only on a declined attempt; FR was 95 days ago, outside the lookback
    assert _new(features["TF9"]) == (True, True, True, True, False)
    assert _new(features["TFA"]) == (True, True, True, False, False)
    assert _new(features["TFB"]) == (False, False, False, False, True)     # first ATM use
    # M3 and US were new at 09:10 and are known at 10:00; 09:10 knows nothing of 10:00
    assert _new(features["TFC"]) == (False, False, False, False, False)


def test_card_testing_counts_small_authorisations_on_the_account(features):
    f = features["TC6"]
    # 10:00:00, 10:00:40 (declined) and 10:01:20 on A_CARD; not the 5 CNY on another account, not 60 CNY
    assert (f["card_test_auth_count"], f["card_test_merchant_count"]) == (3, 2)
    assert f["amount_cny"] == 6000.0 and features["TC1"]["amount_cny"] == pytest.approx(21.3)
    g = features["TC7"]                                   # 10:10:30: the window starts at 10:00:30
    assert (g["card_test_auth_count"], g["card_test_merchant_count"]) == (2, 2)
    assert features["TC1"]["card_test_auth_count"] == 0


def test_night_is_local_time(features):
    hours = {t: (features[t]["local_hour"], features[t]["is_night"]) for t in ("TN1", "TN2", "TN3", "TN4")}
    assert hours == {"TN1": (23, False), "TN2": (0, True), "TN3": (5, True), "TN4": (6, False)}


def test_night_window_and_offset_are_parameters(spark, silver):
    night = silver["day"].where("customer_id = 'C_NIGHT'")
    params = TxnFeatureParams(utc_offset_minutes=0, night_start_hour=22, night_end_hour=6)
    rows = {r["txn_id"]: (r["local_hour"], r["is_night"]) for r in
            transaction_features(night, night, params=params).collect()}
    assert rows == {"TN1": (15, False), "TN2": (16, False), "TN3": (21, False), "TN4": (22, True)}


def test_merchant_fraud_counts_only_labels_known_before_the_day(merchant_fraud, silver):
    as_of_d = {r["merchant_id"]: (r["merchant_fraud_count"], r["merchant_fraud_share"])
               for r in merchant_fraud.collect()}
    # MX: F1 of F1, F2, N1, N2, N3 (F2's label came on D, F4 is older than 30 days); MY: F5 of F3, F5, N4
    assert as_of_d == {"MX": (1, pytest.approx(0.2)), "MY": (1, pytest.approx(1 / 3))}
    next_day = merchant_fraud_counts(silver["labels"], silver["merchant_txns"], D + timedelta(days=1), days=30)
    assert {r["merchant_id"]: r["merchant_fraud_count"] for r in next_day.collect()} == {"MX": 2, "MY": 1}


def test_merchant_risk_over_a_range_of_days_is_each_days_own(silver):
    # one pass over D-1..D+1 gives each day what a run for that day alone gives: F2's label (confirmed on D)
    # counts from D+1 on, never on D or before
    ranged = merchant_fraud_by_day(silver["labels"], silver["merchant_txns"], D - timedelta(days=1),
                                   D + timedelta(days=1), 30)
    got = {(r["txn_date"], r["merchant_id"]): r["merchant_fraud_count"] for r in ranged.collect()}
    assert {k: v for k, v in got.items() if k[0] == D} == {(D, "MX"): 1, (D, "MY"): 1}
    assert {k: v for k, v in got.items() if k[0] == D + timedelta(days=1)} == {(D + timedelta(days=1), "MX"): 2,
                                                                                (D + timedelta(days=1), "MY"): 1}
    for day in (D - timedelta(days=1), D, D + timedelta(days=1)):
        alone = merchant_fraud_counts(silver["labels"], silver["merchant_txns"], day, days=30).collect()
        assert {(r["merchant_id"], r["merchant_fraud_count"], r["merchant_fraud_share"]) for r in alone} == {
            (r["merchant_id"], r["merchant_fraud_count"], r["merchant_fraud_share"]) for r in ranged.collect()
            if r["txn_date"] == day}


def test_merchant_risk_reaches_the_days_transactions(features):
    risk = {t: (features[t]["merchant_fraud_count"], features[t]["merchant_fraud_share"])
            for t in ("TMX", "TMY", "TMZ", "TMT")}
    assert risk == {"TMX": (1, pytest.approx(0.2)), "TMY": (1, pytest.approx(1 / 3)), "TMZ": (0, 0.0),
                    "TMT": (0, 0.0)}


def assert_same(got, want):
    """Equal rows; floats to 1e-12 (sums may add up in another order)."""
    assert set(got) == set(want)
    for txn_id, row in got.items():
        assert row == {k: pytest.approx(v, rel=1e-12) if isinstance(v, float) else v
                       for k, v in want[txn_id].items()}, txn_id


def test_merchant_risk_per_day_joins_on_the_transactions_day(spark, silver):
    day = silver["day"].where("customer_id = 'C_MR'")
    risk = spark.createDataFrame(
        [("MX", D - timedelta(days=1), 5, 0.5), ("MX", D, 1, 0.2), ("MY", D + timedelta(days=1), 2, 0.1)],
        "merchant_id string, txn_date date, merchant_fraud_count bigint, merchant_fraud_share double")
    rows = {r["txn_id"]: (r["merchant_fraud_count"], r["merchant_fraud_share"])
            for r in transaction_features(day, silver["history"], risk).collect()}
    assert rows == {"TMX": (1, 0.2), "TMY": (0, 0.0), "TMZ": (0, 0.0), "TMT": (0, 0.0)}


def test_later_transactions_never_change_earlier_features(silver, merchant_fraud, features):
    cutoff = at(0, 10, 0)
    history = silver["history"].where(f"txn_ts <= '{cutoff}'")
    day = silver["day"].where(f"txn_ts <= '{cutoff}'")
    alone = {r["txn_id"]: r.asDict() for r in transaction_features(day, history, merchant_fraud).collect()}
    assert set(alone) == {r["txn_id"] for r in DAY if r["txn_ts"] <= cutoff}
    assert_same(alone, {t: features[t] for t in alone})


def test_history_with_or_without_the_days_rows_gives_the_same_features(silver, merchant_fraud, features):
    history = silver["history"].where(f"txn_ts < '{at(0, 0)}'")
    rows = {r["txn_id"]: r.asDict() for r in transaction_features(silver["day"], history, merchant_fraud).collect()}
    assert_same(rows, features)


def test_several_days_at_once_give_each_day_its_own_features(silver, features):
    vel = silver["history"].where("customer_id = 'C_VEL'")
    two_days = {r["txn_id"]: r.asDict() for r in
                transaction_features(vel.where(f"txn_ts >= '{at(-1, 0)}'"), vel).collect()}
    assert set(two_days) == {"TV3", "TV4", "TV5", "TV6", "TV7", "TV8", "TV9", "TVA"}
    assert_same({t: two_days[t] for t in ("TV8", "TV9", "TVA")}, {t: features[t] for t in ("TV8", "TV9", "TVA")})
    assert _velocity(two_days["TV7"]) == ((1, 40.0), (3, 70.0), (4, 140.0))
    assert two_days["TV7"]["txn_date"] == D - timedelta(days=1)


def test_the_lookback_is_shuffled_once_and_nothing_runs_in_python(silver):
    plan = transaction_features(silver["day"], silver["history"])._jdf.queryExecution().executedPlan().toString()
    # the lookback once, by customer; the last 7 days once; the scored rows for the join with the lookback, the
    # two sides (scored rows only) of the final join, and the scored rows for each customer's first instant (once
    # per read of the history; it is broadcast, so the history is not shuffled for it)
    assert plan.count("Exchange hashpartitioning(") == 7
    assert plan.count("BroadcastHashJoin [customer_id") == 2
    assert plan.count("Exchange hashpartitioning(_h_customer_id") == 1
    # the lookback pairs aggregate in a hash aggregate (an object aggregate, e.g. a median, sorts them)
    assert "ObjectHashAggregate" not in plan and "SortAggregate" not in plan
    assert "PythonUDF" not in plan and "EvalPython" not in plan


def _reasons(features_df, **kwargs):
    return {r["txn_id"]: r["reasons"] for r in reasons(features_df, **kwargs).select("txn_id", "reasons").collect()}


def test_reasons_name_the_strongest_features(features_df):
    got = _reasons(features_df)
    assert got["TA9"] == ["amount 14x usual"]
    # the small authorisations have pulled the usual amount down to 55.87; then equal strengths keep the
    # fixed order: card testing, velocity, ... (new merchant category and new merchant fall off the top 3)
    assert got["TC6"] == ["amount 107x usual", "3 small authorisations in 10 min", "5 payments in the last hour"]
    assert got["TF7"] == ["new country", "new device", "new merchant"]
    assert got["TMX"] == ["merchant had 1 confirmed fraud in 30 days", "new merchant"]
    assert got["TN2"] == ["night-time"]
    assert got["TF6"] == []
    assert _reasons(features_df, thresholds=ReasonThresholds(amount_ratio=15))["TA9"] == []


def _plural(n, word):
    return word if n == 1 else word + "s"


def test_reasons_match_the_feature_values(features_df, features):
    t = ReasonThresholds()
    flags = {"is_new_country": "new country", "is_new_device": "new device", "is_new_channel": "new channel",
             "is_new_mcc": "new merchant category", "is_new_merchant": "new merchant", "is_night": "night-time"}
    for txn_id, got in _reasons(features_df, top_n=20).items():
        f = features[txn_id]
        want = set()
        ratio = f["amount_to_usual_ratio"]
        if ratio is not None and ratio >= t.amount_ratio:
            want.add(f"amount {ratio:.0f}x usual" if ratio >= 10 else f"amount {ratio:.1f}x usual")
        n = f["card_test_auth_count"]
        if n >= t.card_test_auths:
            want.add(f"{n} small {_plural(n, 'authorisation')} in 10 min")
        n = f["debit_count_1h"]
        if n >= t.debits_1h:
            want.add(f"{n} {_plural(n, 'payment')} in the last hour")
        n = f["debit_count_24h"]
        if n >= t.debits_24h:
            want.add(f"{n} {_plural(n, 'payment')} in the last 24 h")
        n = f["merchant_fraud_count"]
        if n >= t.merchant_frauds:
            want.add(f"merchant had {n} confirmed {_plural(n, 'fraud')} in 30 days")
        want |= {text for col, text in flags.items() if f[col]}
        assert set(got) == want, txn_id
        assert len(got) == len(want)
