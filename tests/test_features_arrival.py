"""The initial-load policy: records of a source's first extract count as known when they happened."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import functions as F

from features.arrival import known_from

BULK, LATER = date(2026, 3, 31), date(2026, 4, 2)


def test_initial_load_records_are_known_when_they_happened_later_ones_when_delivered(spark):
    rows = spark.createDataFrame([
        ("bulk", datetime(2026, 1, 15, 9), BULK),
        ("bulk_no_time", None, BULK),
        ("late", datetime(2026, 3, 30, 9), LATER),            # a late record after the initial load
    ], "id string, happened timestamp, known_date date")
    got = {r["id"]: r["known_date"] for r in known_from(rows, "known_date", F.col("happened"), BULK).collect()}
    assert got == {"bulk": date(2026, 1, 15), "bulk_no_time": BULK, "late": LATER}
    unchanged = {r["id"]: r["known_date"] for r in known_from(rows, "known_date", F.col("happened"), None).collect()}
    assert unchanged == {"bulk": BULK, "bulk_no_time": BULK, "late": LATER}
