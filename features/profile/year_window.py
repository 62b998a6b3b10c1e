"""`customer_activity_365d`: each customer's activity totals over the windows ending on each as-of date (7, 30,
90, 120 and 365 days), kept as a running state.

The profile's activity columns (transactions, active days, money in and out, card spend and its trend, income,
the channel and merchant-group mix, cash, transfers, fund activity, e-commerce orders and category shares, the
recencies) would otherwise sum every window of customer_daily every night, so the nightly run would grow with
history until a year of it is loaded. Instead each snapshot's totals are stored, and the next date's are the
previous ones plus the rows that entered each window (new days, and late records that arrived since) minus the
rows that left it (the days that fell out of it):

    total_W(D) = total_W(P) + sum over rows of x * ([in D's W-day window and known by D]
                                                    - [in P's W-day window and known by P])

which reads only the days after P, the records delivered after P and the days that left a window, whatever the
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
from features.reference import MERCHANT_GROUP_NAMES
from pipelines.contracts.core_banking import CHANNELS
from pipelines.contracts.ecommerce import ECOM_CATEGORIES

DAYS = 365
MICRO = 1_000_000   # amounts are kept in whole micro-yuan
SHORT_WINDOWS = (7, 30, 90)               # the profile's windows under a year
TREND_RECENT, TREND_PRIOR = 30, 90        # the spending trend: the last 30 days against the 90 days before them
MIX_WINDOW = 90                           # channel and merchant-group mix, cash, transfers, funds, orders
ACTIVE_WINDOWS = (*SHORT_WINDOWS, DAYS)   # windows that count active days

_TYPES = {f.name: f.type for f in CUSTOMER_DAILY.features}
# the 365-day totals: customer_daily measure -> state column; counts are summed as they are, amounts in micro-yuan
COUNTS = {"txn_count": "txn_count"}
AMOUNTS = {
    "debit_amount": "debit_micro", "credit_amount": "credit_micro", "card_spend_amount": "card_spend_micro",
    "income_amount": "income_micro", "abroad_amount": "abroad_micro", "fee_amount": "fee_micro",
    "ecom_order_amount": "ecom_micro",
    **{f"ecom_amount_{slug(c)}": f"ecom_{slug(c)}_micro" for c in ECOM_CATEGORIES},
}
_BASIC = ("txn_count", "debit_amount", "credit_amount", "card_spend_amount", "income_amount")
_MIX = (*[f"debit_amount_{slug(c)}" for c in CHANNELS], *[f"card_spend_{g}" for g in MERCHANT_GROUP_NAMES],
        "cash_out_amount", "transfer_out_amount", "fund_purchase_amount", "fund_redemption_amount",
        "ecom_order_count", "ecom_order_amount")


def window_column(measure: str, days: int) -> str:
    """The state column of a measure's total over a window under a year, e.g. debit_micro_30d."""
    unit = "" if _TYPES[measure] == "bigint" else "_micro"
    return f"{measure.replace('_amount', '')}{unit}_{days}d"


def active_column(days: int) -> str:
    return "active_days" if days == DAYS else f"active_days_{days}d"


TREND_WINDOW = TREND_RECENT + TREND_PRIOR
_SHORT = {w: _BASIC for w in SHORT_WINDOWS}
_SHORT[MIX_WINDOW] = _SHORT.get(MIX_WINDOW, ()) + _MIX
_SHORT[TREND_WINDOW] = _SHORT.get(TREND_WINDOW, ()) + ("card_spend_amount",)
# window -> {customer_daily measure: state column}
SUMS: dict[int, dict[str, str]] = {
    DAYS: {**COUNTS, **AMOUNTS},
    **{w: {m: window_column(m, w) for m in dict.fromkeys(ms)} for w, ms in sorted(_SHORT.items())},
}
WINDOWS = tuple(sorted(SUMS))
_SUM_COLUMNS = [s for w in WINDOWS for s in SUMS[w].values()]
_ACTIVE_COLUMNS = [active_column(w) for w in ACTIVE_WINDOWS]
STATE_COUNTS = (*_SUM_COLUMNS, *_ACTIVE_COLUMNS)   # never null in a snapshot this release built


def _summed(measure: str, column: str, days: int) -> Feature:
    """The window total of a customer_daily measure, described as customer_daily describes the measure."""
    daily = next(f for f in CUSTOMER_DAILY.features if f.name == measure)
    unit = ", micro-yuan" if _TYPES[measure] != "bigint" else ""
    return Feature(column, "bigint", daily.description.rstrip(".") + unit + ".", f"{days}d")


def _active(days: int) -> Feature:
    return Feature(active_column(days), "int", "Days with at least one posted transaction.", f"{days}d")


