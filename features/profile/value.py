"""Customer value: the revenue the bank earns from the customer so far, in the last 12 months and (later) to come.

Revenue is estimated with rates from configuration (`ValueRules`), since the general ledger is not a source:
- activity revenue: fees the bank collected (customer_daily `fee_amount`) plus card interchange on card spend;
- balance revenue: a yearly margin on deposit and loan balances and a yearly fee on investments at market
  value, on the balances held on the as-of date.

`historical_value` is carried forward from the customer's previous snapshot, so a nightly run reads only what
arrived since: the previous value, plus the activity revenue of the customer_daily rows that became known
after it (a late record counts on the date it arrived, never twice), plus balance revenue accrued from the
previous snapshot (or onboarding) to the as-of date at the balances held then. Many as-of dates are built in
one pass, each accruing from the one before it. Without a previous snapshot, activity revenue counts from the
first day customer_daily holds, and balances accrue from onboarding at the balances held on the as-of date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup

VALUE = FeatureGroup("value", "Customer value: estimated revenue to the bank, in CNY, and the value tier.", (
    Feature("fee_revenue_365d", "double", "Fees collected plus card interchange on card spend.", "365d"),
    Feature("balance_revenue_annual", "double", "Yearly margin on deposit and loan balances plus the yearly fee on "
                                                "investments, at the balances held on the as-of date."),
    Feature("current_value", "double", "Revenue over the last 12 months: fee_revenue_365d + "
                                       "balance_revenue_annual."),
    Feature("historical_value", "double", "Revenue from onboarding to the as-of date (fees and interchange as "
                                          "known, balance revenue accrued between snapshots)."),
    Feature("potential_value", "double", "Expected future revenue, discounted (filled by the lifecycle model; null "
                                         "until then)."),
    Feature("customer_value", "double", "historical_value + current_value + potential_value (null potential "
                                        "counts 0)."),
    Feature("value_tier", "string", "Tier by customer_value, with the cut-offs in conf (features.value.tiers)."),
    Feature("share_of_wallet_365d", "double", "Money in over the last 365 days as a share of declared annual "
                                              "income, capped at 1 (null: no income declared)."),
))


@dataclass(frozen=True)
class ValueRules:
    deposit_margin: float          # yearly, as a fraction of deposit balances
    loan_margin: float             # yearly, of loan balances outstanding
    investment_fee: float          # yearly, of investments at market value
    card_interchange: float        # of card spend
    tiers: tuple[tuple[str, float], ...]   # (tier, lowest customer_value), highest tier first

    def __post_init__(self) -> None:
        if not self.tiers:
            raise ValueError("value tiers: at least one tier is needed")
        lows = [low for _, low in self.tiers]
        if lows != sorted(lows, reverse=True) or len(set(lows)) != len(lows):
            raise ValueError("value tiers: list them highest first, each with a lower minimum than the one before")


def activity_revenue(fees: Column, card_spend: Column, rules: ValueRules) -> Column:
    return fees + card_spend * rules.card_interchange


def balance_revenue(rules: ValueRules) -> Column:
    return (F.col("deposit_balance") * rules.deposit_margin + F.col("loan_balance") * rules.loan_margin
            + F.col("investment_value") * rules.investment_fee)


def accrual_periods(as_of_dates: DataFrame, previous_date: date | None) -> DataFrame:
    """(as_of_date, _since): each as-of date with the one before it (the first: `previous_date`, maybe null)."""
    later = as_of_dates.select(F.col("as_of_date"))
    earlier = as_of_dates.select(F.col("as_of_date").alias("_before"))
    return (later.join(earlier, F.col("_before") < F.col("as_of_date"), "left")
            .groupBy("as_of_date").agg(F.max("_before").alias("_before"))
            .select("as_of_date", F.coalesce("_before", F.lit(previous_date).cast("date")).alias("_since")))


def value_features(profile: DataFrame, daily: DataFrame, as_of_dates: DataFrame, previous: DataFrame | None,
                   previous_date: date | None, rules: ValueRules) -> DataFrame:
    """`profile` (one row per customer and as-of date, with the holdings, wealth, activity and demographic
    columns) with the VALUE columns added.

    `previous` is the snapshot on `previous_date` (customer_id, historical_value), the latest one before the
    first as-of date; None when there is none.
    """
    periods = F.broadcast(accrual_periods(as_of_dates, previous_date))
    arrived = F.greatest("known_date", "activity_date")
    # every customer_daily row counts once: on the first as-of date on or after it became known
    newly_known = (daily.join(periods, (arrived <= F.col("as_of_date"))
                              & (F.col("_since").isNull() | (arrived > F.col("_since"))))
                   .groupBy("customer_id", "as_of_date")
                   .agg(F.sum(activity_revenue(F.col("fee_amount"), F.col("card_spend_amount"), rules))
                        .alias("_new_fees")))
    out = (profile.join(periods, "as_of_date", "left")
           .join(newly_known, ["customer_id", "as_of_date"], "left"))
    if previous is not None:
        out = out.join(previous.select("customer_id", F.col("historical_value").alias("_carried")), "customer_id",
                       "left")
    else:
        out = out.withColumn("_carried", F.lit(None).cast("double"))
    annual = balance_revenue(rules)
    accrue_from = F.greatest(F.coalesce(F.col("_since"), F.col("onboarding_date")), F.col("onboarding_date"))
    accrued = annual * F.greatest(F.datediff("as_of_date", accrue_from), F.lit(0)) / 365.0
    step = F.coalesce(F.col("_new_fees"), F.lit(0.0)) + F.coalesce(accrued, F.lit(0.0))
    so_far = Window.partitionBy("customer_id").orderBy("as_of_date").rowsBetween(Window.unboundedPreceding, 0)
    fees_year = activity_revenue(F.col("fees_365d"), F.col("card_spend_365d"), rules)
    out = (out.withColumn("fee_revenue_365d", fees_year)
           .withColumn("balance_revenue_annual", annual)
           .withColumn("current_value", F.col("fee_revenue_365d") + F.col("balance_revenue_annual"))
           .withColumn("historical_value", F.coalesce(F.col("_carried"), F.lit(0.0)) + F.sum(step).over(so_far))
           .withColumn("potential_value", F.lit(None).cast("double")))
    return with_value_tier(out, rules).withColumn(
        "share_of_wallet_365d",
        F.when(F.col("annual_income") > 0, F.least(F.col("income_365d") / F.col("annual_income"), F.lit(1.0))),
    ).drop("_since", "_new_fees", "_carried")


def with_value_tier(profile: DataFrame, rules: ValueRules) -> DataFrame:
    """customer_value and value_tier from the historical, current and potential value columns.

    The lifecycle model calls this again once it has filled potential_value.
    """
    value = F.col("historical_value") + F.col("current_value") + F.coalesce(F.col("potential_value"), F.lit(0.0))
    tier = None
    for name, low in rules.tiers:
        tier = F.when(value >= low, F.lit(name)) if tier is None else tier.when(value >= low, F.lit(name))
    lowest = rules.tiers[-1][0]
    return profile.withColumn("customer_value", value).withColumn("value_tier", tier.otherwise(F.lit(lowest)))
