"""Festival dates, lunar ones included, and the care rules on inline rows: each occasion fires exactly within its
lead time (models.maintenance.calendar, models.maintenance.care).

Every expected lunar date below is the published one; each was also checked against an astronomical new-moon
computation in Beijing time (the month starts on the day of the new moon) and against two other lunar libraries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from models.maintenance.calendar import Festival, occurrences, upcoming
from models.maintenance.care import care

SPRING = Festival("Spring Festival", "lunar", 1, 1)
EVE = Festival("New Year's Eve", "lunar", 12, 30)
DRAGON_BOAT = Festival("Dragon Boat", "lunar", 5, 5)
MID_AUTUMN = Festival("Mid-Autumn", "lunar", 8, 15)
NATIONAL_DAY = Festival("National Day", "gregorian", 10, 1)


def _in_year(f: Festival, year: int) -> list[date]:
    return occurrences(f, date(year, 1, 1), date(year, 12, 31))


@pytest.mark.parametrize("festival, expected", [
    # 2030: the new moon is at 00:07 Beijing time on 3 February; some folk calendars give another day
    # 2034: after the leap 11th month of 2033
    (SPRING, [date(2024, 2, 10), date(2025, 1, 29), date(2026, 2, 17), date(2027, 2, 6), date(2030, 2, 3),
              date(2034, 2, 19)]),
    # 1978: the new moon is at 00:09 Beijing time on 3 September; the old 1900-2100 hex table has the 16th
    (MID_AUTUMN, [date(1978, 9, 17), date(2024, 9, 17), date(2025, 10, 6), date(2026, 9, 25)]),
    (DRAGON_BOAT, [date(2024, 6, 10), date(2025, 5, 31), date(2026, 6, 19)]),
    (Festival("Chongyang", "lunar", 9, 9), [date(2025, 10, 29)]),
])
def test_lunar_festivals_on_their_published_dates(festival, expected):
    for d in expected:
        assert _in_year(festival, d.year) == [d]


def test_new_years_eve_is_always_the_day_before_spring_festival():
    # 12/30 in a 29-day month is its 29th: Eve 2025 (lunar 2024 12/29) is 28 January
    assert occurrences(EVE, date(2025, 1, 1), date(2025, 1, 31)) == [date(2025, 1, 28)]
    for year in range(2000, 2051):
        spring, = _in_year(SPRING, year)
        assert occurrences(EVE, spring - timedelta(days=40), spring) == [spring - timedelta(days=1)], year


def test_a_leap_month_never_holds_the_festival():
    # 2023 has a leap 2nd month (from 22 March), 2025 a leap 6th (from 25 July): each festival still comes once
    assert _in_year(Festival("Longtaitou", "lunar", 2, 2), 2023) == [date(2023, 2, 21)]
    assert _in_year(Festival("Tiankuang", "lunar", 6, 6), 2025) == [date(2025, 6, 30)]


def test_gregorian_dates_and_leap_days():
    assert occurrences(NATIONAL_DAY, date(2026, 1, 1), date(2030, 12, 31)) == [
        date(y, 10, 1) for y in range(2026, 2031)]
    leap = Festival("Leap", "gregorian", 2, 29)
    assert occurrences(leap, date(2027, 1, 1), date(2029, 12, 31)) == [
        date(2027, 2, 28), date(2028, 2, 29), date(2029, 2, 28)]


def test_occurrences_across_a_year_boundary():
    assert occurrences(SPRING, date(2026, 12, 1), date(2027, 2, 28)) == [date(2027, 2, 6)]
    # lunar 2026's Eve falls in Gregorian 2027, lunar 2025's in 2026
    assert occurrences(EVE, date(2026, 1, 1), date(2027, 12, 31)) == [date(2026, 2, 16), date(2027, 2, 5)]
    assert occurrences(SPRING, date(2027, 2, 7), date(2027, 12, 31)) == []
    assert occurrences(NATIONAL_DAY, date(2026, 10, 1), date(2026, 10, 1)) == [date(2026, 10, 1)]


def test_upcoming_honours_the_lead_time_exactly():
    labour = Festival("Labour Day", "gregorian", 5, 1, lead_days=3)
    assert upcoming([labour], date(2026, 4, 27)) == []                          # the day before the window
    assert upcoming([labour], date(2026, 4, 28)) == [(labour, date(2026, 5, 1))]   # as_of + lead
    assert upcoming([labour], date(2026, 5, 1)) == [(labour, date(2026, 5, 1))]    # the day itself
    assert upcoming([labour], date(2026, 5, 2)) == []
    same_day = Festival("Labour Day", "gregorian", 5, 1, lead_days=0)
    assert upcoming([same_day], date(2026, 4, 30)) == [] and upcoming([same_day], date(2026, 5, 1)) != []
    spring = Festival("Spring Festival", "lunar", 1, 1, lead_days=7)
    assert upcoming([spring], date(2027, 1, 29)) == [] and upcoming([spring], date(2027, 1, 30)) == [
        (spring, date(2027, 2, 6))]


def test_upcoming_sorts_by_date_then_name():
    # Mid-Autumn 2020 fell on National Day
    festivals = [NATIONAL_DAY, Festival("Chongyang", "lunar", 9, 9, lead_days=30), MID_AUTUMN]
    assert upcoming(festivals, date(2020, 9, 28)) == [
        (MID_AUTUMN, date(2020, 10, 1)), (NATIONAL_DAY, date(2020, 10, 1)), (festivals[1], date(2020, 10, 25))]


@pytest.mark.parametrize("kwargs, message", [
    ({"calendar": "julian"}, "'Odd': calendar must be gregorian or lunar, not 'julian'"),
    ({"month": 0}, "'Odd': month 0 is not 1..12"), ({"month": 13}, "'Odd': month 13 is not 1..12"),
    ({"day": 0}, "'Odd': day 0 is not 1..31"), ({"day": 32}, "'Odd': day 32 is not 1..31"),
    ({"month": 4, "day": 31}, "'Odd': day 31 is not 1..30"), ({"month": 2, "day": 30}, "'Odd': day 30 is not 1..29"),
    ({"calendar": "lunar", "day": 31}, "'Odd': day 31 is not 1..30 for lunar"),
    ({"lead_days": -1}, "'Odd': lead_days -1 must not be negative"),
])
def test_bad_festivals_are_named(kwargs, message):
    args = {"name": "Odd", "calendar": "gregorian", "month": 1, "day": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        Festival(**args)


def test_festivals_are_frozen():
    with pytest.raises(AttributeError):
        SPRING.day = 2


CUSTOMERS = ("customer_id string, customer_type string, birth_date date, marital_status string, wedding_date date, "
             "onboarding_date date")
PROFILE = "customer_id string, value_tier string, account_manager_id string"


def test_care_occasions_fire_within_their_lead_time(spark, test_settings):
    cfg = test_settings.tasks.care          # birthdays and anniversaries 3 days ahead; Labour Day 3, Dragon Boat 3
    customers = spark.createDataFrame([
        ("C1", "RETAIL", date(1980, 4, 13), "SINGLE", None, date(2020, 1, 5)),       # birthday D + 3: yes
        ("C2", "RETAIL", date(1980, 4, 14), "SINGLE", None, date(2020, 1, 5)),       # D + 4: no
        ("C3", "RETAIL", date(1990, 4, 10), "MARRIED", date(2016, 4, 12), date(2021, 4, 11)),  # birthday today, 10th wedding, 5 years
        ("C4", "SME", date(2001, 4, 11), None, None, date(2019, 4, 11)),             # a firm: no birthday; 7 years: no milestone
        ("C5", "RETAIL", date(1980, 4, 9), "DIVORCED", date(2010, 4, 11), date(2025, 4, 12)),   # yesterday; not married
    ], CUSTOMERS)
    profile = spark.createDataFrame([("C1", "GOLD", None), ("C2", "BRONZE", None), ("C3", "BRONZE", "AM1")], PROFILE)
    d = date(2026, 4, 10)
    fired = {(r["task_type"], r["customer_id"]): r for r in care(customers, profile, d, cfg).collect()}
    assert set(fired) == {("BIRTHDAY", "C1"), ("BIRTHDAY", "C3"), ("WEDDING_ANNIVERSARY", "C3"),
                          ("RELATIONSHIP_ANNIVERSARY", "C3"), ("RELATIONSHIP_ANNIVERSARY", "C5")}
    assert fired[("BIRTHDAY", "C1")]["facts"]["age"] == "46" and fired[("BIRTHDAY", "C1")]["due_date"] == date(2026, 4, 13)
    assert fired[("WEDDING_ANNIVERSARY", "C3")]["facts"]["years"] == "10"
    assert fired[("RELATIONSHIP_ANNIVERSARY", "C5")]["facts"]["years"] == "1"
    # Labour Day 3 days ahead: the GOLD customer (festival tier) and the managed one, not the BRONZE unmanaged
    fest = {(r["customer_id"], r["trigger_key"]) for r in care(customers, profile, date(2026, 4, 28), cfg).collect()
            if r["task_type"] == "FESTIVAL"}
    assert fest == {("C1", "Labour Day|2026-05-01"), ("C3", "Labour Day|2026-05-01")}
    assert not [r for r in care(customers, profile, date(2026, 4, 27), cfg).collect() if r["task_type"] == "FESTIVAL"]
    # Dragon Boat (lunar 5/5) is 2026-06-19
    boat = {r["trigger_key"] for r in care(customers, profile, date(2026, 6, 16), cfg).collect() if r["task_type"] == "FESTIVAL"}
    assert boat == {"Dragon Boat Festival|2026-06-19"}
    # 29 February birthdays fall on the 28th in other years
    leap = spark.createDataFrame([("C9", "RETAIL", date(1988, 2, 29), None, None, date(2020, 3, 1))], CUSTOMERS)
    on = {r["due_date"] for r in care(leap, profile.limit(0), date(2027, 2, 26), cfg).collect()}
    assert on == {date(2027, 2, 28)}
