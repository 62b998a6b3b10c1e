"""wealth_features on inline rows: market value at the NAV known then, risk against tolerance, two as-of dates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from features.history import known_on
from features.profile.wealth import WEALTH, wealth_features
from pipelines.contracts import CONTRACTS
from silver_rows import versions

MAR31, APR30 = date(2026, 3, 31), date(2026, 4, 30)
USD = 7.10                                   # features.reference.RATES_TO_CNY




def _customer(cid, tolerance, **over):
    row = dict(customer_id=cid, customer_type="RETAIL", birth_date=date(1980, 5, 15), city="Shanghai",
               segment="AFFLUENT", risk_tolerance=tolerance, kyc_risk_rating="LOW", marketing_consent=True,
               branch_id="B01", onboarding_date=date(2020, 1, 10), status="ACTIVE",
               updated_at=datetime(2026, 1, 1), _extract_date=date(2026, 1, 1))
    row.update(over)
    return row


def _account(aid, cid, product, **over):
    row = dict(account_id=aid, customer_id=cid, product_id=product, currency="CNY", open_date=date(2025, 6, 1),
               status="ACTIVE", updated_at=datetime(2026, 1, 1), _extract_date=date(2026, 1, 1))
    row.update(over)
    return row


def _nav(product, nav_date, nav, extract, dividend=None):
    return (product, nav_date, Decimal(nav), None if dividend is None else Decimal(dividend), extract)


@pytest.fixture(scope="module")
def wealth(spark):
    dates = spark.createDataFrame([(MAR31,), (APR30,)], "as_of_date date")
    customers = versions(spark, "customers", [
        _customer("C1", "C3"),
        _customer("C1", "C4", updated_at=datetime(2026, 4, 15), _extract_date=date(2026, 4, 15)),
        _customer("C2", "C5"),
        _customer("C3", "C2"),                                             # holds nothing
    ])
    accounts = versions(spark, "accounts", [
        _account("A1", "C1", "P_CUR", balance=Decimal("1000.00")),
        _account("A2", "C1", "P_F2", units=Decimal("1000"), cost_basis=Decimal("1000.00")),
        _account("A3", "C1", "P_F4", units=Decimal("500"), cost_basis=Decimal("1000.00")),
        _account("A4", "C1", "P_W3", units=Decimal("100"), cost_basis=Decimal("5000.00"),
                 close_date=date(2026, 3, 1), status="CLOSED"),
        _account("A5", "C2", "P_W5", currency="USD", units=Decimal("100"), cost_basis=Decimal("1000.00")),
    ])
    products = spark.createDataFrame(
        [("P_CUR", "CURRENT", "R1"), ("P_F2", "FUND", "R2"), ("P_F4", "FUND", "R4"), ("P_W3", "WEALTH_MGMT", "R3"),
         ("P_W5", "WEALTH_MGMT", "R5")], "product_id string, category string, risk_level string")
    nav = spark.createDataFrame([
        _nav("P_F2", date(2026, 3, 20), "1.05", date(2026, 3, 21), dividend="0.05"),
        _nav("P_F2", date(2026, 3, 30), "1.10", date(2026, 3, 31)),
        _nav("P_F2", date(2026, 3, 31), "1.20", date(2026, 4, 1)),        # delivered after 31 March
        _nav("P_F2", date(2026, 4, 29), "1.30", date(2026, 4, 30), dividend="0.02"),
        _nav("P_F4", date(2026, 3, 30), "2.50", date(2026, 3, 30)),        # 31 days old on 30 April: still used
        _nav("P_W3", date(2026, 3, 30), "60.00", date(2026, 3, 30)),
        _nav("P_W5", date(2026, 2, 27), "12.00", date(2026, 2, 27)),       # 32 days old on 31 March: not used
        _nav("P_W5", date(2026, 4, 30), "11.00", date(2026, 4, 30)),
    ], "product_id string, nav_date date, nav decimal(18,6), dividend_per_unit decimal(18,6), _extract_date date")
    df = wealth_features(known_on(accounts, CONTRACTS["accounts"], dates), products, nav,
                         known_on(customers, CONTRACTS["customers"], dates), dates)
    return df, {(r["customer_id"], r["as_of_date"]): r for r in df.collect()}


def test_one_row_per_customer_and_date_with_the_defined_columns(wealth):
    df, rows = wealth
    assert df.columns == ["customer_id", "as_of_date", *WEALTH.names]
    assert dict(df.dtypes) == {"customer_id": "string", "as_of_date": "date",
                               **{f.name: f.type for f in WEALTH.features}}
    assert set(rows) == {(c, d) for c in ("C1", "C2", "C3") for d in (MAR31, APR30)}


def test_value_at_the_latest_nav_known_then(wealth):
    _, rows = wealth
    c1 = rows[("C1", MAR31)]                 # the 31 March NAV arrived on 1 April: 30 March's is used
    assert (c1["investment_holdings"], c1["holdings_at_cost"]) == (2, 0)          # the closed A4 is not held
    assert c1["investment_value"] == pytest.approx(1000 * 1.10 + 500 * 2.50)
    assert c1["investment_cost"] == pytest.approx(2000)
    assert c1["aum"] == pytest.approx(1000 + 2350)
    assert c1["unrealised_gain"] == pytest.approx(350)
    assert c1["unrealised_gain_share"] == pytest.approx(350 / 2000)
    later = rows[("C1", APR30)]
    assert later["investment_value"] == pytest.approx(1000 * 1.30 + 500 * 2.50)
    assert later["unrealised_gain"] == pytest.approx(550) and later["holdings_at_cost"] == 0


def test_a_stale_nav_falls_back_to_cost(wealth):
    _, rows = wealth
    c2 = rows[("C2", MAR31)]
    assert (c2["investment_holdings"], c2["holdings_at_cost"]) == (1, 1)
    assert c2["investment_value"] == pytest.approx(1000 * USD) and c2["investment_cost"] == pytest.approx(1000 * USD)
    assert c2["unrealised_gain"] == 0 and c2["unrealised_gain_share"] is None
    later = rows[("C2", APR30)]
    assert later["holdings_at_cost"] == 0
    assert later["investment_value"] == pytest.approx(100 * 11 * USD)
    assert later["unrealised_gain_share"] == pytest.approx(0.1)


def test_risk_shares_and_concentration(wealth):
    _, rows = wealth
    c1 = rows[("C1", MAR31)]
    shares = [c1[f"investment_share_r{k}"] for k in range(1, 6)]
    assert shares == pytest.approx([0, 1100 / 2350, 0, 1250 / 2350, 0])
    assert c1["mean_portfolio_risk"] == pytest.approx((1100 * 2 + 1250 * 4) / 2350)
    assert c1["max_risk_level_held"] == 4 and c1["top_holding_share"] == pytest.approx(1250 / 2350)
    c2 = rows[("C2", MAR31)]
    assert (c2["investment_share_r5"], c2["mean_portfolio_risk"], c2["top_holding_share"]) == (1.0, 5.0, 1.0)


def test_risk_against_tolerance(wealth):
    _, rows = wealth
    c1 = rows[("C1", MAR31)]                 # tolerance C3, holds an R4 fund
    assert (c1["risk_tolerance_level"], c1["risk_mismatch"]) == (3, True)
    assert c1["above_tolerance_value"] == pytest.approx(1250)
    assert c1["above_tolerance_share"] == pytest.approx(1250 / 2350)
    later = rows[("C1", APR30)]              # tolerance raised to C4 on 15 April
    assert (later["risk_tolerance_level"], later["risk_mismatch"]) == (4, False)
    assert (later["above_tolerance_value"], later["above_tolerance_share"]) == (0, 0)
    c2 = rows[("C2", MAR31)]                 # R5 within tolerance C5
    assert (c2["risk_mismatch"], c2["above_tolerance_value"]) == (False, 0)


def test_dividends_of_the_last_30_days(wealth):
    _, rows = wealth
    assert rows[("C1", MAR31)]["dividends_30d"] == pytest.approx(1000 * 0.05)
    assert rows[("C1", APR30)]["dividends_30d"] == pytest.approx(1000 * 0.02)     # 20 March is out of the window
    assert rows[("C2", APR30)]["dividends_30d"] == 0


def test_a_customer_holding_nothing_keeps_the_tolerance_and_gets_zeros_and_nulls(wealth):
    _, rows = wealth
    c3 = rows[("C3", MAR31)]
    assert (c3["investment_holdings"], c3["investment_value"], c3["aum"], c3["holdings_at_cost"]) == (0, 0, 0, 0)
    assert (c3["max_risk_level_held"], c3["risk_tolerance_level"], c3["risk_mismatch"]) == (0, 2, False)
    assert c3["investment_share_r1"] is None and c3["mean_portfolio_risk"] is None
    assert c3["top_holding_share"] is None and c3["above_tolerance_share"] is None
