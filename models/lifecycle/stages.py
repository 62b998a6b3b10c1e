"""Lifecycle stage: prospect -> new -> growing -> mature -> declining -> dormant -> churned, from explicit rules.

The rules (models.lifecycle.stages in conf) are ordered Spark SQL conditions over the day's profile and the
lifecycle scores (p_alive, expected_purchases, churn_probability); the first that holds assigns its stage, and
the row keeps the rule's name and explanation, so an account manager can see why. `stage_since` carries the date
the customer entered the stage across nightly runs.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.profile.relationship import Rule, check_rules, first_match

STAGES = ("prospect", "new", "growing", "mature", "declining", "dormant", "churned")


def assign_stage(scores: DataFrame, rules: list[Rule]) -> DataFrame:
    """`scores` with lifecycle_stage, stage_rule and stage_explanation; RuleError for a bad rule."""
    check_rules(scores, "lifecycle stage", rules, STAGES)
    stage, rule = first_match(rules)
    explained = F.create_map(*[x for r in rules for x in (F.lit(r.name), F.lit(r.explanation))])
    return (scores.withColumn("lifecycle_stage", stage).withColumn("stage_rule", rule)
            .withColumn("stage_explanation", F.try_element_at(explained, F.col("stage_rule"))))


def with_stage_since(scores: DataFrame, previous: DataFrame | None) -> DataFrame:
    """Add previous_stage and stage_since from `previous` (customer_id, lifecycle_stage, stage_since and
    run_date of each customer's latest earlier scores; None when there are none)."""
    if previous is None:
        return scores.withColumn("previous_stage", F.lit(None).cast("string")).withColumn(
            "stage_since", F.col("run_date"))
    prev = previous.select("customer_id", F.col("lifecycle_stage").alias("previous_stage"),
                           F.col("stage_since").alias("_since"))
    same = F.col("previous_stage").eqNullSafe(F.col("lifecycle_stage"))
    return (scores.join(prev, "customer_id", "left")
            .withColumn("stage_since", F.when(same, F.col("_since")).otherwise(F.col("run_date"))).drop("_since"))
