"""Point-in-time training sets: a label only ever sees a snapshot from before its horizon."""

from __future__ import annotations

from datetime import date

import pytest

from features.training import training_set


def test_each_label_sees_the_newest_snapshot_before_its_horizon(spark):
    profile = spark.createDataFrame([
        ("C1", date(2026, 1, 31), 10), ("C1", date(2026, 2, 28), 20), ("C1", date(2026, 3, 31), 30),
        ("C2", date(2026, 3, 31), 99),
    ], "customer_id string, as_of_date date, txn_count_30d int")
    labels = spark.createDataFrame([
        ("C1", date(2026, 4, 15), 1),   # cut-off 2026-03-16: the February snapshot, not March's
        ("C1", date(2026, 3, 1), 0),    # cut-off 2026-01-30: nothing early enough
        ("C2", date(2026, 5, 30), 1),   # cut-off 2026-04-30: March's
    ], "customer_id string, label_date date, label int")
    got = {(r["customer_id"], r["label_date"]): r for r in training_set(labels, profile, 30).collect()}
    assert set(got) == {("C1", date(2026, 4, 15)), ("C2", date(2026, 5, 30))}
    assert (got[("C1", date(2026, 4, 15))]["features_as_of"], got[("C1", date(2026, 4, 15))]["txn_count_30d"]) == \
        (date(2026, 2, 28), 20)
    assert got[("C2", date(2026, 5, 30))]["label"] == 1
    stale = training_set(labels, profile, 30, max_staleness_days=20).collect()
    assert {r["customer_id"] for r in stale} == {"C1"}                # C2's snapshot is 30 days stale
    with pytest.raises(ValueError):
        training_set(labels, profile, -1)