ACTIVITY_365D = FeatureTable(
    "gold.customer_activity_365d",
    "Running activity totals per customer per as-of date over the windows ending on it (7, 30, 90, 120 and 365 "
    "days), carried from one snapshot to the next; the profile's activity columns read them. Amounts in whole "
    "micro-yuan (CNY).",
    ("customer_id", "as_of_date"),
    (FeatureGroup("key", "Who and as of when.", (
        Feature("customer_id", "string", "Bank customer number."),
        Feature("as_of_date", "date", "The windows end on this date, as known on it."),
    )), FeatureGroup("totals", "Signed sums of customer_daily over the 365-day window.", (
        *[_summed(m, s, DAYS) for m, s in SUMS[DAYS].items()],
        _active(DAYS),
        Feature("last_txn_date", "date", "Latest day with a posted transaction in the window."),
        Feature("last_order_date", "date", "Latest day with a completed order in the window."),
    )), FeatureGroup("short_windows", "Signed sums of customer_daily over the windows under a year.", (
        *[f for w in WINDOWS if w != DAYS
          for f in (*[_summed(m, s, w) for m, s in SUMS[w].items()],
                    *([_active(w)] if w in ACTIVE_WINDOWS else []))],
    ))))


def _micro(col: str) -> Column:
    return F.round(F.col(col) * MICRO).cast("bigint")


def _value(measure: str) -> Column:
    return F.col(measure) if _TYPES[measure] == "bigint" else _micro(measure)


def _weighted(weights: dict[int, Column]) -> list[Column]:
    """Each window's sums, every row counted with its weight for that window (1, 0 or -1)."""
    return [F.sum(_value(m) * weights[w]).alias(s) for w in WINDOWS for m, s in SUMS[w].items()]


def _ages(as_of: Column) -> dict[int, Column]:
    """1 where a row's day lies in each window ending on `as_of`, else 0 (rows of the year only)."""
    return {w: (F.lit(1) if w == DAYS else (F.col("activity_date") > F.date_sub(as_of, w)).cast("int"))
            for w in WINDOWS}


