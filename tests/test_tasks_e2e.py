"""The maintenance engine end to end on the generated bank: two nightly runs and a rerun of
serving.maintenance_tasks, checked over the whole table (capacity, one contact a day, suppression, stable ids,
roll-over), and the worklist in the terminal, as CSV and as HTML."""

from __future__ import annotations

import csv
from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from jobs.cli import main
from jobs.features import PROFILE, run_features
from jobs.tables import MAINTENANCE_TASKS, build_catalog
from jobs.tasks import build_tasks
from jobs.worklist import worklists
from tests.conftest import BANK_SETTINGS, local_overrides, settings_for

pytestmark = pytest.mark.slow
FAMILIES = {"after_sales", "wealth_checkup", "care", "events", "service"}


def _overrides(root, end: date) -> list[str]:
    ev = (f"tasks.events=[{{event_id: EV1, name: Salon, kind: investment_salon, date: '{end + timedelta(10)}', "
          f"invite_days: 20, tiers: [], tags: [], capacity: 25}}]")
    return [*BANK_SETTINGS, ev, "tasks.capacity.manager_tasks_per_day=8", "tasks.capacity.branch_pool_tasks_per_day=15"]


@pytest.fixture(scope="module")
def runs(spark, ingested_bank):
    _, summary, root = ingested_bank
    end = date.fromisoformat(summary["end_date"])
    settings = settings_for(root, *_overrides(root, end))
    for d in (end - timedelta(1), end):
        run_features(spark, settings, as_of=d)
    first = build_tasks(spark, settings, as_of=end - timedelta(1))
    second = build_tasks(spark, settings, as_of=end)
    catalog = build_catalog(settings)
    table = catalog.read(spark, MAINTENANCE_TASKS.name)
    before = {tuple(r) for r in table.where(F.col("run_date") == F.lit(end)).select(
        "task_id", "status", "worklist_position", "priority", "message").collect()}
    rerun = build_tasks(spark, settings, as_of=end)
    return settings, catalog, root, end, first, second, rerun, before


def test_every_family_and_a_rerun_gives_the_same_tasks(spark, runs):
    settings, catalog, _, end, first, second, rerun, before = runs
    table = catalog.read(spark, MAINTENANCE_TASKS.name)
    raised = {r[0] for r in table.select("family").distinct().collect()}
    assert FAMILIES <= raised, raised
    assert {"after_sales", "wealth_checkup"} <= set(first.by_family) | set(second.by_family)
    after = {tuple(r) for r in table.where(F.col("run_date") == F.lit(end)).select(
        "task_id", "status", "worklist_position", "priority", "message").collect()}
    assert after == before and second.rows == rerun.rows == len(after)
    assert table.where(F.col("message").contains("{")).count() == 0
    assert table.groupBy("run_date", "task_id").count().where("count > 1").count() == 0


def test_capacity_and_one_contact_a_day_over_the_whole_table(spark, runs):
    settings, catalog, *_ = runs
    t = catalog.read(spark, MAINTENANCE_TASKS.name).where(F.col("status") == "PLANNED")
    per_manager = t.groupBy("run_date", "manager_id", "manager_kind").count().collect()
    assert per_manager
    for r in per_manager:
        cap = 8 if r["manager_kind"] == "ACCOUNT_MANAGER" else 15
        assert r["count"] <= cap, r
    assert t.groupBy("run_date", "customer_id").count().where("count > 1").count() == 0
    positions = t.groupBy("run_date", "manager_id").agg(F.min("worklist_position"), F.max("worklist_position"),
                                                        F.count(F.lit(1))).collect()
    assert all(r[2] == 1 and r[3] == r[4] for r in positions)


def test_no_marketing_task_reaches_a_suppressed_customer(spark, runs):
    settings, catalog, *_ = runs
    t = catalog.read(spark, MAINTENANCE_TASKS.name).where(F.col("is_marketing"))
    reaching = t.where(F.col("status").isin("PLANNED", "DEFERRED"))
    profile = catalog.read(spark, PROFILE).select(F.col("as_of_date").alias("run_date"), "customer_id",
                                                  "marketing_consent", "complaints_open")
    bad = reaching.join(profile, ["run_date", "customer_id"]).where(~F.col("marketing_consent") | (F.col("complaints_open") > 0))
    assert bad.count() == 0
    assert t.where(F.col("status") == "SUPPRESSED").count() > 0      # the generated bank has customers without consent
    assert t.where((F.col("status") == "SUPPRESSED") & F.col("status_reason").isNull()).count() == 0


def test_deferred_tasks_roll_over_and_planned_ones_are_done(spark, runs):
    _, catalog, _, end, *_ = runs
    t = catalog.read(spark, MAINTENANCE_TASKS.name)
    day1 = t.where(F.col("run_date") == F.lit(end - timedelta(1)))
    day2 = t.where(F.col("run_date") == F.lit(end))
    again = day1.where(F.col("status") == "PLANNED").join(day2.select("task_id"), "task_id")
    assert again.count() == 0
    rolled = day1.where(F.col("status") == "DEFERRED").select("task_id").join(
        day2.select("task_id", "first_raised_date", "days_waiting", "status"), "task_id")
    assert rolled.count() > 0
    assert rolled.where((F.col("first_raised_date") != F.lit(end - timedelta(1))) & (F.col("status") != "EXPIRED")).count() == 0
    assert rolled.where((F.col("status") != "EXPIRED") & (F.col("days_waiting") != 1)).count() == 0


def test_worklist_terminal_csv_and_html(spark, runs, tmp_path, capsys):
    settings, catalog, root, end, *_ = runs
    lists = worklists(spark, catalog, end)
    w = max((x for x in lists if x.manager_id.startswith("AM")), key=lambda x: len(x.tasks))
    assert 0 < len(w.tasks) <= 8 and [t["worklist_position"] for t in w.tasks] == list(range(1, len(w.tasks) + 1))
    args = ["worklist", "--manager", w.manager_id, "--date", str(end), "--csv", str(tmp_path / "w.csv"),
            "--html", str(tmp_path / "w.html")]
    for o in local_overrides(root, *_overrides(root, end)):
        args += ["--set", o]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"Worklist of {w.manager_id} for {end}" in out and w.tasks[0]["message"][:40] in out.replace("\n     ", " ")
    with open(tmp_path / "w.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["task_id"] for r in rows] == [t["task_id"] for t in w.tasks]
    page = (tmp_path / "w.html").read_text()
    assert page.count("<tr") == len(w.tasks) + 1 and w.manager_id in page

