"""Each maintenance task rule on inline rows: it fires exactly inside its trigger window and not outside it,
with the facts its message needs (models.maintenance; the default rules of conf/base/tasks.yaml)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from models.maintenance.after_sales import after_sales
from models.maintenance.events import event_invitations
from models.maintenance.service import service
from models.maintenance.wealth_checkup import period, wealth_checkup
from tests.conftest import settings_for

D = date(2026, 4, 10)
ACCOUNTS = ("account_id string, customer_id string, product_id string, product_name string, category string, "
            "risk_level string, currency string, maturity_date date, balance double, next_due_date date, "
            "due_amount double, status string, units double, cost_basis double")


def _fired(df) -> set[tuple]:
    return {(r["task_type"], r["customer_id"], r["trigger_key"]) for r in df.collect()}


@pytest.fixture(scope="module")
def cfg(test_settings):
    return test_settings.tasks


def test_deposit_card_and_loan_windows(spark, cfg):
    a = lambda i, cat, **kw: (f"A{i}", f"C{i}", "P1", "Prod", cat, "R1", kw.get("ccy", "CNY"), kw.get("mat"),  # noqa: E731
                              kw.get("bal", 10_000.0), kw.get("due"), kw.get("due_amt"), kw.get("st", "ACTIVE"),
                              None, None)
    rows = [a(1, "TIME_DEPOSIT", mat=date(2026, 4, 9)),      # matured yesterday: no
            a(2, "TIME_DEPOSIT", mat=D),                     # today: yes
            a(3, "TIME_DEPOSIT", mat=date(2026, 4, 24)),     # D + 14: yes
            a(4, "TIME_DEPOSIT", mat=date(2026, 4, 25)),     # D + 15: no
            a(5, "SAVINGS", mat=date(2026, 4, 12)),          # not a time deposit: no
            a(6, "CREDIT_CARD", due=date(2026, 4, 15), due_amt=300.0),   # D + 5, unpaid: yes
            a(7, "CREDIT_CARD", due=date(2026, 4, 16), due_amt=300.0),   # D + 6: no
            a(8, "CREDIT_CARD", due=date(2026, 4, 12), due_amt=0.0),     # paid: no
            a(9, "MORTGAGE", due=date(2026, 4, 12), due_amt=5_000.0, mat=date(2026, 5, 10)),   # instalment + maturity (D+30)
            a(10, "PERSONAL_LOAN", due=date(2026, 4, 1), due_amt=800.0, st="OVERDUE"),         # overdue, no instalment
            a(11, "PERSONAL_LOAN", mat=date(2026, 5, 11)),   # D + 31: no
            a(12, "TIME_DEPOSIT", mat=date(2026, 4, 20), ccy="USD", bal=1_000.0)]
    accounts = spark.createDataFrame(rows, ACCOUNTS)
    nav = spark.createDataFrame([], "product_id string, nav_date date, nav double, dividend_per_unit double")
    out = after_sales(accounts, nav, D, cfg.after_sales)
    assert _fired(out) == {
        ("DEPOSIT_MATURITY", "C2", "A2|2026-04-10"), ("DEPOSIT_MATURITY", "C3", "A3|2026-04-24"),
        ("DEPOSIT_MATURITY", "C12", "A12|2026-04-20"),
        ("CARD_REPAYMENT_DUE", "C6", "A6|2026-04-15"),
        ("LOAN_INSTALMENT_DUE", "C9", "A9|2026-04-12"), ("LOAN_MATURITY", "C9", "A9|2026-05-10"),
        ("LOAN_OVERDUE", "C10", "A10|2026-04-01")}
    rows = {r["trigger_key"]: r for r in out.collect()}
    usd = rows["A12|2026-04-20"]
    assert usd["amount_cny"] == pytest.approx(7_100.0)       # 1,000 USD at the reference rate
    assert usd["facts"]["amount"] == "1,000" and usd["facts"]["currency"] == "USD"
    assert usd["due_date"] == date(2026, 4, 20)
    overdue = rows["A10|2026-04-01"]
    assert overdue["due_date"] == D and overdue["facts"]["due_date"] == "2026-04-01"


def test_holding_returns(spark, cfg):
    acc = [("A1", "C1", "F1", "Growth fund", "FUND", "R3", "CNY", None, 0.0, None, None, "ACTIVE", 1000.0, 900.0),
           ("A2", "C2", "F2", "Bond fund", "FUND", "R2", "CNY", None, 0.0, None, None, "ACTIVE", 1000.0, 1100.0),
           ("A3", "C3", "F3", "Cash fund", "FUND", "R1", "CNY", None, 0.0, None, None, "ACTIVE", 1000.0, 1000.0)]
    nav = [("F1", date(2026, 4, 5), 1.00, None), ("F1", D, 1.06, None),           # +6% in 5 days: NAV_MOVE
           ("F2", date(2026, 4, 5), 1.00, None), ("F2", date(2026, 4, 6), 0.99, 0.01),   # dividend D-4: no
           ("F2", date(2026, 4, 8), 0.98, 0.02),                                   # dividend D-2: yes; -2%: no move
           ("F3", date(2026, 4, 5), 1.00, None), ("F3", D, 1.03, None)]            # R1 take profit 4%: no
    out = after_sales(spark.createDataFrame(acc, ACCOUNTS),
                      spark.createDataFrame(nav, "product_id string, nav_date date, nav double, dividend_per_unit double"),
                      D, cfg.after_sales)
    fired = {(r["task_type"], r["customer_id"]): r for r in out.collect()}
    assert set(fired) == {("NAV_MOVE", "C1"), ("TAKE_PROFIT", "C1"), ("DIVIDEND_PAID", "C2"), ("STOP_LOSS", "C2")}
    assert fired[("NAV_MOVE", "C1")]["facts"]["nav_change"] == "+6.0%"
    assert fired[("NAV_MOVE", "C1")]["trigger_key"] == "A1|week-of-2026-04-06"
    tp = fired[("TAKE_PROFIT", "C1")]["facts"]
    assert tp["holding_return"] == "+17.8%" and tp["line"] == "+10.0%"          # 1,060 / 900 - 1 against R3's line
    sl = fired[("STOP_LOSS", "C2")]["facts"]
    assert sl["holding_return"] == "-10.9%" and sl["line"] == "-4.0%"           # 980 / 1,100 - 1 against R2's line
    assert fired[("DIVIDEND_PAID", "C2")]["facts"]["dividend"] == "20"          # 1,000 units x 0.02


def test_customer_lines_override_risk_level(spark, tmp_path):
    s = settings_for(tmp_path, "tasks.after_sales.customer_lines={C3: {take_profit: 0.02, stop_loss: 0.5}}")
    acc = [("A3", "C3", "F3", "Cash fund", "FUND", "R1", "CNY", None, 0.0, None, None, "ACTIVE", 1000.0, 1000.0)]
    nav = [("F3", D, 1.03, None)]
    out = after_sales(spark.createDataFrame(acc, ACCOUNTS),
                      spark.createDataFrame(nav, "product_id string, nav_date date, nav double, dividend_per_unit double"),
                      D, s.tasks.after_sales)
    assert {r["task_type"] for r in out.collect()} == {"TAKE_PROFIT"}          # +3% passes the customer's own 2%


PROFILE = ("customer_id string, value_tier string, investment_value double, above_tolerance_share double, "
           "top_holding_share double, mean_portfolio_risk double, risk_tolerance string, investment_holdings int")


def test_wealth_checkup_period_and_early(spark, cfg):
    rows = [("C1", "PLATINUM", 50_000.0, 0.0, 0.3, 2.0, "C3", 3),    # monthly, periodic: due at month end
            ("C2", "GOLD", 50_000.0, 0.0, 1.0, 2.0, "C3", 1),        # quarterly, periodic (one fund: no drift)
            ("C3", "GOLD", 50_000.0, 0.25, 0.3, 4.0, "C2", 4),       # drift: early, due today
            ("C4", "GOLD", 50_000.0, 0.0, 0.7, 3.0, "C3", 2),        # concentration: early
            ("C5", "GOLD", 5_000.0, 0.9, 0.9, 5.0, "C1", 2)]         # under the minimum invested: none
    out = {r["customer_id"]: r for r in wealth_checkup(spark.createDataFrame(rows, PROFILE), D, cfg.wealth_checkup).collect()}
    assert set(out) == {"C1", "C2", "C3", "C4"}
    assert (out["C1"]["trigger_key"], out["C1"]["due_date"]) == ("2026-04", date(2026, 4, 30))
    assert (out["C2"]["trigger_key"], out["C2"]["due_date"]) == ("2026-Q2", date(2026, 6, 30))
    assert (out["C3"]["trigger_key"], out["C3"]["due_date"]) == ("2026-Q2", D)
    assert out["C3"]["facts"]["reason"] == "risk drift above tolerance"
    assert out["C3"]["facts"]["above_tolerance_share"] == "25.0%"
    assert out["C4"]["facts"]["reason"] == "concentrated portfolio"
    assert period(date(2026, 12, 31), False) == ("2026-Q4", date(2026, 12, 31))


INTERACTIONS = ("interaction_id string, customer_id string, interaction_ts timestamp, interaction_type string, "
                "complaint_category string, resolution_status string, resolved_ts timestamp, "
                "satisfaction_score int, updated_at timestamp")


def _ts(d: date, h: int = 10) -> datetime:
    return datetime(d.year, d.month, d.day, h)


def test_complaint_service_clock(spark, cfg):
    raised = date(2026, 4, 1)
    rows = [("I1", "C1", _ts(raised), "COMPLAINT", "FEES", "OPEN", None, None, _ts(raised)),
            ("I2", "C2", _ts(raised), "COMPLAINT", "CARD", "ACKNOWLEDGED", None, None, _ts(date(2026, 4, 2))),
            ("I3", "C3", _ts(date(2026, 3, 20)), "COMPLAINT", "LOAN", "RESOLVED", _ts(date(2026, 4, 2)), None,
             _ts(date(2026, 4, 2))),
            ("I4", "C4", _ts(date(2026, 4, 5)), "SURVEY", None, None, None, 2, _ts(date(2026, 4, 5))),
            ("I5", "C5", _ts(date(2026, 4, 5)), "SURVEY", None, None, None, 3, _ts(date(2026, 4, 5))),
            # resolved after the run date: still open on it
            ("I6", "C6", _ts(raised), "COMPLAINT", "WEALTH", "RESOLVED", _ts(date(2026, 4, 20)), None,
             _ts(date(2026, 4, 20)))]
    df = spark.createDataFrame(rows, INTERACTIONS)

    def on(d):
        return _fired(service(df, d, cfg.service))

    assert on(D) == {("COMPLAINT_ACKNOWLEDGE", "C1", "I1|acknowledge"), ("COMPLAINT_FOLLOW_UP", "C3", "I3|follow_up"),
                     ("SURVEY_FOLLOW_UP", "C4", "I4"), ("COMPLAINT_ACKNOWLEDGE", "C6", "I6|acknowledge")}
    # resolve warning opens on raised + 15 - 3 = 04-13 for the unresolved ones
    assert ("COMPLAINT_RESOLVE", "C1", "I1|resolve") not in on(date(2026, 4, 12))
    assert {t for t in on(date(2026, 4, 13)) if t[0] == "COMPLAINT_RESOLVE"} == {
        ("COMPLAINT_RESOLVE", "C1", "I1|resolve"), ("COMPLAINT_RESOLVE", "C2", "I2|resolve"),
        ("COMPLAINT_RESOLVE", "C6", "I6|resolve")}
    # follow-up of I3 (resolved 04-02): from 04-09 for 7 days, so 04-15 is the last day
    assert ("COMPLAINT_FOLLOW_UP", "C3", "I3|follow_up") not in on(date(2026, 4, 8))
    assert ("COMPLAINT_FOLLOW_UP", "C3", "I3|follow_up") in on(date(2026, 4, 15))
    assert ("COMPLAINT_FOLLOW_UP", "C3", "I3|follow_up") not in on(date(2026, 4, 16))
    # survey 04-05 scored 2: follow-up for 7 days, 04-11 the last
    assert ("SURVEY_FOLLOW_UP", "C4", "I4") in on(date(2026, 4, 11))
    assert ("SURVEY_FOLLOW_UP", "C4", "I4") not in on(date(2026, 4, 12))
    assert ("SURVEY_FOLLOW_UP", "C4", "I4") not in on(date(2026, 4, 4))     # before the survey
    resolve = {r["customer_id"]: r for r in service(df, date(2026, 4, 13), cfg.service).collect()
               if r["task_type"] == "COMPLAINT_RESOLVE"}
    assert resolve["C1"]["due_date"] == date(2026, 4, 16) and resolve["C1"]["facts"]["complaint_category"] == "FEES"


def test_event_invitations(spark, tmp_path):
    s = settings_for(tmp_path, "tasks.events=[{event_id: E1, name: Salon, kind: investment_salon, "
                                    "date: '2026-04-20', invite_days: 10, tiers: [GOLD], tags: [fund_investor], "
                                    "capacity: 2}, {event_id: E2, name: Talk, kind: lecture, date: '2026-05-30', "
                                    "invite_days: 5, capacity: 10}]")
    profile = spark.createDataFrame(
        [("C1", "GOLD", True, 9.0, "X"), ("C2", "GOLD", True, 8.0, "X"), ("C3", "GOLD", True, 7.0, "X"),
         ("C4", "GOLD", False, 99.0, "X"), ("C5", "SILVER", True, 50.0, "X"), ("C6", "GOLD", True, 60.0, "X")],
        "customer_id string, value_tier string, marketing_consent boolean, customer_value double, city string")
    tags = spark.createDataFrame([(c, "fund_investor") for c in ("C1", "C2", "C3", "C4", "C5")],
                                 "customer_id string, tag string")
    ev = s.tasks.events

    def on(d):
        return _fired(event_invitations(profile, tags, d, ev))

    # E1 invites from 04-10 to 04-19: consenting GOLD fund investors, the two most valuable
    assert on(date(2026, 4, 10)) == {("EVENT_INVITATION", "C1", "E1"), ("EVENT_INVITATION", "C2", "E1")}
    assert on(date(2026, 4, 9)) == set() and on(date(2026, 4, 20)) == set()
    assert len(on(date(2026, 5, 25))) == 5          # E2: no tiers, no tags: every consenting customer
