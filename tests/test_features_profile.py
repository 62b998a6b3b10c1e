"""customer_profile on inline rows: exact values per feature group, for two as-of dates built in one pass."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from features.daily import customer_daily
from features.history import known_on
from features.profile import CUSTOMER_PROFILE, customer_profile
from pipelines.contracts import CONTRACTS

MAR31, APR30 = date(2026, 3, 31), date(2026, 4, 30)


def _versions(spark, source: str, rows: list[dict]):
    c = CONTRACTS[source]
    cols = [col.silver_name for col in c.columns]
    data = [tuple(r.get(n) for n in cols) + (r["_extract_date"], "f") for r in rows]
    ddl = ", ".join(f"`{col.silver_name}` {col.type}" for col in c.columns) + ", _extract_date date, _source_file string"
    return spark.createDataFrame(data, ddl)


def _customer(cid, **over):
    row = dict(customer_id=cid, customer_type="RETAIL", birth_date=date(1990, 5, 15), gender="F",
               marital_status="MARRIED", occupation="EMPLOYEE", annual_income=Decimal("240000.00"), city="Shanghai",
               segment="MASS", risk_tolerance="C3", kyc_risk_rating="LOW", marketing_consent=True, branch_id="B01",
               account_manager_id="RM01", onboarding_date=date(2020, 1, 10), status="ACTIVE",
               updated_at=datetime(2026, 1, 1), _extract_date=date(2026, 1, 1))
    row.update(over)
    return row


def _account(aid, product, **over):
    row = dict(account_id=aid, customer_id="C1", product_id=product, currency="CNY", open_date=date(2021, 6, 1),
               status="ACTIVE", updated_at=datetime(2026, 1, 1), _extract_date=date(2026, 1, 1))
    row.update(over)
    return row


@pytest.fixture(scope="module")
def profile(spark):
    dates = spark.createDataFrame([(MAR31,), (APR30,)], "as_of_date date")
    customers = _versions(spark, "customers", [
        _customer("C1"),
        _customer("C1", segment="AFFLUENT", updated_at=datetime(2026, 4, 15), _extract_date=date(2026, 4, 15)),
        _customer("C2", customer_type="SME", birth_date=date(2015, 3, 1), segment="SME",
                  onboarding_date=date(2026, 4, 10), _extract_date=date(2026, 4, 10)),
        _customer("C3", onboarding_date=date(2025, 1, 1), account_manager_id=None),
    ])
    accounts = _versions(spark, "accounts", [
        _account("A1", "P_CUR", balance=Decimal("1000.00"), open_date=date(2020, 1, 10)),
        _account("A2", "P_TD", balance=Decimal("50000.00"), open_date=date(2025, 10, 15),
                 maturity_date=date(2026, 4, 15)),
        _account("A3", "P_FUND", cost_basis=Decimal("20000.00"), units=Decimal("19000"), open_date=date(2026, 2, 1)),
        _account("A4", "P_CARD", balance=Decimal("3000.00"), next_due_date=date(2026, 4, 10),
                 due_amount=Decimal("3000.00")),
        _account("A5", "P_SAV", balance=Decimal("10.00"), close_date=date(2025, 12, 1), status="CLOSED"),
    ])
    products = spark.createDataFrame(
        [("P_CUR", "CURRENT"), ("P_TD", "TIME_DEPOSIT"), ("P_FUND", "FUND"), ("P_CARD", "CREDIT_CARD"),
         ("P_SAV", "SAVINGS")], "product_id string, category string")
    txn_ddl = ("txn_id string, customer_id string, txn_ts timestamp, amount decimal(18,2), currency string, "
               "direction string, txn_type string, channel string, mcc string, counterparty_account string, "
               "country string, status string, _sign int, known_date date")

    def txn(tid, ts, amount, direction, kind, mcc=None, channel="POS"):
        return (tid, "C1", ts, Decimal(amount), "CNY", direction, kind, channel, mcc, None, "CN", "POSTED", 1,
                ts.date())
    daily = customer_daily(spark.createDataFrame([
        txn("T1", datetime(2026, 3, 31, 9), "100", "DEBIT", "CARD_PURCHASE", "5411"),
        txn("T2", datetime(2026, 3, 1, 9), "200", "DEBIT", "CARD_PURCHASE", "5812"),
        txn("T3", datetime(2026, 1, 15, 9), "300", "DEBIT", "CARD_PURCHASE", "4511"),
        txn("T4", datetime(2026, 3, 20, 9), "8000", "CREDIT", "SALARY", channel="ONLINE"),
    ], txn_ddl), None, None)
    interactions = spark.createDataFrame([
        ("C1", datetime(2026, 3, 1, 10), "COMPLAINT", datetime(2026, 3, 3, 10), None),
        ("C1", datetime(2026, 3, 25, 10), "COMPLAINT", None, None),
        ("C1", datetime(2026, 2, 1, 10), "SURVEY", None, 2),
        ("C1", datetime(2026, 3, 10, 10), "SURVEY", None, 4),
        ("C1", datetime(2026, 3, 30, 10), "CARE_CALL", None, None),
    ], "customer_id string, interaction_ts timestamp, interaction_type string, resolved_ts timestamp, "
       "satisfaction_score int")
    df = customer_profile(known_on(customers, CONTRACTS["customers"], dates),
                          known_on(accounts, CONTRACTS["accounts"], dates), products, daily, interactions, dates)
    return df, {(r["customer_id"], r["as_of_date"]): r for r in df.collect()}


def test_profile_has_one_row_per_known_customer_and_date(profile):
    df, rows = profile
    assert df.columns == CUSTOMER_PROFILE.column_names
    assert set(rows) == {("C1", MAR31), ("C3", MAR31), ("C1", APR30), ("C2", APR30), ("C3", APR30)}


def test_demographics_as_known(profile):
    _, rows = profile
    c1 = rows[("C1", MAR31)]
    assert (c1["age"], c1["age_band"], c1["tenure_months"], c1["segment"]) == (35, "35-44", 74, "MASS")
    assert rows[("C1", APR30)]["segment"] == "AFFLUENT"                  # the version delivered on 15 April
    assert rows[("C2", APR30)]["age_band"] is None and rows[("C2", APR30)]["customer_type"] == "SME"


def test_holdings_and_what_falls_due(profile):
    _, rows = profile
    c1 = rows[("C1", MAR31)]
    assert (c1["accounts_open"], c1["products_held"], c1["categories_held"]) == (4, 4, 4)
    assert (c1["deposit_balance"], c1["loan_balance"], c1["balance_fund"]) == (51000, 3000, 20000)
    assert c1["holds_savings"] == 0 and c1["months_since_last_new_product"] == 1
    assert (c1["next_maturity_date"], c1["maturing_30d_amount"]) == (date(2026, 4, 15), 50000)
    assert (c1["next_due_date"], c1["due_30d_amount"]) == (date(2026, 4, 10), 3000)
    later = rows[("C1", APR30)]
    assert later["next_maturity_date"] is None and later["maturing_30d_amount"] == 0 and later["next_due_date"] is None


def test_recency_frequency_monetary_and_trend(profile):
    _, rows = profile
    c1 = rows[("C1", MAR31)]
    assert (c1["days_since_last_txn"], c1["txn_count_7d"], c1["txn_count_30d"], c1["txn_count_90d"]) == (0, 1, 2, 4)
    assert (c1["card_spend_30d"], c1["card_spend_90d"], c1["income_30d"]) == (100, 600, 8000)
    assert c1["spend_trend_30d_vs_prior_90d"] == pytest.approx(100 / (500 / 3))
    assert c1["card_spend_share_grocery_90d"] == pytest.approx(1 / 6)
    assert c1["debit_share_pos_90d"] == 1.0 and c1["active_days_90d"] == 4
    assert rows[("C1", APR30)]["days_since_last_txn"] == 30


def test_service(profile):
    _, rows = profile
    c1 = rows[("C1", MAR31)]
    assert (c1["contacts_90d"], c1["days_since_last_contact"]) == (5, 1)
    assert (c1["complaints_365d"], c1["complaints_open"], c1["complaints_resolved_365d"]) == (2, 1, 1)
    assert c1["mean_resolution_days_365d"] == pytest.approx(2.0)
    assert (c1["care_contacts_365d"], c1["last_satisfaction_score"]) == (1, 4)


def test_a_customer_without_activity_gets_zeros_and_nulls(profile):
    _, rows = profile
    c3 = rows[("C3", MAR31)]
    assert (c3["accounts_open"], c3["txn_count_30d"], c3["card_spend_365d"], c3["complaints_open"]) == (0, 0, 0, 0)
    assert c3["days_since_last_txn"] is None and c3["card_spend_share_grocery_90d"] is None
    assert c3["account_manager_id"] is None


def test_snapshot_dates_follow_the_cadence():
    from jobs.features import snapshot_dates

    assert snapshot_dates(date(2026, 1, 30), date(2026, 3, 15), "month_end") == [
        date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 15)]
    assert snapshot_dates(date(2026, 3, 1), date(2026, 3, 16), "weekly") == [
        date(2026, 3, 1), date(2026, 3, 8), date(2026, 3, 15), date(2026, 3, 16)]
    assert len(snapshot_dates(date(2026, 3, 1), date(2026, 3, 10), "daily")) == 10


def test_tags_from_definitions(profile):
    from features.tags import Tag, customer_tags

    df, _ = profile
    tags = [Tag("fund_investor", "holds_fund + holds_wealth_mgmt > 0", "wealth"),
            Tag("quiet_month", "txn_count_30d = 0", "retention"),
            Tag("has_manager", "account_manager_id IS NOT NULL", "branches")]
    held = sorted((r["customer_id"], r["as_of_date"], r["tag"], r["owner"]) for r in customer_tags(df, tags).collect())
    assert ("C1", MAR31, "fund_investor", "wealth") in held
    assert ("C3", MAR31, "quiet_month", "retention") in held
    assert ("C1", MAR31, "quiet_month", "retention") not in held        # two transactions in 30 days
    assert not [h for h in held if h[0] == "C3" and h[2] == "has_manager"]
    assert len(held) == len(set(held))


def test_a_bad_tag_definition_names_the_tag(profile):
    from features.tags import Tag, TagError, check_tags

    df, _ = profile
    for tag, said in [(Tag("typo", "txn_count_31d > 0", "x"), "txn_count_31d"),
                      (Tag("not_a_test", "txn_count_30d + 1", "x"), "not true/false"),
                      (Tag("broken", "txn_count_30d >", "x"), "not valid")]:
        with pytest.raises(TagError) as e:
            check_tags(df, [tag])
        assert f"tag '{tag.name}'" in str(e.value) and said in str(e.value)


def test_configured_tags_are_valid_over_the_profile(profile, test_settings):
    from features.tags import Tag, check_tags

    df, _ = profile
    tags = [Tag(n, t.condition, t.owner) for n, t in test_settings.features.tags.items()]
    assert len(tags) >= 7
    check_tags(df, tags)
