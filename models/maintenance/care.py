"""Care: birthdays, wedding and relationship anniversaries, public festivals (tasks.care).

An occasion within its lead time (the occasion day itself included) raises a greeting task due on the day.
Birthdays are for retail customers (an SME's birth date is its incorporation); a 29 February falls on the
28th in other years. Relationship anniversaries count years since onboarding, on the milestone years only.
Festival greetings go to managed customers and to the festival_tiers; the festival calendar, lunar dates
included, comes from models.maintenance.calendar.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from models.maintenance.calendar import Festival, upcoming
from models.maintenance.candidates import candidates, empty


def _on_year(d: Column, year: Column) -> Column:
    """The anniversary of date `d` in `year`; 29 February on the 28th in a year without one."""
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    day = F.when((F.month(d) == 2) & (F.dayofmonth(d) == 29) & ~leap, F.lit(28)).otherwise(F.dayofmonth(d))
    return F.make_date(year, F.month(d), day)


def next_occurrence(d: Column, as_of: date) -> Column:
    """The first anniversary of `d` on or after `as_of` (this year's, else next year's)."""
    this_year = _on_year(d, F.lit(as_of.year))
    return F.when(this_year >= F.lit(as_of), this_year).otherwise(_on_year(d, F.lit(as_of.year + 1)))


def _occasion(customers: DataFrame, column: str, as_of: date, lead_days: int) -> DataFrame:
    return (customers.where(F.col(column).isNotNull())
            .withColumn("_on", next_occurrence(F.col(column), as_of))
            .withColumn("_years", F.year("_on") - F.year(column))
            .where(F.col("_on").between(as_of, as_of + timedelta(lead_days)) & (F.col("_years") >= 1)))


def anniversaries(customers: DataFrame, as_of: date, cfg) -> DataFrame:
    """`customers`: (customer_id, customer_type, birth_date, marital_status, wedding_date, onboarding_date) as
    known on the as-of date, active customers only."""
    born = _occasion(customers.where(F.col("customer_type") == "RETAIL"), "birth_date", as_of, cfg.birthday_lead_days)
    out = candidates(born, "BIRTHDAY", [F.col("_on").cast("string")], F.col("_on"), None,
                     {"occasion_date": F.col("_on"), "age": F.col("_years")})
    wed = _occasion(customers.where(F.col("marital_status") == "MARRIED"), "wedding_date", as_of,
                    cfg.anniversary_lead_days)
    out = out.unionByName(candidates(wed, "WEDDING_ANNIVERSARY", [F.col("_on").cast("string")], F.col("_on"), None,
                                     {"occasion_date": F.col("_on"), "years": F.col("_years")}))
    if cfg.relationship_milestones:
        joined = _occasion(customers, "onboarding_date", as_of, cfg.anniversary_lead_days).where(
            F.col("_years").isin(*cfg.relationship_milestones))
        out = out.unionByName(candidates(joined, "RELATIONSHIP_ANNIVERSARY", [F.col("_on").cast("string")],
                                         F.col("_on"), None, {"occasion_date": F.col("_on"), "years": F.col("_years")}))
    return out


def festivals(profile: DataFrame, as_of: date, cfg) -> DataFrame:
    """Festival greetings for the festivals within their lead time. `profile`: (customer_id, value_tier,
    account_manager_id) of the as-of date."""
    due = upcoming([Festival(f.name, f.calendar, f.month, f.day, f.lead_days) for f in cfg.festivals], as_of)
    if not due:
        return empty(profile.sparkSession)
    days = profile.sparkSession.createDataFrame([(f.name, d) for f, d in due], "_festival string, _on date")
    greeted = F.col("account_manager_id").isNotNull()
    if cfg.festival_tiers:
        greeted = greeted | F.col("value_tier").isin(*cfg.festival_tiers)
    p = profile.where(greeted).crossJoin(F.broadcast(days))
    return candidates(p, "FESTIVAL", ["_festival", F.col("_on").cast("string")], F.col("_on"), None,
                      {"festival": F.col("_festival"), "occasion_date": F.col("_on")})


def care(customers: DataFrame, profile: DataFrame, as_of: date, cfg) -> DataFrame:
    return anniversaries(customers, as_of, cfg).unionByName(festivals(profile, as_of, cfg))
