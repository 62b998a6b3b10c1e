"""AML alert publishing on real Delta tables: an open alert is updated across consecutive days, never raised
twice; it closes after a quiet spell or a closed investigation; a rerun of a date gives the same rows."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import functions as F

from jobs.aml import CASES, publish_alerts
from jobs.tables import AML_ALERTS, build_catalog
from tests.conftest import settings_for

CANDIDATE = ("as_of_date date, customer_id string, typology string, typology_severity double, explanation string, "
             "evidence string, other_typologies array<string>, risk_score double, risk_rank int, rules_score double, "
             "anomaly_score double, supervised_score double, evidence_txn_ids array<string>, "
             "evidence_counterparties array<string>, cycle_path array<string>, window_start date, window_end date")


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("aml_alerts"))
    return settings, build_catalog(settings)


def _publish(spark, lake, day: date, alerts: list[tuple[str, str]]):
    settings, catalog = lake
    rows = [(day, c, t, 0.8, f"{t} on {c}", "flows_30d", [], 0.9 - 0.01 * i, i + 1, 0.8, 0.5, None,
             [f"T{i:012d}"], [], None, day, day) for i, (c, t) in enumerate(alerts)]
    publish_alerts(spark, catalog, spark.createDataFrame(rows, CANDIDATE), day, settings.models.aml, "1")
    got = catalog.read(spark, AML_ALERTS.name).where(F.col("run_date") == F.lit(day)).collect()
    return {(r["customer_id"], r["typology"]): r for r in got}


def test_open_alerts_are_updated_not_duplicated_and_reopen_after_quiet_days_or_a_closed_case(spark, lake):
    settings, catalog = lake
    day1 = _publish(spark, lake, date(2026, 3, 1), [("C1", "STRUCTURING"), ("C2", "FAN_IN")])
    assert {k: r["alert_status"] for k, r in day1.items()} == {("C1", "STRUCTURING"): "NEW", ("C2", "FAN_IN"): "NEW"}

    day2 = _publish(spark, lake, date(2026, 3, 2), [("C1", "STRUCTURING"), ("C1", "FAN_OUT"), ("C3", "ANOMALY")])
    same = day2[("C1", "STRUCTURING")]
    assert same["alert_status"] == "UPDATED" and same["alert_id"] == day1[("C1", "STRUCTURING")]["alert_id"]
    assert same["opened_date"] == date(2026, 3, 1) and same["days_alerted"] == 2
    assert day2[("C1", "FAN_OUT")]["alert_status"] == "NEW"        # another typology: its own alert
    assert day2[("C1", "FAN_OUT")]["alert_id"] != same["alert_id"]

    # a rerun of the date replaces its slice with the same rows
    again = _publish(spark, lake, date(2026, 3, 2), [("C1", "STRUCTURING"), ("C1", "FAN_OUT"), ("C3", "ANOMALY")])
    assert {k: (r["alert_id"], r["alert_status"], r["days_alerted"]) for k, r in again.items()} == {
        k: (r["alert_id"], r["alert_status"], r["days_alerted"]) for k, r in day2.items()}
    assert catalog.read(spark, AML_ALERTS.name).where(F.col("run_date") == F.lit(date(2026, 3, 2))).count() == 3

    # an investigation of C2 closed after its alert opened: the next FAN_IN alert is a new one
    cases = spark.createDataFrame([("C2", date(2026, 3, 5))], "customer_id string, closed_date date")
    catalog.replace_where(spark, CASES, cases, "true")
    day6 = _publish(spark, lake, date(2026, 3, 6), [("C2", "FAN_IN"), ("C1", "STRUCTURING")])
    assert day6[("C2", "FAN_IN")]["alert_status"] == "NEW"
    assert day6[("C2", "FAN_IN")]["alert_id"] != day1[("C2", "FAN_IN")]["alert_id"]
    assert day6[("C1", "STRUCTURING")]["alert_status"] == "UPDATED"
    assert day6[("C1", "STRUCTURING")]["days_alerted"] == 3

    # C1's structuring alert not raised for more than reopen_after_days (30): closed, a new one opens
    later = _publish(spark, lake, date(2026, 4, 10), [("C1", "STRUCTURING")])
    assert later[("C1", "STRUCTURING")]["alert_status"] == "NEW"
    assert later[("C1", "STRUCTURING")]["alert_id"] != same["alert_id"]

    # over the whole table: one alert id per (customer, typology, opening), never two open at once
    table = catalog.read(spark, AML_ALERTS.name)
    per_day = table.groupBy("run_date", "customer_id", "typology").count()
    assert per_day.where("count > 1").count() == 0
    ids = table.groupBy("alert_id").agg(F.countDistinct("customer_id", "typology").alias("n"))
    assert ids.where("n > 1").count() == 0
