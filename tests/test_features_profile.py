"""customer_profile on inline rows: exact values per feature group, for two as-of dates built in one pass."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from features.daily import customer_daily
from features.history import known_on
from features.profile.supply_chain import known_invoices
from features.profile import CUSTOMER_PROFILE, ProfileSources, customer_profile
from features.profile.relationship import Rule
from features.profile.value import ValueRules
from pipelines.contracts import CONTRACTS
from silver_rows import versions

MAR31, APR30 = date(2026, 3, 31), date(2026, 4, 30)
VALUE_RULES = ValueRules(deposit_margin=0.01, loan_margin=0.02, investment_fee=0.01, card_interchange=0.01,
                         tiers=(("GOLD", 1000.0), ("SILVER", 100.0), ("BRONZE", 0.0)))


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
def profile(spark, test_settings):
    from dataclasses import replace

    from jobs.features import profile_rules

    rules = replace(profile_rules(test_settings), value=VALUE_RULES)  # the configured orientation and loyalty
    customers = versions(spark, "customers", [
        _customer("C1"),
        _customer("C1", segment="AFFLUENT", updated_at=datetime(2026, 4, 15), _extract_date=date(2026, 4, 15)),
        _customer("C2", customer_type="SME", birth_date=date(2015, 3, 1), segment="SME",
                  onboarding_date=date(2026, 4, 10), _extract_date=date(2026, 4, 10)),
        _customer("C3", onboarding_date=date(2025, 1, 1), account_manager_id=None),
    ])
    accounts = versions(spark, "accounts", [
        _account("A1", "P_CUR", balance=Decimal("1000.00"), open_date=date(2020, 1, 10)),
        _account("A2", "P_TD", balance=Decimal("50000.00"), open_date=date(2025, 10, 15),
                 maturity_date=date(2026, 4, 15)),
        _account("A3", "P_FUND", cost_basis=Decimal("20000.00"), units=Decimal("19000"), open_date=date(2026, 2, 1)),
        _account("A4", "P_CARD", balance=Decimal("3000.00"), next_due_date=date(2026, 4, 10),
                 due_amount=Decimal("3000.00")),
        _account("A5", "P_SAV", balance=Decimal("10.00"), close_date=date(2025, 12, 1), status="CLOSED"),
    ])
    products = spark.createDataFrame(
        [("P_CUR", "CURRENT", "R1"), ("P_TD", "TIME_DEPOSIT", "R1"), ("P_FUND", "FUND", "R3"),
         ("P_CARD", "CREDIT_CARD", "R1"), ("P_SAV", "SAVINGS", "R1")], "product_id string, category string, risk_level string")
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
        txn("T5", datetime(2025, 12, 15, 9), "15", "DEBIT", "FEE", channel="ONLINE"),
    ], txn_ddl), None, None)
    interactions = spark.createDataFrame([
        ("C1", datetime(2026, 3, 1, 10), "COMPLAINT", datetime(2026, 3, 3, 10), None),
        ("C1", datetime(2026, 3, 25, 10), "COMPLAINT", None, None),
        ("C1", datetime(2026, 2, 1, 10), "SURVEY", None, 2),
        ("C1", datetime(2026, 3, 10, 10), "SURVEY", None, 4),
        ("C1", datetime(2026, 3, 30, 10), "CARE_CALL", None, None),
        ("C1", datetime(2026, 3, 31, 9), "COMPLAINT", None, None),           # delivered on 2 April
    ], "customer_id string, interaction_ts timestamp, interaction_type string, resolved_ts timestamp, "
       "satisfaction_score int").withColumn(
        "_extract_date", F.when(F.col("interaction_ts") == datetime(2026, 3, 31, 9), F.lit(date(2026, 4, 2)))
        .otherwise(F.to_date("interaction_ts")))
    nav = spark.createDataFrame([("P_FUND", date(2026, 3, 30), Decimal("1.1"), date(2026, 3, 30)),
                                 ("P_FUND", date(2026, 4, 29), Decimal("1.2"), date(2026, 4, 29))],
                                "product_id string, nav_date date, nav decimal(18,6), _extract_date date") \
        .withColumn("dividend_per_unit", F.lit(None).cast("decimal(18,6)"))
    def build(as_of: list[date], previous=None, previous_date=None):
        dates = spark.createDataFrame([(d,) for d in as_of], "as_of_date date")
        sources = ProfileSources(dates, known_on(customers, CONTRACTS["customers"], dates),
                                 known_on(accounts, CONTRACTS["accounts"], dates), products, nav, daily, interactions,
                                 known_on(versions(spark, "firms", []), CONTRACTS["firms"], dates),
                                 known_invoices(versions(spark, "invoices", []), dates), previous,
                                 previous_date)
        return customer_profile(sources, rules)

    df = build([MAR31, APR30]).cache()
    return df, {(r["customer_id"], r["as_of_date"]): r for r in df.collect()}, build, rules


def test_profile_has_one_row_per_known_customer_and_date(profile):
    df, rows, _, _ = profile
    assert df.columns == CUSTOMER_PROFILE.column_names
    assert set(rows) == {("C1", MAR31), ("C3", MAR31), ("C1", APR30), ("C2", APR30), ("C3", APR30)}


def test_demographics_as_known(profile):
    _, rows, _, _ = profile
    c1 = rows[("C1", MAR31)]
    assert (c1["age"], c1["age_band"], c1["tenure_months"], c1["segment"]) == (35, "35-44", 74, "MASS")
    assert rows[("C1", APR30)]["segment"] == "AFFLUENT"                  # the version delivered on 15 April
    assert rows[("C2", APR30)]["age_band"] is None and rows[("C2", APR30)]["customer_type"] == "SME"


def test_holdings_and_what_falls_due(profile):
    _, rows, _, _ = profile
    c1 = rows[("C1", MAR31)]
    assert (c1["accounts_open"], c1["products_held"], c1["categories_held"]) == (4, 4, 4)
    assert (c1["deposit_balance"], c1["loan_balance"], c1["balance_fund"]) == (51000, 3000, 20000)
    assert c1["holds_savings"] == 0 and c1["months_since_last_new_product"] == 1
    assert (c1["next_maturity_date"], c1["maturing_30d_amount"]) == (date(2026, 4, 15), 50000)
    assert (c1["next_due_date"], c1["due_30d_amount"]) == (date(2026, 4, 10), 3000)
    later = rows[("C1", APR30)]
    assert later["next_maturity_date"] is None and later["maturing_30d_amount"] == 0 and later["next_due_date"] is None


def test_recency_frequency_monetary_and_trend(profile):
    _, rows, _, _ = profile
    c1 = rows[("C1", MAR31)]
    assert (c1["days_since_last_txn"], c1["txn_count_7d"], c1["txn_count_30d"], c1["txn_count_90d"]) == (0, 1, 2, 4)
    assert (c1["card_spend_30d"], c1["card_spend_90d"], c1["income_30d"]) == (100, 600, 8000)
    assert c1["spend_trend_30d_vs_prior_90d"] == pytest.approx(100 / (500 / 3))
    assert c1["card_spend_share_grocery_90d"] == pytest.approx(1 / 6)
    assert c1["debit_share_pos_90d"] == 1.0 and c1["active_days_90d"] == 4
    assert rows[("C1", APR30)]["days_since_last_txn"] == 30


def test_service(profile):
    _, rows, _, _ = profile
    c1 = rows[("C1", MAR31)]
    assert (c1["contacts_90d"], c1["days_since_last_contact"]) == (5, 1)
    assert (c1["complaints_365d"], c1["complaints_open"], c1["complaints_resolved_365d"]) == (2, 1, 1)
    assert c1["mean_resolution_days_365d"] == pytest.approx(2.0)
    assert (c1["care_contacts_365d"], c1["last_satisfaction_score"]) == (1, 4)
    # the complaint of 31 March arrived on 2 April: unknown on 31 March, counted by 30 April
    assert (rows[("C1", APR30)]["complaints_365d"], rows[("C1", APR30)]["complaints_open"]) == (3, 2)


def test_a_customer_without_activity_gets_zeros_and_nulls(profile):
    _, rows, _, _ = profile
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

    df, _, _, _ = profile
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

    df, _, _, _ = profile
    for tag, said in [(Tag("typo", "txn_count_31d > 0", "x"), "txn_count_31d"),
                      (Tag("not_a_test", "txn_count_30d + 1", "x"), "not true/false"),
                      (Tag("broken", "txn_count_30d >", "x"), "not valid")]:
        with pytest.raises(TagError) as e:
            check_tags(df, [tag])
        assert f"tag '{tag.name}'" in str(e.value) and said in str(e.value)


def test_configured_tags_are_valid_over_the_profile(profile, test_settings):
    from features.tags import Tag, check_tags

    df, _, _, _ = profile
    tags = [Tag(n, t.condition, t.owner) for n, t in test_settings.features.tags.items()]
    assert len(tags) >= 7
    check_tags(df, tags)


def test_value_from_fees_interchange_and_balance_margins(profile):
    _, rows, _, _ = profile
    c1, later = rows[("C1", MAR31)], rows[("C1", APR30)]
    # MAR31: deposits 51,000 x 1% + card 3,000 x 2% + fund 19,000 units x NAV 1.1 x 1%
    annual = 510 + 60 + 209
    assert c1["fee_revenue_365d"] == pytest.approx(15 + 600 * 0.01)
    assert c1["balance_revenue_annual"] == pytest.approx(annual)
    assert c1["current_value"] == pytest.approx(21 + annual)
    # no earlier snapshot: every fee known so far, balances accrued since onboarding on 10 Jan 2020
    since_onboarding = (MAR31 - date(2020, 1, 10)).days
    assert c1["historical_value"] == pytest.approx(21 + annual * since_onboarding / 365)
    assert c1["potential_value"] is None
    assert c1["customer_value"] == pytest.approx(c1["historical_value"] + c1["current_value"])
    assert c1["value_tier"] == "GOLD"
    assert c1["share_of_wallet_365d"] == pytest.approx(8000 / 240000)
    # APR30 carries MAR31 forward: no new fees, 30 days at April's balances (NAV 1.2)
    april = 510 + 60 + 228
    assert later["historical_value"] == pytest.approx(c1["historical_value"] + april * 30 / 365)
    c3 = rows[("C3", MAR31)]
    assert (c3["historical_value"], c3["current_value"], c3["value_tier"]) == (0, 0, "BRONZE")
    assert c3["share_of_wallet_365d"] == 0


def test_a_nightly_snapshot_carried_from_the_last_equals_the_one_pass_backfill(profile):
    df, rows, build, _ = profile
    nightly = build([APR30], df.where(F.col("as_of_date") == MAR31), MAR31)
    got = {r["customer_id"]: r for r in nightly.collect()}
    assert set(got) == {"C1", "C2", "C3"}
    for cid, r in got.items():
        for name, value in rows[(cid, APR30)].asDict().items():
            assert r[name] == (pytest.approx(value) if isinstance(value, float) else value), (cid, name)


def test_orientation_and_loyalty_name_the_rule(profile):
    _, rows, _, _ = profile
    c1, c3 = rows[("C1", MAR31)], rows[("C3", MAR31)]
    # five contacts in 90 days, one care call: not personal contact, not wealth-active; service
    assert (c1["orientation"], c1["orientation_rule"]) == ("service", "service_seeker")
    # 74 months, four categories, but a 3% share of wallet: liked (survey 4), not yet conative
    assert (c1["loyalty_stage"], c1["loyalty_rule"]) == ("affective", "likes_the_bank")
    assert (c3["orientation"], c3["orientation_rule"]) == ("service", "default_service")
    assert (c3["loyalty_stage"], c3["loyalty_rule"]) == ("cognitive", "knows_the_bank")


def test_the_first_matching_rule_wins_and_no_match_is_null(profile):
    from features.profile.relationship import relationship_features

    df, _, _, _ = profile
    orientation = (Rule("big_saver", "value", "deposit_balance >= 50000"),
                   Rule("any_fund", "relationship", "holds_fund > 0"))
    out = {(r["customer_id"], r["as_of_date"]): (r["orientation"], r["orientation_rule"], r["loyalty_stage"])
           for r in relationship_features(df.drop("orientation", "orientation_rule", "loyalty_stage", "loyalty_rule"),
                                          list(orientation), []).collect()}
    assert out[("C1", MAR31)] == ("value", "big_saver", None)
    assert out[("C3", MAR31)] == (None, None, None)


def test_a_bad_rule_names_the_rule(profile):
    from features.profile.relationship import RuleError, check_rules

    df, _, _, _ = profile
    for rule, said in [(Rule("r1", "loyal", "true"), "not one of"),
                       (Rule("r2", "value", "no_such_column > 1"), "no_such_column"),
                       (Rule("r3", "value", "tenure_months"), "not true/false")]:
        with pytest.raises(RuleError) as e:
            check_rules(df, "orientation", [rule], ("relationship", "value", "service"))
        assert f"rule '{rule.name}'" in str(e.value) and said in str(e.value)
