"""The initial-load policy: records of a source's first extract count as known when they happened."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import functions as F

from features.arrival import known_from, versions_known_from

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


def test_a_records_first_bulk_version_stands_for_it_back_to_its_start(spark):
    rows = spark.createDataFrame([
        # opened in 2020, its only bulk version written in March: known from the opening
        ("A1", date(2020, 5, 1), datetime(2026, 3, 20, 9), BULK),
        # two versions in the bulk: the first stands for the past, the second from its own time
        ("A2", date(2021, 1, 1), datetime(2026, 2, 1, 9), BULK),
        ("A2", date(2021, 1, 1), datetime(2026, 3, 25, 9), BULK),
        # first seen in a later extract: known from its delivery, whatever its start
        ("A3", date(2019, 1, 1), datetime(2026, 4, 1, 9), LATER),
    ], "account_id string, open_date date, updated_at timestamp, _extract_date date")
    got = sorted((r["account_id"], r["_extract_date"]) for r in
                 versions_known_from(rows, ["account_id"], "updated_at", "open_date", BULK).collect())
    assert got == [("A1", date(2020, 5, 1)), ("A2", date(2021, 1, 1)), ("A2", date(2026, 3, 25)), ("A3", LATER)]
    # without a start column only the version time counts
    plain = sorted((r["account_id"], r["_extract_date"]) for r in
                   versions_known_from(rows, ["account_id"], "updated_at", None, BULK).collect())
    assert plain == [("A1", date(2026, 3, 20)), ("A2", date(2026, 2, 1)), ("A2", date(2026, 3, 25)), ("A3", LATER)]
