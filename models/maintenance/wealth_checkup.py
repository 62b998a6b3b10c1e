"""Wealth check-up: a periodic portfolio review, raised early when the portfolio drifts (tasks.wealth_checkup).

Every customer with at least min_investment_value invested gets one review per period: a month for the
monthly_tiers, a quarter for everyone else. The review is due at the period's end; it is raised early, due
today, when the share of the portfolio above the customer's risk tolerance exceeds drift_share (risk drift) or
the largest holding's share exceeds concentration_limit in a portfolio of at least concentration_min_holdings
holdings (a single fund is a choice, not a drift). Early or not it is the same task (one review per
period), carrying the diagnosis facts. `profile`: gold.customer_profile rows of the as-of date.
"""

from __future__ import annotations

import calendar
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from models.maintenance.candidates import candidates, money, pct


def period(as_of: date, monthly: bool) -> tuple[str, date]:
    """The review period holding `as_of` and its last day: ('2026-04', 2026-04-30) or ('2026-Q2', 2026-06-30)."""
    if monthly:
        return f"{as_of:%Y-%m}", date(as_of.year, as_of.month, calendar.monthrange(as_of.year, as_of.month)[1])
    q = (as_of.month - 1) // 3 + 1
    end_month = 3 * q
    return f"{as_of.year}-Q{q}", date(as_of.year, end_month, calendar.monthrange(as_of.year, end_month)[1])


def wealth_checkup(profile: DataFrame, as_of: date, cfg) -> DataFrame:
    month, month_end = period(as_of, True)
    quarter, quarter_end = period(as_of, False)
    monthly = F.col("value_tier").isin(*cfg.monthly_tiers) if cfg.monthly_tiers else F.lit(False)
    drift = F.coalesce(F.col("above_tolerance_share"), F.lit(0.0)) > cfg.drift_share
    concentrated = ((F.coalesce(F.col("top_holding_share"), F.lit(0.0)) > cfg.concentration_limit)
                    & (F.coalesce(F.col("investment_holdings"), F.lit(0)) >= cfg.concentration_min_holdings))
    reason = F.concat_ws("; ", F.when(drift, F.lit("risk drift above tolerance")),
                         F.when(concentrated, F.lit("concentrated portfolio")))
    p = (profile.where(F.col("investment_value") >= cfg.min_investment_value)
         .withColumn("_period", F.when(monthly, F.lit(month)).otherwise(F.lit(quarter)))
         .withColumn("_due", F.when(drift | concentrated, F.lit(as_of))
                     .when(monthly, F.lit(month_end)).otherwise(F.lit(quarter_end)))
         .withColumn("_reason", F.when(F.length(reason) > 0, reason).otherwise(F.lit("periodic review"))))
    return candidates(p, "WEALTH_CHECKUP", [F.col("_period")], F.col("_due"), F.col("investment_value"), {
        "cadence": F.when(monthly, F.lit("Monthly")).otherwise(F.lit("Quarterly")), "period": F.col("_period"),
        "reason": F.col("_reason"), "amount": money(F.col("investment_value")),
        "mean_portfolio_risk": F.format_number("mean_portfolio_risk", 1), "risk_tolerance": F.col("risk_tolerance"),
        "above_tolerance_share": pct(F.coalesce(F.col("above_tolerance_share"), F.lit(0.0))),
        "top_holding_share": pct(F.coalesce(F.col("top_holding_share"), F.lit(0.0))),
        "early": (drift | concentrated).cast("string")})
