"""Relationship orientation and loyalty stage: explicit, explained rules over the profile's own columns.

Both come from ordered rules in configuration (features.orientation, features.loyalty): the first rule whose
Spark SQL condition holds assigns its value, and the profile keeps the rule's name beside it, so an account
manager can always see why a customer is, say, *relationship* oriented. A customer no rule matches gets null
for both (the default rule sets end with a catch-all).

- Orientation decides the maintenance mix: *relationship* oriented customers value personal contact (events,
  care calls), *value* oriented ones respond to returns and wealth products, *service* oriented ones come to
  the bank for efficient service.
- Loyalty stage follows the four stages of loyalty: *cognitive* (prefers the bank on facts: rates, fees),
  *affective* (likes the bank), *conative* (intends to stay: deeper holdings, a growing share of wallet),
  *behavioural* (acts loyal: long tenure, broad holdings, most of their money here, no sign of leaving).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.columns import Feature, FeatureGroup
from features.conditions import ConditionError, check_condition

ORIENTATIONS = ("relationship", "value", "service")
LOYALTY_STAGES = ("cognitive", "affective", "conative", "behavioural")

RELATIONSHIP = FeatureGroup("relationship", "How to look after the customer, from the rules in conf.", (
    Feature("orientation", "string", "relationship, value or service oriented (features.orientation rules)."),
    Feature("orientation_rule", "string", "Name of the rule that assigned the orientation."),
    Feature("loyalty_stage", "string", "cognitive, affective, conative or behavioural (features.loyalty rules)."),
    Feature("loyalty_rule", "string", "Name of the rule that assigned the loyalty stage."),
))


@dataclass(frozen=True)
class Rule:
    name: str
    assigns: str
    condition: str        # Spark SQL over the profile's columns
    explanation: str = ""


class RuleError(ConditionError):
    pass


def check_rules(profile: DataFrame, kind: str, rules: list[Rule], allowed: tuple[str, ...]) -> None:
    """Raises RuleError naming the first rule that assigns an unknown value or whose condition is not valid."""
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise RuleError(f"{kind} rules: rule names must be unique")
    for r in rules:
        if r.assigns not in allowed:
            raise RuleError(f"{kind} rule {r.name!r}: assigns {r.assigns!r}, not one of {', '.join(allowed)}")
        try:
            check_condition(profile, f"{kind} rule {r.name!r}", r.condition)
        except ConditionError as e:
            raise RuleError(str(e)) from None


def first_match(rules: list[Rule]) -> tuple[Column, Column]:
    """(assigned value, rule name) of the first rule whose condition holds; nulls when none does."""
    value = rule = None
    for r in rules:
        cond = F.coalesce(F.expr(r.condition), F.lit(False))   # a null test does not match
        value = F.when(cond, F.lit(r.assigns)) if value is None else value.when(cond, F.lit(r.assigns))
        rule = F.when(cond, F.lit(r.name)) if rule is None else rule.when(cond, F.lit(r.name))
    if value is None:
        return F.lit(None).cast("string"), F.lit(None).cast("string")
    return value, rule


def relationship_features(profile: DataFrame, orientation: list[Rule], loyalty: list[Rule]) -> DataFrame:
    """`profile` with the RELATIONSHIP columns added."""
    check_rules(profile, "orientation", orientation, ORIENTATIONS)
    check_rules(profile, "loyalty", loyalty, LOYALTY_STAGES)
    o_value, o_rule = first_match(orientation)
    l_value, l_rule = first_match(loyalty)
    return profile.select("*", o_value.alias("orientation"), o_rule.alias("orientation_rule"),
                          l_value.alias("loyalty_stage"), l_rule.alias("loyalty_rule"))
