"""Recency, frequency and monetary value, overall and per channel and merchant group, and the spending trend.

From gold.customer_daily as known on each as-of date: a day counts only with the deliveries that had
arrived by then. Windows end on the as-of date itself (the 30-day window is as_of-29 .. as_of). The sums, the
active days, the trend and the mix come from the running totals of `features.profile.year_window`
(gold.customer_activity_365d); only the distinct counterparties, a set rather than a sum, are read from
customer_daily's last 90 days. So a night's build reads a bounded slice of customer_daily however long the
history.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup, slug
from features.profile.year_window import (DAYS, MICRO, MIX_WINDOW, SHORT_WINDOWS, SUMS, TREND_PRIOR,
                                          TREND_RECENT, TREND_WINDOW, active_column, year_totals)
from features.reference import MERCHANT_GROUP_NAMES
from pipelines.contracts.core_banking import CHANNELS
from pipelines.contracts.ecommerce import ECOM_CATEGORIES

WINDOWS = (*SHORT_WINDOWS, DAYS)
LOOKBACK = DAYS                           # the longest window
COUNTERPARTY_WINDOW = 90
SHORT_LOOKBACK = COUNTERPARTY_WINDOW      # what is read of customer_daily: the counterparties' window
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


def _counterparties(daily: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """Distinct transfer counterparties over each as-of date's 90 days, from the customer_daily rows known by
    then that name any (a set: a correction never removes a counterparty from its day)."""
    rows = daily.where(F.size("transfer_counterparties") > 0).join(
        F.broadcast(as_of_dates),
        (F.col("known_date") <= F.col("as_of_date")) & (F.col("activity_date") <= F.col("as_of_date"))
        & (F.col("activity_date") > F.date_sub(F.col("as_of_date"), COUNTERPARTY_WINDOW)))
    return rows.groupBy("customer_id", "as_of_date").agg(
        F.size(F.array_distinct(F.flatten(F.collect_list("transfer_counterparties"))))
        .alias("distinct_counterparties_90d"))


def _share(part: Column, whole: Column) -> Column:
    return F.when(whole > 0, part / whole)


def _windows(totals: DataFrame) -> DataFrame:
    """The activity columns from the running totals (amounts back from micro-yuan to CNY)."""
    def total(measure: str, days: int) -> Column:
        return F.col(SUMS[days][measure])

    def cny(measure: str, days: int = DAYS) -> Column:
        return total(measure, days) / MICRO

    def per_window(w: int) -> list[Column]:
        return [total("txn_count", w).alias(f"txn_count_{w}d"), F.col(active_column(w)).alias(f"active_days_{w}d"),
                *[cny(m, w).alias(f"{name}_{w}d") for m, name in (
                    ("debit_amount", "debit_amount"), ("credit_amount", "credit_amount"),
                    ("card_spend_amount", "card_spend"), ("income_amount", "income"))]]

    recent = total("card_spend_amount", TREND_RECENT)
    prior_month = (total("card_spend_amount", TREND_WINDOW) - recent) / (TREND_PRIOR / TREND_RECENT)
    mix, y = MIX_WINDOW, f"{DAYS}d"
    orders = total("ecom_order_count", mix)
    return totals.select(
        "customer_id", "as_of_date",
        F.datediff("as_of_date", "last_txn_date").alias("days_since_last_txn"),
        F.datediff("as_of_date", "last_order_date").alias("days_since_last_order"),
        *[c for w in WINDOWS for c in per_window(w)],
        cny("abroad_amount").alias(f"abroad_spend_{y}"), cny("fee_amount").alias(f"fees_{y}"),
        *[_share(cny(f"ecom_amount_{slug(c)}"), cny("ecom_order_amount")).alias(f"ecom_share_{slug(c)}_{y}")
          for c in ECOM_CATEGORIES],
        F.when(prior_month > 0, recent / prior_month).alias("spend_trend_30d_vs_prior_90d"),
        *[_share(total(f"debit_amount_{slug(c)}", mix), total("debit_amount", mix))
          .alias(f"debit_share_{slug(c)}_90d") for c in CHANNELS],
        *[_share(total(f"card_spend_{g}", mix), total("card_spend_amount", mix)).alias(f"card_spend_share_{g}_90d")
          for g in MERCHANT_GROUP_NAMES],
        cny("cash_out_amount", mix).alias("cash_out_90d"),
        cny("transfer_out_amount", mix).alias("transfer_out_90d"),
        ((total("fund_purchase_amount", mix) + total("fund_redemption_amount", mix)) / MICRO)
        .alias("fund_activity_90d"),
        orders.alias("ecom_orders_90d"), cny("ecom_order_amount", mix).alias("ecom_amount_90d"),
        F.when(orders > 0, cny("ecom_order_amount", mix) / orders).alias("ecom_basket_90d"))


def activity_features(daily: DataFrame, as_of_dates: DataFrame, year: DataFrame | None = None) -> DataFrame:
    """One row per customer with any activity in the year, per as-of date: the ACTIVITY and ECOMMERCE groups.

    `year` is gold.customer_activity_365d on the as-of dates; without it the totals are summed from `daily`,
    which must then hold the whole 365-day window (else the last 90 days suffice)."""
    if year is None:
        year = year_totals(daily, as_of_dates)
    out = _windows(year).join(_counterparties(daily, as_of_dates), ["customer_id", "as_of_date"], "full")
    return out.select("customer_id", "as_of_date", *[f.name for g in GROUPS for f in g.features])
