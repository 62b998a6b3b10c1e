"""Per customer and as-of date: flows of funds over 7, 30 and 90 days, structuring, fan-in and fan-out,
pass-through, dormant reactivation, sudden change against the customer's own past and peers, high-risk countries.

Point in time. Each transaction is paired with the as-of dates whose 90-day window (as_of - 89 .. as_of) holds
its day and by which it was known (`known_date`, the extract date that brought it): a late record never counts
for an as-of date before its delivery. `age` is days before the as-of date (0 = the day itself), so the 7-day
window is `age < 7`. Many as-of dates are answered in one pass (a training backfill); a nightly run passes one.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.aml.params import DEFAULTS, LOOKBACK_DAYS, AmlFeatureParams
from features.reference import to_cny

KEY = ("as_of_date", "customer_id")
INPUT = ("txn_id", "customer_id", "account_id", "txn_ts", "amount", "currency", "direction", "txn_type",
         "counterparty_account", "counterparty_bank", "country", "device_id", "balance_after", "status", "known_date")


def prepared(txns: DataFrame) -> DataFrame:
    """Posted silver transactions with epoch seconds, the UTC day and the CNY amount (declined and reversed
    ones moved no money)."""
    return (txns.where(F.col("status") == "POSTED")
            .select(*INPUT, F.unix_seconds("txn_ts").alias("ts"), F.to_date("txn_ts").alias("txn_date"),
                    to_cny(F.col("amount"), F.col("currency")).alias("cny")))


def paired(rows: DataFrame, as_of_dates: DataFrame, day: str = "txn_date", known: str | None = "known_date",
           days: int = LOOKBACK_DAYS) -> DataFrame:
    """`rows` once per as-of date whose `days`-day window holds `day` (and that knew the row), with `age`."""
    d = F.broadcast(as_of_dates.select("as_of_date"))
    cond = (F.col(day) <= F.col("as_of_date")) & (F.col(day) > F.date_sub(F.col("as_of_date"), days))
    if known is not None:
        cond = cond & (F.col(known) <= F.col("as_of_date"))
    out = rows.join(d, cond)
    return out.withColumn("age", F.datediff(F.col("as_of_date"), F.col(day)))


def _sum(value: Column, when: Column) -> Column:
    return F.coalesce(F.sum(F.when(when, value)), F.lit(0.0))


def _count(when: Column) -> Column:
    return F.count(F.when(when, F.lit(1)))


def near_threshold(amount: Column, currency: Column, params: AmlFeatureParams) -> tuple[Column, Column, Column]:
    """(just under the reporting threshold of its currency, at or over it, in the band below the band just
    under it); null for a currency without a threshold."""
    m = F.create_map(*[x for k, v in params.reporting_thresholds.items() for x in (F.lit(k), F.lit(float(v)))])
    thr = F.try_element_at(m, currency)
    a, band = amount.cast("double"), params.threshold_band
    return ((a >= thr * (1 - band)) & (a < thr), a >= thr,
            (a >= thr * (1 - 2 * band)) & (a < thr * (1 - band)))


def flow_features(txns: DataFrame, as_of_dates: DataFrame, params: AmlFeatureParams = DEFAULTS) -> DataFrame:
    """Volume, structuring, fan-in/out, balance and high-risk-country features per (as_of_date, customer_id)
    for every customer with a posted transaction in the 90-day window. `txns`: `prepared` rows."""
    p = paired(txns, as_of_dates)
    flow = F.col("txn_type").isin(*params.flow_types)
    credit, debit = F.col("direction") == "CREDIT", F.col("direction") == "DEBIT"
    under, over, below = near_threshold(F.col("amount"), F.col("currency"), params)
    structuring_kind = F.col("txn_type").isin("CASH_DEPOSIT", "TRANSFER_IN", "TRANSFER_OUT")
    risky = F.col("country").isin(*params.high_risk_countries)
    aggs = []
    for w in (7, 30, 90):
        inw = F.col("age") < w
        aggs += [_sum(F.col("cny"), inw & flow & credit).alias(f"inflow_cny_{w}d"),
                 _sum(F.col("cny"), inw & flow & debit).alias(f"outflow_cny_{w}d"),
                 _count(inw & structuring_kind & under).alias(f"near_threshold_count_{w}d")]
    in30 = F.col("age") < 30
    aggs += [
        _count(in30 & flow).alias("flow_count_30d"),
        _sum(F.col("cny"), in30 & (F.col("txn_type") == "CASH_DEPOSIT")).alias("cash_deposit_cny_30d"),
        _sum(F.col("cny"), in30 & structuring_kind & under).alias("near_threshold_cny_30d"),
        _count(in30 & structuring_kind & over).alias("over_threshold_count_30d"),
        _count(in30 & structuring_kind & below).alias("below_band_count_30d"),
        F.max_by(F.when(in30 & flow, F.col("balance_after")), F.when(in30 & flow, F.col("ts")))
        .cast("double").alias("_closing_balance_30d"),
        _count(risky).alias("high_risk_country_count_90d"),
        _sum(F.col("cny"), risky).alias("high_risk_country_cny_90d"),
    ]
    out = p.groupBy(*KEY).agg(*aggs)
    out = out.withColumn("closing_balance_to_inflow_30d",
                         F.when(F.col("inflow_cny_30d") > 0, F.col("_closing_balance_30d") / F.col("inflow_cny_30d"))
                         ).drop("_closing_balance_30d")
    prior = (F.col("inflow_cny_90d") - F.col("inflow_cny_30d")) / 2
    return out.withColumn("inflow_change_ratio_30d",
                          F.col("inflow_cny_30d") / F.greatest(prior, F.lit(params.change_floor_cny)))


def fan_features(txns: DataFrame, as_of_dates: DataFrame, params: AmlFeatureParams = DEFAULTS) -> DataFrame:
    """Distinct senders and receivers of transfers in 7 and 30 days, and the new ones: seen in the window and not
    before it within the 90 days."""
    transfers = txns.where(F.col("txn_type").isin("TRANSFER_IN", "TRANSFER_OUT")
                           & F.col("counterparty_account").isNotNull())
    p = paired(transfers, as_of_dates)
    per = p.groupBy(*KEY, "direction", "counterparty_account").agg(F.min("age").alias("last_age"),
                                                                   F.max("age").alias("first_age"))
    credit, debit = F.col("direction") == "CREDIT", F.col("direction") == "DEBIT"
    aggs = []
    for w in (7, 30):
        aggs += [_count(credit & (F.col("last_age") < w)).alias(f"distinct_senders_{w}d"),
                 _count(credit & (F.col("first_age") < w)).alias(f"new_senders_{w}d"),
                 _count(debit & (F.col("last_age") < w)).alias(f"distinct_receivers_{w}d"),
                 _count(debit & (F.col("first_age") < w)).alias(f"new_receivers_{w}d")]
    return per.groupBy(*KEY).agg(*aggs)


def pass_through_features(txns: DataFrame, as_of_dates: DataFrame, params: AmlFeatureParams = DEFAULTS) -> DataFrame:
    """Share of large incoming flows (pass_through_min_cny and up) that left again within pass_through_hours:
    per incoming flow, min(its amount, the outgoing flows in the hours after it), summed over the window and
    divided by the incoming amount. Only outflows known on the as-of date count (nothing after it)."""
    flows = txns.where(F.col("txn_type").isin(*params.flow_types))
    p = paired(flows, as_of_dates)
    debit = F.when(F.col("direction") == "DEBIT", F.col("cny")).otherwise(F.lit(0.0))
    after = (Window.partitionBy(*KEY).orderBy("ts")
             .rangeBetween(1, params.pass_through_hours * 3600))
    p = p.withColumn("_out_after", F.coalesce(F.sum(debit).over(after), F.lit(0.0)))
    big_in = (F.col("direction") == "CREDIT") & (F.col("cny") >= params.pass_through_min_cny)
    passed = F.least(F.col("cny"), F.col("_out_after"))
    aggs = []
    for w in (30, 90):
        inw = big_in & (F.col("age") < w)
        aggs += [(_sum(passed, inw) / F.sum(F.when(inw, F.col("cny")))).alias(f"pass_through_share_{w}d")]
    aggs.append(_sum(F.col("cny"), big_in & (F.col("age") < 30)).alias("large_inflow_cny_30d"))
    return p.groupBy(*KEY).agg(*aggs)


def dormancy_features(txns: DataFrame, customers: DataFrame, as_of_dates: DataFrame,
                      params: AmlFeatureParams = DEFAULTS) -> DataFrame:
    """`dormant_gap_days`: the longest quiet spell (no customer-initiated transaction) ending in a transaction of
    the last 30 days, counted from the previous such transaction, the customer's onboarding, or the start of the
    90-day window, whichever is latest (so a spell longer than the window reads as at least its length).
    `customers`: (as_of_date, customer_id, onboarding_date)."""
    active = (txns.where(~F.col("txn_type").isin(*params.passive_types))
              .select("customer_id", "txn_date", "known_date").groupBy("customer_id", "txn_date")
              .agg(F.min("known_date").alias("known_date")))
    p = paired(active, as_of_dates)
    p = p.join(customers.select(*KEY, "onboarding_date"), list(KEY), "left")
    start = F.date_sub(F.col("as_of_date"), LOOKBACK_DAYS - 1)
    prev = F.lag("txn_date").over(Window.partitionBy(*KEY).orderBy("txn_date"))
    since = F.greatest(F.coalesce(prev, start), F.coalesce(F.col("onboarding_date"), start), start)
    p = p.withColumn("_gap", F.datediff(F.col("txn_date"), since))
    return p.groupBy(*KEY).agg(F.max(F.when(F.col("age") < 30, F.col("_gap"))).alias("dormant_gap_days"),
                               F.countDistinct(F.when(F.col("age") < 30, F.col("txn_date"))).alias("active_days_30d"))


def peer_zscore(features: DataFrame, customers: DataFrame, params: AmlFeatureParams = DEFAULTS) -> DataFrame:
    """`features` with `peer_inflow_zscore_30d`: log1p(30-day inflow) against the customers of the same segment
    and occupation on the same as-of date (null in a peer group under peer_min_customers)."""
    x = features.join(customers.select(*KEY, "segment", "occupation"), list(KEY), "left")
    peers = Window.partitionBy("as_of_date", "segment", "occupation")
    v = F.log1p(F.col("inflow_cny_30d"))
    z = (v - F.avg(v).over(peers)) / F.greatest(F.stddev_samp(v).over(peers), F.lit(0.1))
    z = F.when(F.count(F.lit(1)).over(peers) >= params.peer_min_customers, z)
    return x.withColumn("peer_inflow_zscore_30d", z).drop("segment", "occupation")


def joined(parts: list[DataFrame]) -> DataFrame:
    """Feature parts keyed by (as_of_date, customer_id), the first holding every customer: left joins."""
    return reduce(lambda a, b: a.join(b, list(KEY), "left"), parts)
