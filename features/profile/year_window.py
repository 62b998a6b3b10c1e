"""`customer_activity_365d`: each customer's 365-day activity totals on each as-of date, kept as a running state.

The profile's 365-day columns (transactions, active days, money in and out, card spend, income, abroad spend,
fees, e-commerce category shares, the recencies) would otherwise sum a year of customer_daily every night,
so the nightly run would grow with history until a year of it is loaded. Instead each snapshot's totals are
stored, and the next date's are the previous ones plus the rows that entered the window (new days, and late
records that arrived since) minus the rows that left it (the days that fell out of the year):

    total(D) = total(P) + sum over rows of x * ([in D's window and known by D] - [in P's window and known by P])

which reads only the days after P, the records delivered after P and the days that left, whatever the
history. Amounts are summed as whole micro-yuan (bigint), so a running total equals a from-scratch one exactly,
bit for bit, however many nights it has been carried; they leave as CNY doubles.

Active days and recency need each touched day's total as known before and after: a day entering or leaving is
read whole, and a day a late record touched is completed with its earlier rows. When a customer's latest
active day is retracted by a correction, the one before it is looked up in that customer's year (rare).
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup, FeatureTable, conform, slug
from features.daily import CUSTOMER_DAILY
from pipelines.contracts.ecommerce import ECOM_CATEGORIES

DAYS = 365
MICRO = 1_000_000   # amounts are kept in whole micro-yuan
# customer_daily measure -> state column; counts are summed as they are, amounts in micro-yuan
COUNTS = {"txn_count": "txn_count"}
AMOUNTS = {
    "debit_amount": "debit_micro", "credit_amount": "credit_micro", "card_spend_amount": "card_spend_micro",
    "income_amount": "income_micro", "abroad_amount": "abroad_micro", "fee_amount": "fee_micro",
    "ecom_order_amount": "ecom_micro",
    **{f"ecom_amount_{slug(c)}": f"ecom_{slug(c)}_micro" for c in ECOM_CATEGORIES},
}
_SUMS = [*COUNTS.values(), *AMOUNTS.values()]


def _summed(measure: str, column: str) -> Feature:
    """The window total of a customer_daily measure, described as customer_daily describes the measure."""
    daily = next(f for f in CUSTOMER_DAILY.features if f.name == measure)
    unit = ", micro-yuan" if measure in AMOUNTS else ""
    return Feature(column, "bigint", daily.description.rstrip(".") + unit + ".", f"{DAYS}d")


ACTIVITY_365D = FeatureTable(
    "gold.customer_activity_365d",
    "Running 365-day activity totals per customer per as-of date (the window ends on the as-of date), carried "
    "from one snapshot to the next; the profile's 365-day columns read them. Amounts in whole micro-yuan (CNY).",
    ("customer_id", "as_of_date"),
    (FeatureGroup("key", "Who and as of when.", (
        Feature("customer_id", "string", "Bank customer number."),
        Feature("as_of_date", "date", "The window is the 365 days ending on this date, as known on it."),
    )), FeatureGroup("totals", "Signed sums of customer_daily over the window.", (
        *[_summed(m, s) for m, s in {**COUNTS, **AMOUNTS}.items()],
        Feature("active_days", "int", "Days with at least one posted transaction.", f"{DAYS}d"),
        Feature("last_txn_date", "date", "Latest day with a posted transaction in the window."),
        Feature("last_order_date", "date", "Latest day with a completed order in the window."),
    ))))


def _micro(col: str) -> Column:
    return F.round(F.col(col) * MICRO).cast("bigint")


def _weighted(weight: Column) -> list[Column]:
    return [*[F.sum(F.col(m) * weight).alias(s) for m, s in COUNTS.items()],
            *[F.sum(_micro(m) * weight).alias(s) for m, s in AMOUNTS.items()]]


def year_totals(daily: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """From scratch: each as-of date's totals over the customer_daily rows known by then in its window.

    `daily` must hold every row of the 365 days before the earliest as-of date."""
    rows = daily.join(F.broadcast(as_of_dates),
                      (F.col("known_date") <= F.col("as_of_date"))
                      & (F.col("activity_date") <= F.col("as_of_date"))
                      & (F.col("activity_date") > F.date_sub(F.col("as_of_date"), DAYS)))
    key = ["customer_id", "as_of_date"]
    # the sums straight per customer (Spark pre-aggregates them before the shuffle); only the day counts and
    # the recencies need each day's total
    sums = rows.groupBy(*key).agg(*_weighted(F.lit(1)))
    return conform(_nonzero(sums.join(_active_days(rows, key), key)), ACTIVITY_365D)


def _active_days(rows: DataFrame, key: list[str]) -> DataFrame:
    """Per `key`: the days whose rows, summed, still hold a transaction, and the latest such day and the latest
    with an order (a day whose activity was all retracted does not count)."""
    days = (rows.groupBy(*key, "activity_date")
            .agg(F.sum("txn_count").alias("_txns"), F.sum("ecom_order_count").alias("_orders")))
    return days.groupBy(*key).agg(
        F.count(F.when(F.col("_txns") > 0, True)).cast("int").alias("active_days"),
        F.max(F.when(F.col("_txns") > 0, F.col("activity_date"))).alias("last_txn_date"),
        F.max(F.when(F.col("_orders") > 0, F.col("activity_date"))).alias("last_order_date"))


def _nonzero(totals: DataFrame) -> DataFrame:
    """A customer whose window holds nothing (every day retracted, or none left in it) has no row."""
    anything = F.col("last_txn_date").isNotNull() | F.col("last_order_date").isNotNull() | (F.col("active_days") != 0)
    for s in _SUMS:
        anything = anything | (F.col(s) != 0)
    return totals.where(anything)


def carried_totals(daily: DataFrame, previous: DataFrame, previous_date: date, as_of: date) -> DataFrame:
    """The totals on `as_of` from those on `previous_date` (`previous`, this table's rows for that date) and
    the customer_daily rows that changed the window between them; equal to `year_totals` for `as_of`.

    `daily` is the whole of gold.customer_daily: every read below is bounded by literal dates, so Delta skips
    the files of days that neither entered, left nor were corrected."""
    if as_of <= previous_date:
        raise ValueError(f"carried totals go forward: {as_of} is not after {previous_date}")
    p, d = F.lit(previous_date), F.lit(as_of)
    act, known = F.col("activity_date"), F.col("known_date")
    in_p = (act > F.lit(previous_date - timedelta(days=DAYS))) & (act <= p)
    in_d = (act > F.lit(as_of - timedelta(days=DAYS))) & (act <= d)
    seen_p, seen_d = in_p & (known <= p), in_d & (known <= d)
    changed = daily.where((seen_d & ((act > p) | (known > p))) | (seen_p & ~in_d))   # entered, corrected, left
    late = changed.where(in_p & in_d).select("customer_id", "activity_date").distinct()
    # the earlier rows of the days a late record touched: their totals before the correction
    first_late = late.agg(F.min("activity_date")).first()[0]
    rows = changed.withColumn("_w", seen_d.cast("int") - seen_p.cast("int"))
    if first_late is not None:
        earlier = (daily.where((act >= F.lit(first_late)) & (act <= p) & (known <= p))
                   .join(F.broadcast(late), ["customer_id", "activity_date"], "left_semi"))
        rows = rows.unionByName(earlier.withColumn("_w", F.lit(0)))   # weight 0: already in the totals

    def day_total(col: str, seen: Column) -> Column:
        return F.sum(F.when(seen, F.col(col)).otherwise(0))

    days = rows.groupBy("customer_id", "activity_date").agg(
        *_weighted(F.col("_w")),
        day_total("txn_count", seen_p).alias("_txns_p"), day_total("txn_count", seen_d).alias("_txns_d"),
        day_total("ecom_order_count", seen_p).alias("_orders_p"),
        day_total("ecom_order_count", seen_d).alias("_orders_d"))
    active_p, active_d = in_p & (F.col("_txns_p") > 0), in_d & (F.col("_txns_d") > 0)
    ordered_p, ordered_d = in_p & (F.col("_orders_p") > 0), in_d & (F.col("_orders_d") > 0)
    change = days.groupBy("customer_id").agg(
        *[F.sum(s).alias(f"_d_{s}") for s in _SUMS],
        F.sum(active_d.cast("int") - active_p.cast("int")).alias("_d_active"),
        F.max(F.when(active_d, act)).alias("_last_txn"), F.max(F.when(ordered_d, act)).alias("_last_order"),
        F.collect_set(F.when(active_p & ~active_d, act)).alias("_lost_txn"),
        F.collect_set(F.when(ordered_p & ~ordered_d, act)).alias("_lost_order"))

    prev = previous.drop("as_of_date")
    both = prev.join(change, "customer_id", "full")

    def latest(prev_col: str, lost: str, found: str) -> tuple[Column, Column]:
        """The latest day: the newest found among the changed days, or the previous latest if it is still in
        the window and still active; and whether it has to be looked up (the previous latest was retracted and
        nothing newer was found: an older day may be the latest now)."""
        in_window = F.col(prev_col) > F.lit(as_of - timedelta(days=DAYS))
        retracted = in_window & F.coalesce(F.array_contains(F.col(lost), F.col(prev_col)), F.lit(False))
        kept = F.when(in_window & ~retracted, F.col(prev_col))
        unknown = retracted & F.coalesce(F.col(found) < F.col(prev_col), F.lit(True))
        return F.greatest(kept, F.col(found)), unknown

    last_txn, lost_txn = latest("last_txn_date", "_lost_txn", "_last_txn")
    last_order, lost_order = latest("last_order_date", "_lost_order", "_last_order")
    out = both.select(
        "customer_id", F.lit(as_of).alias("as_of_date"),
        *[(F.coalesce(F.col(s), F.lit(0)) + F.coalesce(F.col(f"_d_{s}"), F.lit(0))).cast("bigint").alias(s)
          for s in _SUMS],
        (F.coalesce(F.col("active_days"), F.lit(0)) + F.coalesce(F.col("_d_active"), F.lit(0))).cast("int")
        .alias("active_days"),
        last_txn.alias("last_txn_date"), last_order.alias("last_order_date"),
        lost_txn.alias("_recheck_txn"), lost_order.alias("_recheck_order"))
    out = _recheck(daily, out.localCheckpoint(), as_of)   # one row per customer: computed once, checked, then used
    return conform(_nonzero(out), ACTIVITY_365D)


def _recheck(daily: DataFrame, totals: DataFrame, as_of: date) -> DataFrame:
    """Where a correction retracted a customer's latest active day, the latest one left is looked up in that
    customer's year of customer_daily (only when some customer needs it: a correction of that kind is rare)."""
    flagged = totals.where(F.col("_recheck_txn") | F.col("_recheck_order")).select("customer_id")
    totals = totals.drop("_recheck_txn", "_recheck_order")
    if flagged.limit(1).count() == 0:
        return totals
    act = F.col("activity_date")
    year = (daily.where((act > F.lit(as_of - timedelta(days=DAYS))) & (act <= F.lit(as_of))
                        & (F.col("known_date") <= F.lit(as_of)))
            .join(F.broadcast(flagged), "customer_id", "left_semi"))
    found = _active_days(year, ["customer_id"]).select(
        "customer_id", F.col("last_txn_date").alias("_lt"), F.col("last_order_date").alias("_lo"),
        F.lit(True).alias("_rechecked"))
    recheck = F.col("_rechecked").isNotNull()
    return (totals.join(found, "customer_id", "left")
            .withColumn("last_txn_date", F.when(recheck, F.col("_lt")).otherwise(F.col("last_txn_date")))
            .withColumn("last_order_date", F.when(recheck, F.col("_lo")).otherwise(F.col("last_order_date")))
            .drop("_lt", "_lo", "_rechecked"))
