"""Planning candidate tasks into worklists on inline rows: orientation mix, compliance first, one contact a day,
manager capacity, suppression, contact frequency, roll-over with ageing, expiry, stable ids
(models.maintenance.plan)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from models.maintenance.candidates import CANDIDATE_SCHEMA
from models.maintenance.plan import (TemplateError, check_templates, expired, planned, prioritised, rules_version,
                                     task_rows)
from tests.conftest import settings_for

D = date(2026, 4, 10)
CONTEXT = ("customer_id string, account_manager_id string, branch_id string, segment string, value_tier string, "
           "orientation string, marketing_consent boolean")


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return settings_for(tmp_path_factory.mktemp("plan"), "tasks.capacity.manager_tasks_per_day=2").tasks


def _cands(spark, rows):
    return spark.createDataFrame([(c, t, k, due, amt, {"x": "1"}) for c, t, k, due, amt in rows], CANDIDATE_SCHEMA)


def _plan(spark, cfg, cands, customers, suppressed=None, history=None, as_of=D):
    sup = suppressed if suppressed is not None else spark.createDataFrame([], "customer_id string, reason string")
    p = planned(prioritised(cands, customers, history, as_of, cfg), sup, history, as_of, cfg)
    return task_rows(p, as_of, cfg, rules_version(cfg))


def _by(rows, key="task_type"):
    return {(r["customer_id"], r[key]): r for r in rows}


def test_orientation_decides_the_mix(spark, cfg):
    customers = spark.createDataFrame([("R", "AM1", "B1", "MASS", "GOLD", "relationship", True),
                                       ("V", "AM1", "B1", "MASS", "GOLD", "value", True)], CONTEXT)
    rows = []
    for c in ("R", "V"):
        rows += [(c, "BIRTHDAY", "2026-04-13", date(2026, 4, 13), None),
                 (c, "WEALTH_CHECKUP", "2026-Q2", date(2026, 6, 30), 50_000.0)]
    out = _by(_plan(spark, cfg, _cands(spark, rows), customers).collect())
    assert out[("R", "BIRTHDAY")]["status"] == "PLANNED"            # relationship: care first
    assert out[("R", "WEALTH_CHECKUP")]["status"] == "DEFERRED"
    assert out[("V", "WEALTH_CHECKUP")]["status"] == "PLANNED"      # value: the check-up first
    assert out[("V", "BIRTHDAY")]["status_reason"].startswith("one contact a day")
    # the documented formula, term by term: GOLD 2.5 x urgency 1.0 x (1 + (1 - 3/30)) x benefit 0.8 x mix 2.0
    b = out[("R", "BIRTHDAY")]
    assert b["urgency"] == pytest.approx(1.9) and b["benefit"] == pytest.approx(0.8)
    assert b["priority"] == pytest.approx(2.5 * 1.9 * 0.8 * 2.0, abs=1e-4)
    assert out[("V", "WEALTH_CHECKUP")]["benefit"] == pytest.approx(1.5 * (1 + 0.7781512504), abs=1e-6)


def test_compliance_first_capacity_and_one_contact(spark, cfg):
    customers = spark.createDataFrame(
        [(f"C{i}", "AM1", "B1", "MASS", "PLATINUM" if i < 3 else "BRONZE", "value", True) for i in range(5)]
        + [("P1", None, "B7", "MASS", "BRONZE", "service", True)], CONTEXT)
    rows = [(f"C{i}", "DEPOSIT_MATURITY", f"A{i}|x", D + timedelta(2), 500_000.0) for i in range(5)]
    rows += [(f"C{i}", "CARD_REPAYMENT_DUE", f"K{i}|x", D + timedelta(1), 100.0) for i in range(5)]
    rows += [("C4", "LOAN_OVERDUE", "L4|x", D, 10.0),                 # compliance, lowest value: still first
             ("P1", "DEPOSIT_MATURITY", "A9|x", D, 1_000.0)]          # no manager: the branch pool
    out = _plan(spark, cfg, _cands(spark, rows), customers).collect()
    plan = [r for r in out if r["status"] == "PLANNED"]
    am1 = sorted((r for r in plan if r["manager_id"] == "AM1"), key=lambda r: r["worklist_position"])
    assert (am1[0]["customer_id"], am1[0]["task_type"]) == ("C4", "LOAN_OVERDUE")
    # then the most valuable: a PLATINUM customer's deposit (C0-C2 tie on priority; the task id settles it)
    assert am1[1]["customer_id"] in {"C0", "C1", "C2"} and am1[1]["task_type"] == "DEPOSIT_MATURITY"
    assert [r["worklist_position"] for r in am1] == [1, 2]
    pool = [r for r in plan if r["manager_id"] == "BRANCH-B7"]
    assert len(pool) == 1 and pool[0]["manager_kind"] == "BRANCH_POOL"
    per_customer = {}
    for r in plan:
        per_customer[r["customer_id"]] = per_customer.get(r["customer_id"], 0) + 1
    assert max(per_customer.values()) == 1
    assert len(out) == len(rows)                                      # nothing dropped: the rest is DEFERRED
    reasons = {r["status_reason"].split(":")[0] for r in out if r["status"] == "DEFERRED"}
    assert reasons == {"manager capacity", "one contact a day"}


def test_suppression_holds_marketing_only(spark, cfg):
    customers = spark.createDataFrame([("OK", "AM1", "B1", "MASS", "GOLD", "value", True),
                                       ("NOC", "AM2", "B1", "MASS", "GOLD", "value", False),
                                       ("AML", "AM3", "B1", "MASS", "GOLD", "value", True)], CONTEXT)
    rows = [(c, "OFFER_CONVERSATION", "P1|2026-04", D, None) for c in ("OK", "NOC", "AML")]
    rows += [("AML", "DEPOSIT_MATURITY", "A1|x", D + timedelta(3), 1_000.0)]
    sup = spark.createDataFrame([("AML", "open AML alert"), ("AML", "fraud hold")], "customer_id string, reason string")
    out = _by(_plan(spark, cfg, _cands(spark, rows), customers, sup).collect())
    assert out[("OK", "OFFER_CONVERSATION")]["status"] == "PLANNED"
    assert (out[("NOC", "OFFER_CONVERSATION")]["status"], out[("NOC", "OFFER_CONVERSATION")]["status_reason"]) == \
        ("SUPPRESSED", "no marketing consent")
    assert (out[("AML", "OFFER_CONVERSATION")]["status"], out[("AML", "OFFER_CONVERSATION")]["status_reason"]) == \
        ("SUPPRESSED", "fraud hold; open AML alert")
    assert out[("AML", "DEPOSIT_MATURITY")]["status"] == "PLANNED"   # after-sales service is not marketing


def test_roll_over_ageing_frequency_and_expiry(spark, cfg):
    customers = spark.createDataFrame([(f"C{i}", "AM1", "B1", "MASS", "BRONZE", "relationship", True)
                                       for i in range(4)], CONTEXT)
    day1 = D - timedelta(1)
    first = [("C0", "DEPOSIT_MATURITY", "A0|x", D + timedelta(5), 9e6),
             ("C1", "DEPOSIT_MATURITY", "A1|x", D + timedelta(5), 8e6),
             ("C2", "BIRTHDAY", "2026-04-10", D, None),                 # over capacity on day 1: deferred
             ("C3", "FESTIVAL", "Labour Day|2026-05-01", day1 + timedelta(1), None)]
    h1 = _plan(spark, cfg, _cands(spark, first), customers, as_of=day1)
    s1 = _by(h1.collect())
    assert s1[("C2", "BIRTHDAY")]["status"] == "DEFERRED" and s1[("C3", "FESTIVAL")]["status"] == "DEFERRED"
    # day 2: the deposits were planned yesterday (done); the birthday rolls over; the festival no longer fires
    second = first[:3] + [("C1", "RELATIONSHIP_ANNIVERSARY", "2026-04-12", D + timedelta(2), None)]
    # the history as the job reads it, a table's rows (not the plan that made them, which the next plans would
    # nest again and again)
    history = h1.withColumn("planned_at", F.current_timestamp()).localCheckpoint()
    out = _plan(spark, cfg, _cands(spark, second), customers, history=history)
    gone = expired(history, out, D).collect()
    rows = _by(out.collect())
    assert ("C0", "DEPOSIT_MATURITY") not in rows and ("C1", "DEPOSIT_MATURITY") not in rows
    bday = rows[("C2", "BIRTHDAY")]
    assert bday["status"] == "PLANNED" and bday["first_raised_date"] == day1 and bday["days_waiting"] == 1
    assert bday["task_id"] == s1[("C2", "BIRTHDAY")]["task_id"]          # same task, updated, not duplicated
    y = s1[("C2", "BIRTHDAY")]     # a day older (ageing 0.1 a day) and now due today (urgency doubled)
    assert bday["urgency"] == pytest.approx(2.0) and y["urgency"] == pytest.approx(1 + 29 / 30)
    assert bday["priority"] == pytest.approx(y["priority"] / y["urgency"] * bday["urgency"] * 1.1, rel=1e-3)
    assert [(r["customer_id"], r["task_type"], r["status"]) for r in gone] == [("C3", "FESTIVAL", "EXPIRED")]

    # contact frequency: C2's birthday is planned on D; a care task on D + 1 waits 30 days (BRONZE) ...
    h2 = history.unionByName(out.withColumn("planned_at", F.current_timestamp())).localCheckpoint()
    third = [("C2", "FESTIVAL", "Labour Day|2026-05-01", date(2026, 5, 1), None),
             ("C2", "COMPLAINT_ACKNOWLEDGE", "I1|acknowledge", D + timedelta(1), None)]
    nxt = _by(_plan(spark, cfg, _cands(spark, third), customers, history=h2, as_of=D + timedelta(1)).collect())
    assert nxt[("C2", "FESTIVAL")]["status"] == "DEFERRED"
    assert nxt[("C2", "FESTIVAL")]["status_reason"] == \
        "contact frequency: last contact 2026-04-10, next from 2026-05-10"
    assert nxt[("C2", "COMPLAINT_ACKNOWLEDGE")]["status"] == "PLANNED"   # compliance never waits


def test_task_ids_are_stable_and_templates_checked(spark, cfg):
    customers = spark.createDataFrame([("C1", "AM1", "B1", "MASS", "GOLD", "value", True)], CONTEXT)
    rows = [("C1", "DEPOSIT_MATURITY", "A1|2026-04-20", date(2026, 4, 20), 1.0)]
    a = _plan(spark, cfg, _cands(spark, rows), customers).first()["task_id"]
    b = _plan(spark, cfg, _cands(spark, rows), customers, as_of=D + timedelta(3)).first()["task_id"]
    assert a == b and a.startswith("T-") and len(a) == 18
    with pytest.raises(TemplateError, match="tasks.types.BIRTHDAY.template names age"):
        check_templates(cfg.types, {"BIRTHDAY": {"occasion_date"}})
    with pytest.raises(TemplateError, match="no entry in tasks.types"):
        check_templates(cfg.types, {"NOT_A_TYPE": set()})
