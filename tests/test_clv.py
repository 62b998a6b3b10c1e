"""Lifetime value in Spark: the repeat-purchase summary of the papers' benchmark data, the CLV path (ingest ->
crm train --model clv -> scoring) on a small hand-written transaction file, and the potential value."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from conftest import settings_for
from jobs.config import load_settings
from jobs.features import PointInTime
from jobs.ingest import ingest
from jobs.lifecycle import annuity_factor, clv_scores, potential_value, train_clv
from jobs.tables import build_catalog
from jobs.tracking import tracking_from_settings
from landing_rows import extract, row, write_csv
from models import registry
from models.lifecycle.clv import fit_clv
from models.lifecycle.summary import PurchaseRules, purchase_days, repeat_purchase_summary

CDNOW = Path(__file__).parent / "data" / "cdnow"


def _cdnow_transactions(spark):
    """The CDNOW sample as rows of the `transactions` contract (one card purchase per line, in CNY)."""
    raw = pd.read_csv(CDNOW / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["original_id", "id", "date", "cds", "amount"], dtype={"date": str})
    raw["customer_id"] = raw["id"].map(lambda i: f"C{i:08d}")
    raw["txn_ts"] = pd.to_datetime(raw["date"], format="%Y%m%d") + pd.Timedelta(hours=12)
    frame = raw[["customer_id", "txn_ts", "amount"]].assign(
        currency="CNY", direction="DEBIT", txn_type="CARD_PURCHASE", status="POSTED")
    return spark.createDataFrame(frame).withColumn("amount", F.col("amount").cast("decimal(18,2)"))


def test_spark_summary_of_the_cdnow_sample_is_the_papers_and_fits_their_estimates(spark):
    days = purchase_days(_cdnow_transactions(spark), PurchaseRules())
    got = repeat_purchase_summary(days, date(1997, 9, 30), "week").toPandas().set_index("customer_id")
    want = pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv")
    want.index = want["ID"].map(lambda i: f"C{i:08d}")
    assert len(got) == len(want) == 2357
    got = got.loc[want.index]
    assert (got["frequency"].to_numpy() == want["x"].to_numpy()).all()
    for mine, theirs in (("recency", "t_x"), ("T", "T"), ("monetary_value", "zbar")):
        assert (got[mine] - want[theirs]).abs().max() <= 0.005 + 1e-9, mine    # the file is rounded to 2 places
    model, stats = fit_clv(got.reset_index(), "week")
    p = model.params()
    # Fader, Hardie & Lee (2005): r 0.243, alpha 4.414, a 0.793, b 2.426; Fader & Hardie (2013): p 6.25, q 3.74,
    # v 15.44
    for name, published in (("bgnbd_r", 0.243), ("bgnbd_alpha", 4.414), ("bgnbd_a", 0.793), ("bgnbd_b", 2.426),
                            ("gg_p", 6.25), ("gg_q", 3.74), ("gg_v", 15.44)):
        assert float(f"{p[name]:.3g}") == pytest.approx(float(f"{published:.3g}")), name
    assert stats["bgnbd_log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    assert stats["repeat_buyers"] == 946


def test_holdout_counts_and_bad_units_are_clear(spark):
    from models.lifecycle.summary import holdout_purchases, unit_days

    days = purchase_days(_cdnow_transactions(spark), PurchaseRules())
    later = holdout_purchases(days, date(1997, 9, 30), date(1998, 6, 30))
    # every purchase day after calibration through the end of the data counts, each once
    total = later.agg(F.sum("frequency_holdout")).first()[0]
    assert total == days.where(F.col("day") > F.lit(date(1997, 9, 30))).count()
    with pytest.raises(ValueError, match="time unit 'fortnight'"):
        unit_days("fortnight")
    with pytest.raises(ValueError, match="must be after the calibration end"):
        holdout_purchases(days, date(1997, 9, 30), date(1997, 9, 30))


# -- a user's own transactions, hand-written --------------------------------------------------------------

# (customer, day, amount, type, status): card purchases of 2026-01..06, plus rows that are not purchases
PURCHASES = """
1 01-03 120.00  1 01-17 80.50  1 02-02 99.90  1 02-20 150.00  1 03-09 60.00  1 03-30 110.00  1 04-18 95.00
1 05-06 130.00  1 05-27 70.00  1 06-15 105.00
2 01-05 45.00  2 01-26 52.00  2 03-02 48.00  2 04-10 61.00  2 05-15 39.00  2 06-20 58.00
3 01-08 300.00  3 02-11 280.00  3 03-14 350.00  3 04-16 310.00  3 05-19 295.00  3 06-22 330.00
4 01-04 20.00  4 01-11 25.00  4 01-18 18.00  4 02-01 22.00  4 02-15 30.00
5 01-10 500.00  5 02-14 450.00
6 01-12 75.00  6 03-20 80.00  6 06-01 90.00
7 02-01 35.00  7 02-08 40.00  7 02-22 38.00  7 03-08 42.00  7 04-05 36.00  7 05-03 41.00  7 06-07 39.00
8 01-20 210.00
9 03-03 66.00  9 03-24 71.00  9 04-14 69.00
10 01-15 15.00  10 01-29 12.00  10 02-12 14.00  10 02-26 16.00  10 03-12 13.00  10 03-26 15.00
11 04-02 250.00  11 05-02 240.00  11 06-02 260.00
12 01-06 88.00  12 04-28 92.00
"""
NOT_PURCHASES = [(1, "02-10", "5000.00", "SALARY", "CREDIT", "POSTED"),
                 (8, "05-05", "99.00", "CARD_PURCHASE", "DEBIT", "REVERSED"),
                 (8, "05-06", "120.00", "CARD_PURCHASE", "DEBIT", "DECLINED")]
END = date(2026, 6, 30)


def _own_landing(landing: Path) -> None:
    day = END.isoformat()
    people = range(1, 14)   # customer 13 has an account and never buys
    write_csv(extract(landing, "customers", day), [
        row("customers", customer_id=f"C{i:08d}", id_number=f"1101011990010{i:05d}", phone=f"+86138000{i:05d}",
            email=f"c{i}@example.com", onboarding_date="2025-06-01") for i in people])
    write_csv(extract(landing, "products", day), [row("products")])
    write_csv(extract(landing, "accounts", day), [
        row("accounts", account_id=f"A{i:010d}", customer_id=f"C{i:08d}", open_date="2025-06-01") for i in people])
    fields = PURCHASES.split()
    rows = [(int(c), d, a, "CARD_PURCHASE", "DEBIT", "POSTED")
            for c, d, a in zip(fields[::3], fields[1::3], fields[2::3])]
    rows += NOT_PURCHASES
    write_csv(extract(landing, "transactions", day), [
        row("transactions", txn_id=f"T{n:012d}", account_id=f"A{c:010d}", customer_id=f"C{c:08d}",
            txn_ts=f"2026-{d} 12:00:00", amount=a, txn_type=t, direction=dr, status=s, channel="POS",
            updated_at=f"2026-{d} 12:00:05")
        for n, (c, d, a, t, dr, s) in enumerate(rows, start=1)])


@pytest.fixture(scope="module")
def own(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("clv_own")
    settings = settings_for(root)
    _own_landing(root / "landing")
    results = {r.source: r for r in ingest(spark, settings)}
    assert results["transactions"].rows_quarantined == 0
    return settings


def test_clv_trains_and_scores_on_a_hand_written_file(spark, own):
    result = train_clv(spark, own, calibration_end=date(2026, 4, 30), time_unit="week")
    assert result.customers == 12 and result.holdout_end == END     # customer 13 never bought
    assert result.promotion.promoted and result.promotion.version == "1"
    tracking = tracking_from_settings(own)
    run = tracking.client().get_run(result.run_id)
    params = run.data.params
    for name in ("bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b", "gg_p", "gg_q", "gg_v"):
        assert float(params[name]) == pytest.approx(result.params[name]) and result.params[name] > 0
    assert params["time_unit"] == "week" and params["calibration_end"] == "2026-04-30"
    assert "baseline_mae_purchases" in run.data.metrics and "mae_purchases" in run.data.metrics
    artifacts = {a.path for a in tracking.client().list_artifacts(result.run_id, "plots")}
    assert {"plots/conditional_expectations.png", "plots/p_alive.png"} <= artifacts
    assert registry.champion_version(tracking, own.models.clv.model_name) == "1"

    # scoring on the executors: every buyer as known on the last day, through the registered champion
    model = registry.load_champion(tracking, own.models.clv.model_name)[0].unwrap_python_model().model
    catalog = build_catalog(own)
    scores = {r["customer_id"]: r for r in clv_scores(spark, own, catalog, PointInTime(spark, own, catalog), model,
                                                      END).collect()}
    assert len(scores) == 12 and "C00000013" not in scores
    steady, lapsed = scores["C00000003"], scores["C00000004"]
    # a regular monthly buyer is alive; one who bought weekly and stopped in February much less so
    assert steady["p_alive"] > 0.9 and lapsed["p_alive"] < steady["p_alive"]
    assert steady["expected_purchases"] > lapsed["expected_purchases"]
    assert steady["purchases_frequency"] == 5 and scores["C00000008"]["purchases_frequency"] == 0  # reversed, declined
    assert all(r["expected_purchase_value"] > 0 for r in scores.values())
    assert scores["C00000001"]["purchases_frequency"] == 9         # the salary credit is not a purchase


def test_potential_value_adds_the_share_of_expected_purchases_and_balance_revenue_while_alive(spark):
    cfg = load_settings(overrides=["models.clv.revenue_rate=0.01", "models.clv.horizon_months=12",
                                   "models.clv.annual_discount_rate=0"]).models.clv
    assert annuity_factor(12, 0.0) == pytest.approx(1.0)
    rows = spark.createDataFrame([(1000.0, 0.5, None, 200.0, "1"), (None, None, 0.3, 100.0, "1"),
                                  (None, None, None, 100.0, "1"), (1000.0, 0.5, None, 200.0, None)],
                                 "expected_purchase_value double, p_alive double, churn_probability double, "
                                 "balance_revenue_annual double, clv_model_version string")
    got = [r[0] for r in rows.select(potential_value(cfg)).collect()]
    # 1% of 1000 + the balance revenue x P(alive); else x (1 - churn probability); else all of it
    assert got[:3] == pytest.approx([110.0, 70.0, 100.0])
    assert got[3] is None                                            # no CLV model: potential value unknown