def year_totals(daily: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """From scratch: each as-of date's totals over the customer_daily rows known by then in its windows.

    `daily` must hold every row of the 365 days before the earliest as-of date."""
    rows = daily.join(F.broadcast(as_of_dates),
                      (F.col("known_date") <= F.col("as_of_date"))
                      & (F.col("activity_date") <= F.col("as_of_date"))
                      & (F.col("activity_date") > F.date_sub(F.col("as_of_date"), DAYS)))
    key = ["customer_id", "as_of_date"]
    # the sums straight per customer (Spark pre-aggregates them before the shuffle); only the day counts and
    # the recencies need each day's total
    sums = rows.groupBy(*key).agg(*_weighted(_ages(F.col("as_of_date"))))
    return conform(_nonzero(sums.join(_active_days(rows, key, F.col("as_of_date")), key)), ACTIVITY_365D)


def _active_days(rows: DataFrame, key: list[str], as_of: Column) -> DataFrame:
    """Per `key`: the days whose rows, summed, still hold a transaction, in each window ending on `as_of`, and
    the latest such day and the latest with an order (a day whose activity was all retracted does not count)."""
    days = (rows.groupBy(*key, "activity_date")
            .agg(F.sum("txn_count").alias("_txns"), F.sum("ecom_order_count").alias("_orders")))
    active = F.col("_txns") > 0
    return days.groupBy(*key).agg(
        *[F.count(F.when(active & (F.col("activity_date") > F.date_sub(as_of, w)), True)).cast("int")
          .alias(active_column(w)) for w in ACTIVE_WINDOWS],
        F.max(F.when(active, F.col("activity_date"))).alias("last_txn_date"),
        F.max(F.when(F.col("_orders") > 0, F.col("activity_date"))).alias("last_order_date"))


def _nonzero(totals: DataFrame) -> DataFrame:
    """A customer whose year holds nothing (every day retracted, or none left in it) has no row; the shorter
    windows lie inside the year, so they hold nothing either."""
    anything = F.col("last_txn_date").isNotNull() | F.col("last_order_date").isNotNull()
    for s in STATE_COUNTS:
        anything = anything | (F.col(s) != 0)
    return totals.where(anything)


def carried_totals(daily: DataFrame, previous: DataFrame, previous_date: date, as_of: date) -> DataFrame:
    """The totals on `as_of` from those on `previous_date` (`previous`, this table's rows for that date) and
    the customer_daily rows that changed a window between them; equal to `year_totals` for `as_of`.

    `daily` is the whole of gold.customer_daily: every read below is bounded by literal dates, so Delta skips
    the files of days that neither entered, left nor were corrected."""
    if as_of <= previous_date:
        raise ValueError(f"carried totals go forward: {as_of} is not after {previous_date}")
    p, d = F.lit(previous_date), F.lit(as_of)
    act, known = F.col("activity_date"), F.col("known_date")

    def within(end: date, days: int) -> Column:
        return (act > F.lit(end - timedelta(days=days))) & (act <= F.lit(end))

    in_p = {w: within(previous_date, w) for w in WINDOWS}
    in_d = {w: within(as_of, w) for w in WINDOWS}
    seen_p, seen_d = in_p[DAYS] & (known <= p), in_d[DAYS] & (known <= d)
    # entered or corrected since P (in the year), or known by P in a window the day has since left
    changed_rows = seen_d & ((act > p) | (known > p))
    for w in WINDOWS:
        changed_rows = changed_rows | (in_p[w] & (known <= p) & ~in_d[w])
    changed = daily.where(changed_rows)
    late = changed.where(in_p[DAYS] & in_d[DAYS] & (known > p))
    weights = {w: (in_d[w] & (known <= d)).cast("int") - (in_p[w] & (known <= p)).cast("int") for w in WINDOWS}
    rows = changed.select("*", *[weights[w].alias(f"_w{w}") for w in WINDOWS])
    # A late day's activity before the late records is needed where they may change whether the day counts:
    # they change its transactions (active days), or they withdraw orders on the customer's latest order day
    # (whether it still is one). Records that leave its transaction count as it was decide it alone otherwise:
    # added orders make it an order day whatever it held, and orders withdrawn on an earlier day than the
    # latest cannot move the latest.
    last_order = previous.select("customer_id", F.col("last_order_date").alias("_last_order_p"))
    needed = (late.groupBy("customer_id", "activity_date")
              .agg(F.sum("txn_count").alias("_txns"), F.sum("ecom_order_count").alias("_orders"))
              .join(last_order, "customer_id", "left")
              .where((F.col("_txns") != 0)
                     | ((F.col("_orders") < 0) & (F.col("activity_date") == F.col("_last_order_p"))))
              .select("customer_id", "activity_date").localCheckpoint())
    needed_days = sorted(r[0] for r in needed.select("activity_date").distinct().collect())
    if needed_days:
        # their rows known by P and not read already (a day that also left a window was read whole), with
        # only the day counts: the sums take them with weight 0
        earlier = (daily.where(act.isin(needed_days) & (known <= p) & ~changed_rows)
                   .join(F.broadcast(needed), ["customer_id", "activity_date"], "left_semi"))
        day_counts = ("customer_id", "activity_date", "known_date", "txn_count", "ecom_order_count")
        rows = rows.unionByName(earlier.select(
            *[F.col(c) if c in day_counts else F.lit(None).cast(t).alias(c) for c, t in changed.dtypes],
            *[F.lit(0).alias(f"_w{w}") for w in WINDOWS]))

    def day_total(col: str, seen: Column) -> Column:
        return F.sum(F.when(seen, F.col(col)).otherwise(0))

    days = rows.groupBy("customer_id", "activity_date").agg(
        *_weighted({w: F.col(f"_w{w}") for w in WINDOWS}),
        day_total("txn_count", seen_p).alias("_txns_p"), day_total("txn_count", seen_d).alias("_txns_d"),
        day_total("ecom_order_count", seen_p).alias("_orders_p"),
        day_total("ecom_order_count", seen_d).alias("_orders_d"))
    active_p = {w: in_p[w] & (F.col("_txns_p") > 0) for w in ACTIVE_WINDOWS}
    active_d = {w: in_d[w] & (F.col("_txns_d") > 0) for w in ACTIVE_WINDOWS}
    ordered_p, ordered_d = in_p[DAYS] & (F.col("_orders_p") > 0), in_d[DAYS] & (F.col("_orders_d") > 0)
    change = days.groupBy("customer_id").agg(
        *[F.sum(s).alias(f"_d_{s}") for s in _SUM_COLUMNS],
        *[F.sum(active_d[w].cast("int") - active_p[w].cast("int")).alias(f"_d_{active_column(w)}")
          for w in ACTIVE_WINDOWS],
        F.max(F.when(active_d[DAYS], act)).alias("_last_txn"), F.max(F.when(ordered_d, act)).alias("_last_order"),
        F.collect_set(F.when(active_p[DAYS] & ~active_d[DAYS], act)).alias("_lost_txn"),
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

    def plus(s: str, cast: str) -> Column:
        return (F.coalesce(F.col(s), F.lit(0)) + F.coalesce(F.col(f"_d_{s}"), F.lit(0))).cast(cast).alias(s)

    last_txn, lost_txn = latest("last_txn_date", "_lost_txn", "_last_txn")
    last_order, lost_order = latest("last_order_date", "_lost_order", "_last_order")
    out = both.select(
        "customer_id", F.lit(as_of).alias("as_of_date"),
        *[plus(s, "bigint") for s in _SUM_COLUMNS], *[plus(s, "int") for s in _ACTIVE_COLUMNS],
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
    found = _active_days(year, ["customer_id"], F.lit(as_of)).select(
        "customer_id", F.col("last_txn_date").alias("_lt"), F.col("last_order_date").alias("_lo"),
        F.lit(True).alias("_rechecked"))
    recheck = F.col("_rechecked").isNotNull()
    return (totals.join(found, "customer_id", "left")
            .withColumn("last_txn_date", F.when(recheck, F.col("_lt")).otherwise(F.col("last_txn_date")))
            .withColumn("last_order_date", F.when(recheck, F.col("_lo")).otherwise(F.col("last_order_date")))
            .drop("_lt", "_lo", "_rechecked"))
