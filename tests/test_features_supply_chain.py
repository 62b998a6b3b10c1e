"""Supply-chain features on inline firms and invoice versions: exact values for two as-of dates in one pass."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from features.history import known_on
from features.profile.supply_chain import SUPPLY_CHAIN, known_invoices, latest_invoices, supply_chain_features
from pipelines.contracts import CONTRACTS
from silver_rows import versions

MAR31, APR30 = date(2026, 3, 31), date(2026, 4, 30)
A, SUPPLIER_C2, FIRM_C3 = "F00000001", "F00000002", "F00000003"    # firms of bank customers C1, C2, C3
B1, B2, B3, B4, B5, S1 = "F90000001", "F90000002", "F90000003", "F90000004", "F90000005", "F90000011"




def _firm(fid, customer=None, **over):
    row = dict(firm_id=fid, firm_name="Hengda Trading Co., Ltd.", industry="WHOLESALE", city="Suzhou",
               founded_date=date(2012, 5, 1), annual_revenue=Decimal("20000000.00"), employee_count=40,
               customer_id=customer, updated_at=datetime(2026, 1, 1), _extract_date=date(2026, 1, 1))
    row.update(over)
    return row


def _invoice(iid, seller, buyer, issue, due, amount, *versions, currency="CNY"):
    """One row per version, each given as (delivered on, status, paid date)."""
    return [dict(invoice_id=iid, seller_firm_id=seller, buyer_firm_id=buyer, issue_date=issue, due_date=due,
                 paid_date=paid, amount=Decimal(amount), currency=currency, status=status,
                 updated_at=datetime.combine(delivered, time(12)), _extract_date=delivered)
            for delivered, status, paid in versions]


def d(month, day, year=2026):
    return date(year, month, day)


@pytest.fixture(scope="module")
def inputs(spark):
    dates = spark.createDataFrame([(MAR31,), (APR30,)], "as_of_date date")
    firms = versions(spark, "firms", [
        _firm(A, "C1"),
        _firm(A, "C1", employee_count=44, updated_at=datetime(2026, 3, 15), _extract_date=d(3, 15)),
        _firm(SUPPLIER_C2, "C2"),
        _firm(FIRM_C3, "C3", updated_at=datetime(2026, 4, 15), _extract_date=d(4, 15)),   # a customer from April
        *[_firm(f) for f in (B1, B2, B3, B4, B5, S1)],                                   # bank elsewhere
    ])
    invoices = versions(spark, "invoices", [
        # A sells
        *_invoice("V0000000000", A, B4, d(3, 1, 2025), d(3, 31, 2025), "9999.00",
                  (d(3, 1, 2025), "ISSUED", None), (d(4, 1, 2025), "OVERDUE", None)),       # beyond the lookback
        *_invoice("V0000000001", A, B1, d(3, 1), d(3, 31), "1000.00",
                  (d(3, 1), "ISSUED", None), (d(3, 21), "PAID", d(3, 21))),
        *_invoice("V0000000002", A, B2, d(3, 16), d(4, 15), "3000.00",
                  (d(3, 16), "ISSUED", None), (d(4, 10), "PAID", d(4, 10))),
        *_invoice("V0000000003", A, B1, d(1, 10), d(2, 9), "500.00",
                  (d(1, 10), "ISSUED", None), (d(2, 10), "OVERDUE", None), currency="USD"),
        *_invoice("V0000000004", A, B5, d(3, 20), d(4, 19), "2000.00",
                  (d(3, 20), "ISSUED", None), (d(3, 25), "CANCELLED", None)),
        *_invoice("V0000000005", A, B1, d(3, 25), d(4, 24), "1500.00",
                  (d(3, 25), "ISSUED", None), (d(3, 30), "PAID", d(4, 2))),                 # value-dated payment
        *_invoice("V0000000006", A, B3, d(3, 31), d(4, 30), "2000.00", (d(4, 1), "ISSUED", None)),  # arrives late
        *_invoice("V0000000007", A, B2, d(4, 20), d(5, 20), "1000.00", (d(4, 20), "ISSUED", None)),
        # A buys
        *_invoice("V0000000011", S1, A, d(2, 1), d(3, 3), "4000.00",
                  (d(2, 1), "ISSUED", None), (d(3, 4), "OVERDUE", None), (d(3, 13), "PAID", d(3, 13))),
        *_invoice("V0000000012", S1, A, d(3, 5), d(3, 20), "1000.00",
                  (d(3, 5), "ISSUED", None), (d(3, 15), "PAID", d(3, 15))),
        *_invoice("V0000000013", SUPPLIER_C2, A, d(3, 25), d(4, 24), "1000.00",
                  (d(3, 25), "ISSUED", None), (d(4, 28), "PAID", d(4, 28))),
        *_invoice("V0000000014", S1, A, d(3, 20), d(4, 19), "500.00",
                  (d(3, 20), "ISSUED", None), (d(4, 20), "OVERDUE", None), currency="EUR"),
        # C3's firm, known only from 15 April, and two firms that do not bank with us
        *_invoice("V0000000021", FIRM_C3, B1, d(3, 10), d(4, 9), "700.00",
                  (d(3, 10), "ISSUED", None), (d(4, 1), "PAID", d(4, 1))),
        *_invoice("V0000000031", S1, B1, d(3, 10), d(4, 9), "800.00", (d(3, 10), "ISSUED", None)),
    ])
    return firms, invoices, dates


@pytest.fixture(scope="module")
def supply(inputs):
    firms, invoices, dates = inputs
    df = supply_chain_features(known_on(firms, CONTRACTS["firms"], dates), known_invoices(invoices, dates))
    return df, {(r["customer_id"], r["as_of_date"]): r for r in df.collect()}


def test_a_nightly_date_reads_silver_latest_invoices_and_gets_the_same_rows(spark, inputs, supply):
    firms, invoices, _ = inputs
    # By 30 April every version has been delivered, so each invoice's latest version, the one silver keeps, is
    # the one known then: the nightly build reads those and ranks no version history.
    after_all = spark.createDataFrame([(date(2099, 1, 1),)], "as_of_date date")
    silver = known_on(invoices, CONTRACTS["invoices"], after_all).drop("as_of_date")
    april = spark.createDataFrame([(APR30,)], "as_of_date date")
    nightly = supply_chain_features(known_on(firms, CONTRACTS["firms"], april), latest_invoices(silver, APR30))
    expected = supply[0].where(F.col("as_of_date") == APR30).collect()
    assert len(expected) == 3 and sorted(nightly.collect()) == sorted(expected)


def test_one_row_per_bank_customer_with_invoices_per_date(supply):
    df, rows = supply
    assert df.columns == ["customer_id", "as_of_date", *SUPPLY_CHAIN.names]
    assert df.count() == len(rows)
    # C3's firm became known on 15 April; the external firms (S1, B1 ...) bank elsewhere and get no rows
    assert set(rows) == {("C1", MAR31), ("C2", MAR31), ("C1", APR30), ("C2", APR30), ("C3", APR30)}


def test_partners_in_both_directions(supply):
    _, rows = supply
    c1 = rows[("C1", MAR31)]
    assert (c1["downstream_partners_365d"], c1["upstream_partners_365d"]) == (2, 2)          # B1, B2; S1, C2's firm
    assert (c1["sales_invoiced_365d"], c1["purchases_invoiced_365d"]) == (9050, 9850)        # USD and EUR in CNY
    assert rows[("C1", APR30)]["downstream_partners_365d"] == 3                              # B3 from 1 April
    c2 = rows[("C2", MAR31)]
    assert (c2["downstream_partners_365d"], c2["upstream_partners_365d"], c2["sales_invoiced_365d"]) == (1, 0, 1000)


def test_top_partner_shares(supply):
    _, rows = supply
    c1 = rows[("C1", MAR31)]
    assert c1["top_buyer_share_365d"] == pytest.approx(6050 / 9050)
    assert c1["top_supplier_share_365d"] == pytest.approx(8850 / 9850)
    assert rows[("C1", APR30)]["top_buyer_share_365d"] == pytest.approx(6050 / 12050)
    assert rows[("C2", MAR31)]["top_buyer_share_365d"] == 1.0


def test_outstanding_overdue_and_dso_on_the_as_of_date(supply):
    _, rows = supply
    c1 = rows[("C1", MAR31)]
    assert (c1["receivables_outstanding"], c1["overdue_receivables"]) == (8050, 3550)
    assert (c1["payables_outstanding"], c1["overdue_payables"]) == (4850, 0)
    assert c1["dso_days"] == pytest.approx(8050 / 9050 * 365)
    later = rows[("C1", APR30)]
    assert (later["receivables_outstanding"], later["overdue_receivables"]) == (6550, 3550)   # due on D: not overdue
    assert (later["payables_outstanding"], later["overdue_payables"]) == (3850, 3850)
    assert later["dso_days"] == pytest.approx(6550 / 12050 * 365)
    assert rows[("C2", MAR31)]["dso_days"] == pytest.approx(365.0) and rows[("C2", APR30)]["dso_days"] == 0.0


def test_a_payment_dated_after_the_as_of_date_leaves_the_invoice_outstanding(supply):
    _, rows = supply
    # V5's paid version arrived on 30 March but carries a payment dated 2 April
    assert rows[("C1", MAR31)]["receivables_outstanding"] == 3000 + 3550 + 1500
    assert rows[("C1", MAR31)]["mean_days_to_collect_365d"] == pytest.approx(20.0)           # V1 only


def test_versions_delivered_after_the_as_of_date_are_not_seen(supply):
    _, rows = supply
    # V2 is paid in the version of 10 April: unpaid on 31 March, paid by 30 April
    assert rows[("C1", MAR31)]["receivables_outstanding"] == pytest.approx(8050)
    assert rows[("C2", MAR31)]["receivables_outstanding"] == 1000
    assert rows[("C2", APR30)]["receivables_outstanding"] == 0
    # V6, issued on 31 March, first arrived on 1 April
    assert rows[("C1", MAR31)]["sales_invoiced_365d"] == 9050
    assert rows[("C1", APR30)]["sales_invoiced_365d"] == 9050 + 2000 + 1000


def test_collection_and_payment_delay(supply):
    _, rows = supply
    c1 = rows[("C1", MAR31)]
    assert c1["mean_payment_delay_days_365d"] == pytest.approx(5.0)                          # 10 days late, on time
    assert c1["late_payment_share_365d"] == pytest.approx(0.5)
    later = rows[("C1", APR30)]
    assert later["mean_days_to_collect_365d"] == pytest.approx((20 + 25 + 8) / 3)
    assert later["mean_payment_delay_days_365d"] == pytest.approx((10 + 0 + 4) / 3)
    assert later["late_payment_share_365d"] == pytest.approx(2 / 3)
    assert rows[("C2", APR30)]["mean_days_to_collect_365d"] == pytest.approx(34.0)
    assert rows[("C3", APR30)]["mean_days_to_collect_365d"] == pytest.approx(22.0)


def test_invoice_count_and_trend(supply):
    _, rows = supply
    c1 = rows[("C1", MAR31)]
    assert c1["invoices_30d"] == 5 and c1["invoice_trend_30d_vs_prior_90d"] == pytest.approx(5 / (3 / 3))
    later = rows[("C1", APR30)]
    assert later["invoices_30d"] == 1 and later["invoice_trend_30d_vs_prior_90d"] == pytest.approx(1 / (9 / 3))
    assert rows[("C2", MAR31)]["invoice_trend_30d_vs_prior_90d"] is None                     # nothing before
    assert rows[("C2", APR30)]["invoice_trend_30d_vs_prior_90d"] == 0.0


def test_cancelled_and_old_invoices_do_not_count(supply):
    _, rows = supply
    c1 = rows[("C1", MAR31)]
    # V4 to B5 was cancelled on 25 March; V0 to B4 was issued over a year ago and is still unpaid
    assert c1["downstream_partners_365d"] == 2                                               # B1, B2
    assert c1["sales_invoiced_365d"] == 1000 + 3000 + 3550 + 1500
    assert c1["receivables_outstanding"] == 3000 + 3550 + 1500
    assert c1["invoices_30d"] == 5                                                           # V4 issued 20 March


def test_a_customer_without_purchases_has_null_purchase_ratios(supply):
    _, rows = supply
    c2 = rows[("C2", MAR31)]
    assert (c2["purchases_invoiced_365d"], c2["payables_outstanding"], c2["overdue_payables"]) == (0, 0, 0)
    assert c2["top_supplier_share_365d"] is None and c2["mean_payment_delay_days_365d"] is None
    assert c2["late_payment_share_365d"] is None and c2["mean_days_to_collect_365d"] is None
    c3 = rows[("C3", APR30)]
    assert (c3["sales_invoiced_365d"], c3["receivables_outstanding"], c3["dso_days"]) == (700, 0, 0.0)
