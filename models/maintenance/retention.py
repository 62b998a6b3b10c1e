"""Retention and growth: a retention call for customers at risk, an offer conversation for the top offer
(tasks.retention). Both are marketing: the planner suppresses them without consent, under an open AML alert or
a fraud hold, and in the quiet period after a complaint.

- RETENTION_CALL: serving.lifecycle_scores says churn_probability >= tasks.retention.churn_probability, or a
  stage in tasks.retention.stages; at most one a calendar month; the money at stake is the customer value
  times the churn probability (the whole value when there is no churn model).
- OFFER_CONVERSATION: serving.next_best_offer rows ranked up to offer_min_rank; one per product a month.
A bank that runs neither model simply has no such tasks.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from models.maintenance.candidates import candidates, money, pct


def retention_calls(scores: DataFrame, as_of: date, cfg) -> DataFrame:
    """`scores`: the lifecycle_scores rows of one run date."""
    risky = F.coalesce(F.col("churn_probability") >= cfg.churn_probability, F.lit(False))
    declining = F.col("lifecycle_stage").isin(*cfg.stages) if cfg.stages else F.lit(False)
    s = scores.where(risky | declining)
    reason = F.concat_ws(", ", F.when(risky, F.concat(F.lit("churn probability "), pct(F.col("churn_probability")))),
                         F.when(declining, F.concat(F.lit("stage "), F.col("lifecycle_stage"), F.lit(" since "),
                                                    F.col("stage_since").cast("string"))),
                         F.when((F.size(F.coalesce(F.col("churn_drivers"), F.array().cast("array<string>"))) > 0) & risky,
                                F.concat(F.lit("drivers: "), F.concat_ws("; ", F.col("churn_drivers")))))
    at_stake = F.coalesce(F.col("customer_value"), F.lit(0.0)) * F.coalesce(F.col("churn_probability"), F.lit(1.0))
    return candidates(s, "RETENTION_CALL", [F.lit(f"{as_of:%Y-%m}")], F.lit(as_of), at_stake,
                      {"reason": reason, "customer_value": money(F.col("customer_value")),
                       "churn_probability": pct(F.col("churn_probability")), "stage": F.col("lifecycle_stage")})


def offer_conversations(offers: DataFrame, as_of: date, cfg) -> DataFrame:
    """`offers`: the next_best_offer rows of one run date."""
    o = offers.where(F.col("rank") <= cfg.offer_min_rank)
    return candidates(o, "OFFER_CONVERSATION", ["product_id", F.lit(f"{as_of:%Y-%m}")], F.lit(as_of), None,
                      {"product_id": F.col("product_id"), "product_name": F.col("product_name"),
                       "category": F.col("category"), "offer_reason": F.col("reason"),
                       "cold_start": F.col("is_cold_start")})
