"""Recency, frequency and monetary value, overall and per channel and merchant group, and the spending trend.

From gold.customer_daily as known on each as-of date: a day counts only with the deliveries that had
arrived by then. Windows end on the as-of date itself (the 30-day window is as_of-29 .. as_of). The windows
up to 90 days and the trend are summed from customer_daily's last 120 days; the 365-day columns come from the
running totals of `features.profile.year_window` (gold.customer_activity_365d), so a night's build reads a
bounded slice of customer_daily however long the history.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup, slug
from features.profile.year_window import AMOUNTS, DAYS, MICRO, year_totals
from features.reference import MERCHANT_GROUP_NAMES
from pipelines.contracts.core_banking import CHANNELS
from pipelines.contracts.ecommerce import ECOM_CATEGORIES

WINDOWS = (7, 30, 90, DAYS)
SHORT_WINDOWS = tuple(w for w in WINDOWS if w < DAYS)      # summed from customer_daily rows
TREND_RECENT, TREND_PRIOR = 30, 90        # the last 30 days against the 90 days before them
LOOKBACK = DAYS                           # the longest window (from the running totals)
SHORT_LOOKBACK = max(max(SHORT_WINDOWS), TREND_RECENT + TREND_PRIOR)   # what is read of customer_daily
MIX_WINDOW = 90                           # channel and merchant-group mix
AFFINITY_WINDOW = DAYS                    # e-commerce category shares

_W = [f"{w}d" for w in WINDOWS]
ACTIVITY = FeatureGroup("activity", "Recency, frequency and monetary value of banking activity, in CNY.", (
    Feature("days_since_last_txn", "int", "Days from the last posted transaction to the as-of date (null: none "
                                          f"in {LOOKBACK} days)."),
    *[Feature(f"txn_count_{w}", "bigint", "Posted transactions.", w) for w in _W],
    *[Feature(f"active_days_{w}", "int", "Days with at least one posted transaction.", w) for w in _W],
    *[Feature(f"debit_amount_{w}", "double", "Money out.", w) for w in _W],
    *[Feature(f"credit_amount_{w}", "double", "Money in.", w) for w in _W],
    *[Feature(f"card_spend_{w}", "double", "Card purchases.", w) for w in _W],
    *[Feature(f"income_{w}", "double", "Salary, interest and incoming transfers.", w) for w in _W],
    Feature("spend_trend_30d_vs_prior_90d", "double", "Card spend in the last 30 days divided by the average "
                                                      "30 days of the 90 before them (null: no prior spend)."),
    *[Feature(f"debit_share_{slug(c)}_90d", "double", f"Share of money out through channel {c}.", "90d")
      for c in CHANNELS],
    *[Feature(f"card_spend_share_{g}_90d", "double", f"Share of card spend at {g.replace('_', ' ')} merchants.",
              "90d") for g in MERCHANT_GROUP_NAMES],
    Feature("cash_out_90d", "double", "Cash withdrawn.", "90d"),
    Feature("transfer_out_90d", "double", "Transfers sent.", "90d"),
    Feature("distinct_counterparties_90d", "int", "Distinct transfer counterparties.", "90d"),
    Feature("fund_activity_90d", "double", "Fund and wealth-product purchases plus redemptions.", "90d"),
    Feature("abroad_spend_365d", "double", "Money out abroad.", "365d"),
    Feature("fees_365d", "double", "Fees and charges the bank collected.", "365d"),
))

ECOMMERCE = FeatureGroup("ecommerce", "E-commerce behaviour of the customer's linked platform account, in CNY.", (
    Feature("days_since_last_order", "int", "Days from the last completed order to the as-of date."),
    Feature("ecom_orders_90d", "bigint", "Completed orders.", "90d"),
    Feature("ecom_amount_90d", "double", "Completed order value.", "90d"),
    Feature("ecom_basket_90d", "double", "Average completed order value (null: no orders).", "90d"),
    *[Feature(f"ecom_share_{slug(c)}_365d", "double", f"Share of order value in category {c}.", "365d")
      for c in ECOM_CATEGORIES],
))

GROUPS = (ACTIVITY, ECOMMERCE)


def _known_rows(daily: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """Each as-of date's view of the short lookback: the customer_daily rows known by then, with the day's age.

    Rows are not summed per day first: every measure but the active-day ones is a sum, and summing per customer
    directly lets Spark pre-aggregate before the shuffle instead of moving every wide row.
    """
    pairs = daily.join(F.broadcast(as_of_dates),
                       (F.col("known_date") <= F.col("as_of_date"))
                       & (F.col("activity_date") <= F.col("as_of_date"))
                       & (F.col("activity_date") > F.date_sub(F.col("as_of_date"), SHORT_LOOKBACK)))
    return pairs.withColumn("_age", F.datediff("as_of_date", "activity_date"))


def _active_days(rows: DataFrame) -> DataFrame:
    """Active days in the short windows: a day counts when its rows, summed, still hold a transaction (a day
    whose activity was all retracted does not)."""
    days = rows.groupBy("customer_id", "as_of_date", "_age").agg(F.sum("txn_count").alias("_txns"))
    active = F.col("_txns") > 0
    return days.groupBy("customer_id", "as_of_date").agg(
        *[F.count(F.when(active & _in(w), True)).alias(f"active_days_{w}d") for w in SHORT_WINDOWS])


def _in(days: int) -> Column:
    return F.col("_age") < days


def _sum(col: str, days: int) -> Column:
    return F.coalesce(F.sum(F.when(_in(days), F.col(col))), F.lit(0))


def _share(part: Column, whole: Column) -> Column:
    return F.when(whole > 0, part / whole)


def _year(totals: DataFrame) -> DataFrame:
    """The 365-day columns from the running totals (amounts back from micro-yuan to CNY)."""
    def cny(measure: str) -> Column:
        return F.col(AMOUNTS[measure]) / MICRO

    y = f"{DAYS}d"
    return totals.select(
        "customer_id", "as_of_date",
        F.datediff("as_of_date", "last_txn_date").alias("days_since_last_txn"),
        F.datediff("as_of_date", "last_order_date").alias("days_since_last_order"),
        F.col("txn_count").alias(f"txn_count_{y}"), F.col("active_days").alias(f"active_days_{y}"),
        cny("debit_amount").alias(f"debit_amount_{y}"), cny("credit_amount").alias(f"credit_amount_{y}"),
        cny("card_spend_amount").alias(f"card_spend_{y}"), cny("income_amount").alias(f"income_{y}"),
        cny("abroad_amount").alias(f"abroad_spend_{y}"), cny("fee_amount").alias(f"fees_{y}"),
        *[_share(cny(f"ecom_amount_{slug(c)}"), cny("ecom_order_amount")).alias(f"ecom_share_{slug(c)}_{y}")
          for c in ECOM_CATEGORIES])


def activity_features(daily: DataFrame, as_of_dates: DataFrame, year: DataFrame | None = None) -> DataFrame:
    """One row per customer with any activity in the lookback, per as-of date: the ACTIVITY and ECOMMERCE groups.

    `year` is gold.customer_activity_365d on the as-of dates; without it the totals are summed from `daily`,
    which must then hold the whole 365-day window (else the last 120 days suffice)."""
    if year is None:
        year = year_totals(daily, as_of_dates)
    rows = _known_rows(daily, as_of_dates)
    short = SHORT_WINDOWS
    aggs = [
        *[_sum("txn_count", w).alias(f"txn_count_{w}d") for w in short],
        *[_sum("debit_amount", w).alias(f"debit_amount_{w}d") for w in short],
        *[_sum("credit_amount", w).alias(f"credit_amount_{w}d") for w in short],
        *[_sum("card_spend_amount", w).alias(f"card_spend_{w}d") for w in short],
        *[_sum("income_amount", w).alias(f"income_{w}d") for w in short],
        _sum("card_spend_amount", TREND_RECENT).alias("_recent"),
        F.coalesce(F.sum(F.when((F.col("_age") >= TREND_RECENT) & _in(TREND_RECENT + TREND_PRIOR),
                                F.col("card_spend_amount"))), F.lit(0)).alias("_prior"),
        *[_sum(f"debit_amount_{slug(c)}", MIX_WINDOW).alias(f"_debit_{slug(c)}") for c in CHANNELS],
        *[_sum(f"card_spend_{g}", MIX_WINDOW).alias(f"_spend_{g}") for g in MERCHANT_GROUP_NAMES],
        _sum("debit_amount", MIX_WINDOW).alias("_debit_mix"),
        _sum("card_spend_amount", MIX_WINDOW).alias("_spend_mix"),
        _sum("cash_out_amount", 90).alias("cash_out_90d"),
        _sum("transfer_out_amount", 90).alias("transfer_out_90d"),
        F.size(F.array_distinct(F.flatten(F.collect_list(F.when(_in(90), F.col("transfer_counterparties"))))))
        .alias("distinct_counterparties_90d"),
        (_sum("fund_purchase_amount", 90) + _sum("fund_redemption_amount", 90)).alias("fund_activity_90d"),
        _sum("ecom_order_count", 90).alias("ecom_orders_90d"),
        _sum("ecom_order_amount", 90).alias("ecom_amount_90d"),
    ]
    out = (rows.groupBy("customer_id", "as_of_date").agg(*aggs)
           .join(_active_days(rows), ["customer_id", "as_of_date"])
           .join(_year(year), ["customer_id", "as_of_date"], "full"))
    prior_month = F.col("_prior") / (TREND_PRIOR / TREND_RECENT)
    out = out.select(
        "*",
        F.when(prior_month > 0, F.col("_recent") / prior_month).alias("spend_trend_30d_vs_prior_90d"),
        *[_share(F.col(f"_debit_{slug(c)}"), F.col("_debit_mix")).alias(f"debit_share_{slug(c)}_90d")
          for c in CHANNELS],
        *[_share(F.col(f"_spend_{g}"), F.col("_spend_mix")).alias(f"card_spend_share_{g}_90d")
          for g in MERCHANT_GROUP_NAMES],
        F.when(F.col("ecom_orders_90d") > 0, F.col("ecom_amount_90d") / F.col("ecom_orders_90d"))
        .alias("ecom_basket_90d"),
    )
    return out.select("customer_id", "as_of_date", *[f.name for g in GROUPS for f in g.features])
